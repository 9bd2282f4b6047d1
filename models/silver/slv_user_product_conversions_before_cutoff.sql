{{ config(materialized='view') }}

-- What the recommender's holdout baselines learn popularity from: every product each user
-- carted or bought before recommendation_cutoff, read from the daily rows with a cart or a
-- purchase only, so the holdout never sums every pair.

with

product_days as (

    select * from {{ ref('slv_user_product_daily') }}
    where event_date < {{ window_date('recommendation_cutoff') }}

),

final as (

    {{ new_conversions('product_days') }}

)

select * from final
