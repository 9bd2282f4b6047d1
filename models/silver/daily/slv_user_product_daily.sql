with

events as (

    select * from {{ ref('brz_events') }}
    where {{ event_dates_to_rebuild() }}

),

event_types as (

    select * from {{ ref('slv_event_types') }}

),

final as (

    select
        -- ids
        events.user_id,
        events.product_id,

        -- the product as seen at its last event of the day
        max_by(events.category_id, events.event_time) as category_id,
        max_by(events.category_code, events.event_time) as category_code,
        max_by(events.brand, events.event_time) as brand,
        cast(max_by(events.price, events.event_time) as double) as last_price,

        -- events by type, and their implicit-feedback strength
        count(*) as n_events,
        sum(case when events.event_type = 'view' then 1 else 0 end) as n_views,
        sum(case when events.event_type = 'cart' then 1 else 0 end) as n_carts,
        sum(case when events.event_type = 'remove_from_cart' then 1 else 0 end)
            as n_removes_from_cart,
        sum(case when events.event_type = 'purchase' then 1 else 0 end) as n_purchases,
        sum(event_types.interaction_weight) as interaction_strength,

        -- timestamps
        min(events.event_time) as first_interaction_at,
        max(events.event_time) as last_interaction_at,
        max(events.loaded_at) as source_loaded_at,

        -- the partition
        events.event_date

    from events
    inner join event_types on events.event_type = event_types.event_type
    group by events.user_id, events.product_id, events.event_date

)

select * from final
