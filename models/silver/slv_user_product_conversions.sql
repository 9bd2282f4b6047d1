{{ config(materialized='view') }}

-- Every product each user carted or bought up to the run date: what popularity counts. Read
-- from the daily rows with a cart or a purchase only, a few percent of them, so a day without
-- retraining counts popularity without summing every user and product.

with

product_days as (

    select * from {{ ref('slv_user_product_daily') }}
    where event_date <= {{ window_date('run_date') }}

),

final as (

    {{ new_conversions('product_days') }}

)

select * from final
