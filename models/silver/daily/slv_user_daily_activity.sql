{#-
    From slv_user_session_daily, not from brz_events: a user's day is the sum of their
    sessions' rows of that date (a session that spans midnight has a row on each date), so
    the counts and money are sums and the times the first and last. One aggregate of the
    events serves both tables (the events are read and grouped once).
-#}

with

session_days as (

    select * from {{ ref('slv_user_session_daily') }}
    where {{ event_dates_to_rebuild() }}

),

final as (

    select
        -- ids
        user_id,

        -- events by type
        sum(n_events) as n_events,
        sum(n_views) as n_views,
        sum(n_carts) as n_carts,
        sum(n_removes_from_cart) as n_removes_from_cart,
        sum(n_purchases) as n_purchases,

        -- money (the types of a sum of the events' prices, as each session's)
        cast(sum(purchase_spend) as decimal(20, 2)) as purchase_spend,
        cast(sum(viewed_price_sum) as decimal(20, 2)) as viewed_price_sum,
        max(max_viewed_price) as max_viewed_price,

        -- timestamps
        min(first_event_at) as first_event_at,
        max(last_event_at) as last_event_at,
        max(source_loaded_at) as source_loaded_at,

        -- the partition
        event_date

    from session_days
    group by user_id, event_date

)

select * from final
