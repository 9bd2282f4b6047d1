{{ config(materialized='view') }}

-- The recommender validation's training data: interactions before the validation period
-- (recommendation_validation_start, as many days before recommendation_cutoff as the holdout).

with

product_days as (

    select * from {{ ref('slv_user_product_daily') }}
    where event_date < {{ window_date('recommendation_validation_start') }}

),

final as (

    {{ user_product_interactions('product_days') }}

)

select * from final
