with

events as (

    select * from {{ ref('brz_events') }}
    where {{ event_dates_to_rebuild() }}

),

final as (

    select
        -- ids
        user_id,
        -- events without a session id form one session per user
        coalesce(user_session, '(none)') as session_id,

        -- measures
        count(*) as n_events,
        sum(case when event_type = 'cart' then 1 else 0 end) as n_carts,
        sum(case when event_type = 'purchase' then 1 else 0 end) as n_purchases,

        -- timestamps (a session that spans midnight has a row on each date)
        min(event_time) as first_event_at,
        max(event_time) as last_event_at,
        max(loaded_at) as source_loaded_at,

        -- the partition
        event_date

    from events
    group by user_id, coalesce(user_session, '(none)'), event_date

)

select * from final
