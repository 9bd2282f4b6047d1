{{ config(materialized='view') }}

-- What the recommender's validation checks against: products a user carted or bought in the
-- validation period before recommendation_cutoff, new to that user at its start.

with

product_days as (

    select * from {{ ref('slv_user_product_daily') }}
    where
        event_date >= {{ window_date('recommendation_validation_start') }}
        and event_date <= {{ window_date('recommendation_validation_end') }}

),

earlier as (

    select
        user_id,
        product_id
    from {{ ref('slv_user_product_interactions_before_validation') }}

),

final as (

    {{ new_conversions('product_days', 'earlier') }}

)

select * from final
