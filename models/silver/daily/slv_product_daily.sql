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

product_labels as (

    {{ product_labels('user_product_days') }}

),

product_days as (

    select /*+ broadcast(product_labels) */
        user_product_days.product_id,
        user_product_days.event_date,

        -- the product as seen at its last event of the day (its labels' number: see
        -- macros/product_labels.sql)
        max_by(user_product_days.category_id, user_product_days.last_interaction_at)
            as category_id,
        max_by(product_labels.label_id, user_product_days.last_interaction_at) as label_id,
        max_by(user_product_days.last_price, user_product_days.last_interaction_at)
            as last_price,

        -- measures
        sum(user_product_days.n_events) as n_events,
        sum(user_product_days.n_views) as n_views,
        sum(user_product_days.n_carts) as n_carts,
        sum(user_product_days.n_purchases) as n_purchases,
        count(*) as n_users,

        -- timestamps
        min(user_product_days.first_interaction_at) as first_seen_at,
        max(user_product_days.last_interaction_at) as last_seen_at,
        max(user_product_days.source_loaded_at) as source_loaded_at

    from user_product_days
    inner join product_labels
        on {{ product_label_matches('user_product_days') }}
    group by user_product_days.product_id, user_product_days.event_date

),

final as (

    select /*+ broadcast(product_labels) */
        -- ids
        product_days.product_id,

        -- the product as seen at its last event of the day
        product_days.category_id,
        product_labels.category_code,
        product_labels.brand,
        product_days.last_price,

        -- measures
        product_days.n_events,
        product_days.n_views,
        product_days.n_carts,
        product_days.n_purchases,
        product_days.n_users,

        -- timestamps
        product_days.first_seen_at,
        product_days.last_seen_at,
        product_days.source_loaded_at,

        -- the partition
        product_days.event_date

    from product_days
    inner join product_labels on product_days.label_id = product_labels.label_id

)

select * from final
