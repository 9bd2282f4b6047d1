with

events as (

    select * from {{ ref('slv_observation_events') }}

),

final as (

    select
        -- ids
        user_id,
        coalesce(user_session, '(none)') as session_id,

        -- measures
        count(*) as session_events,
        count(distinct product_id) as session_products,
        sum(case when event_type = 'cart' then 1 else 0 end) as session_carts,
        sum(case when event_type = 'purchase' then 1 else 0 end) as session_purchases,
        unix_timestamp(max(event_time)) - unix_timestamp(min(event_time))
            as session_duration_s,

        -- timestamps
        min(event_time) as session_started_at,
        max(event_time) as session_ended_at

    from events
    group by user_id, coalesce(user_session, '(none)')

)

select * from final
