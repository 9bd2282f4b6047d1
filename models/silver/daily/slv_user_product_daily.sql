with

events as (

    select * from {{ ref('brz_events') }}
    where {{ event_dates_to_rebuild() }}

),

event_types as (

    select * from {{ ref('slv_event_types') }}

),

product_labels as (

    {{ product_labels('events') }}

),

labelled_events as (

    select /*+ broadcast(product_labels, event_types) */
        events.*,
        event_types.interaction_weight,
        product_labels.label_id
    from events
    inner join event_types on events.event_type = event_types.event_type
    inner join product_labels
        on {{ product_label_matches('events') }}

),

user_product_days as (

    select
        user_id,
        product_id,
        event_date,

        -- the product as seen at its last event of the day (its labels' number: see
        -- macros/product_labels.sql)
        max_by(category_id, event_time) as category_id,
        max_by(label_id, event_time) as label_id,
        cast(max_by(price, event_time) as double) as last_price,

        -- events by type, and their implicit-feedback strength
        count(*) as n_events,
        sum(case when event_type = 'view' then 1 else 0 end) as n_views,
        sum(case when event_type = 'cart' then 1 else 0 end) as n_carts,
        sum(case when event_type = 'remove_from_cart' then 1 else 0 end)
            as n_removes_from_cart,
        sum(case when event_type = 'purchase' then 1 else 0 end) as n_purchases,
        sum(interaction_weight) as interaction_strength,

        -- timestamps
        min(event_time) as first_interaction_at,
        max(event_time) as last_interaction_at,
        max(loaded_at) as source_loaded_at

    from labelled_events
    group by user_id, product_id, event_date

),

final as (

    select /*+ broadcast(product_labels) */
        -- ids
        user_product_days.user_id,
        user_product_days.product_id,

        -- the product as seen at its last event of the day
        user_product_days.category_id,
        product_labels.category_code,
        product_labels.brand,
        user_product_days.last_price,

        -- events by type, and their implicit-feedback strength
        user_product_days.n_events,
        user_product_days.n_views,
        user_product_days.n_carts,
        user_product_days.n_removes_from_cart,
        user_product_days.n_purchases,
        user_product_days.interaction_strength,

        -- timestamps
        user_product_days.first_interaction_at,
        user_product_days.last_interaction_at,
        user_product_days.source_loaded_at,

        -- the partition
        user_product_days.event_date

    from user_product_days
    inner join product_labels on user_product_days.label_id = product_labels.label_id

)

select * from final
