{#-
    From slv_user_product_daily, not from brz_events: each user's day on a product is one row
    there, so the distinct users are its rows and the other measures are sums. One aggregate of
    the events serves both tables (the events are read and grouped once).
-#}
with

user_product_days as (

    select * from {{ ref('slv_user_product_daily') }}
    where {{ event_dates_to_rebuild() }}

),

final as (

    select
        -- ids
        product_id,

        -- the product as seen at its last event of the day
        max_by(category_id, last_interaction_at) as category_id,
        max_by(category_code, last_interaction_at) as category_code,
        max_by(brand, last_interaction_at) as brand,
        max_by(last_price, last_interaction_at) as last_price,

        -- measures
        sum(n_events) as n_events,
        sum(n_views) as n_views,
        sum(n_carts) as n_carts,
        sum(n_purchases) as n_purchases,
        count(*) as n_users,

        -- timestamps
        min(first_interaction_at) as first_seen_at,
        max(last_interaction_at) as last_seen_at,
        max(source_loaded_at) as source_loaded_at,

        -- the partition
        event_date

    from user_product_days
    group by product_id, event_date

)

select * from final
