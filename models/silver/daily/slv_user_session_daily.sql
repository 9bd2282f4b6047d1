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

        -- events by type
        count(*) as n_events,
        sum(case when event_type = 'view' then 1 else 0 end) as n_views,
        sum(case when event_type = 'cart' then 1 else 0 end) as n_carts,
        sum(case when event_type = 'remove_from_cart' then 1 else 0 end) as n_removes_from_cart,
        sum(case when event_type = 'purchase' then 1 else 0 end) as n_purchases,

        -- money
        coalesce(sum(case when event_type = 'purchase' then price end), 0) as purchase_spend,
        coalesce(sum(case when event_type = 'view' then price end), 0) as viewed_price_sum,
        max(case when event_type = 'view' then price end) as max_viewed_price,

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
