with

events as (

    select * from {{ ref('brz_events') }}

),

final as (

    select
        -- ids
        product_id,
        max_by(category_id, event_time) as category_id,

        -- dimensions
        max_by(category_code, event_time) as category_code,
        max_by(brand, event_time) as brand,

        -- measures
        cast(max_by(price, event_time) as double) as last_price,
        count(*) as n_events,
        count(distinct user_id) as n_users,
        sum(case when event_type = 'purchase' then 1 else 0 end) as n_purchases,

        -- timestamps
        min(event_time) as first_seen_at,
        max(event_time) as last_seen_at

    from events
    group by product_id

)

select * from final
