with

events as (

    select * from {{ ref('brz_events') }}
    where
        event_date >= {{ window_date('recommendation_cutoff') }}
        and event_type in ('cart', 'purchase')

),

earlier as (

    select
        user_id,
        product_id
    from {{ ref('slv_user_product_interactions_before_cutoff') }}

),

final as (

    select
        -- ids
        events.user_id,
        events.product_id,

        -- measures
        sum(case when events.event_type = 'cart' then 1 else 0 end) as n_carts,
        sum(case when events.event_type = 'purchase' then 1 else 0 end) as n_purchases,

        -- timestamps
        min(events.event_time) as first_conversion_at

    from events
    -- only products new to the user: recommendations never repeat what the user has seen
    left anti join earlier
        on
            events.user_id = earlier.user_id
            and events.product_id = earlier.product_id
    group by events.user_id, events.product_id

)

select * from final
