with

product_days as (

    select * from {{ ref('slv_product_daily') }}
    where event_date <= {{ window_date('run_date') }}

),

product_labels as (

    {{ product_labels('product_days') }}

),

products as (

    select /*+ broadcast(product_labels) */
        product_days.product_id,

        -- as of its latest event (its labels' number: see macros/product_labels.sql)
        max_by(product_days.category_id, product_days.last_seen_at) as category_id,
        max_by(product_labels.label_id, product_days.last_seen_at) as label_id,
        max_by(product_days.last_price, product_days.last_seen_at) as last_price,

        -- measures
        sum(product_days.n_events) as n_events,
        sum(product_days.n_purchases) as n_purchases,

        -- timestamps
        min(product_days.first_seen_at) as first_seen_at,
        max(product_days.last_seen_at) as last_seen_at

    from product_days
    inner join product_labels
        on {{ product_label_matches('product_days') }}
    group by product_days.product_id

),

final as (

    select /*+ broadcast(product_labels) */
        -- ids
        products.product_id,
        products.category_id,

        -- dimensions
        product_labels.category_code,
        product_labels.brand,

        -- measures
        products.last_price,
        products.n_events,
        products.n_purchases,

        -- timestamps
        products.first_seen_at,
        products.last_seen_at

    from products
    inner join product_labels on products.label_id = product_labels.label_id

)

select * from final
