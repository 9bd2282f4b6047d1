{{ config(materialized='view') }}

-- The recommender evaluation's training data: interactions before recommendation_cutoff.

with

product_days as (

    select * from {{ ref('slv_user_product_daily') }}
    where event_date < {{ window_date('recommendation_cutoff') }}

),

final as (

    {{ user_product_interactions('product_days') }}

)

select * from final
