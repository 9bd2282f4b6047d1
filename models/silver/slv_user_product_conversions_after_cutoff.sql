{{ config(materialized='view') }}

-- What the recommender evaluation checks against: products a user carted or bought from
-- recommendation_cutoff to the run date, new to that user at the cutoff.

with

product_days as (

    select * from {{ ref('slv_user_product_daily') }}
    where
        event_date >= {{ window_date('recommendation_cutoff') }}
        and event_date <= {{ window_date('run_date') }}
        and (n_carts > 0 or n_purchases > 0)

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
        product_days.user_id,
        product_days.product_id,

        -- measures
        sum(product_days.n_carts) as n_carts,
        sum(product_days.n_purchases) as n_purchases,

        -- timestamps
        min(product_days.first_interaction_at) as first_conversion_at

    from product_days
    -- only products new to the user: recommendations never repeat what the user has seen
    left anti join earlier
        on
            product_days.user_id = earlier.user_id
            and product_days.product_id = earlier.product_id
    group by product_days.user_id, product_days.product_id

)

select * from final
