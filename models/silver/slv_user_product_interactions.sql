{{ config(materialized='view') }}

-- Everything each user did with each product up to the run date. A view over the daily
-- aggregate: it costs nothing until the recommender reads it.

with

product_days as (

    select * from {{ ref('slv_user_product_daily') }}
    where event_date <= {{ window_date('run_date') }}

),

final as (

    {{ user_product_interactions('product_days') }}

)

select * from final
