with

events as (

    select * from {{ ref('brz_events') }}
    where {{ event_dates_to_rebuild() }}

),

final as (

    select
        -- ids
        product_id,

        -- the product as seen at its last event of the day
        max_by(category_id, event_time) as category_id,
        max_by(category_code, event_time) as category_code,
        max_by(brand, event_time) as brand,
        cast(max_by(price, event_time) as double) as last_price,

        -- measures
        count(*) as n_events,
        sum(case when event_type = 'view' then 1 else 0 end) as n_views,
        sum(case when event_type = 'cart' then 1 else 0 end) as n_carts,
        sum(case when event_type = 'purchase' then 1 else 0 end) as n_purchases,
        count(distinct user_id) as n_users,

        -- timestamps
        min(event_time) as first_seen_at,
        max(event_time) as last_seen_at,
        max(loaded_at) as source_loaded_at,

        -- the partition
        event_date

    from events
    group by product_id, event_date

)

select * from final
