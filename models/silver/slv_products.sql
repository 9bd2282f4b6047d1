with

product_days as (

    select * from {{ ref('slv_product_daily') }}
    where event_date <= {{ window_date('run_date') }}

),

final as (

    select
        -- ids
        product_id,
        max_by(category_id, last_seen_at) as category_id,

        -- dimensions
        max_by(category_code, last_seen_at) as category_code,
        max_by(brand, last_seen_at) as brand,

        -- measures
        max_by(last_price, last_seen_at) as last_price,
        sum(n_events) as n_events,
        sum(n_purchases) as n_purchases,

        -- timestamps
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at

    from product_days
    group by product_id

)

select * from final
