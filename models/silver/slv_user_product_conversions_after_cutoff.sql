{{ config(materialized='view') }}

-- What the recommender evaluation checks against: products a user carted or bought from
-- recommendation_cutoff to the run date, new to that user at the cutoff.

with

product_days as (

    select * from {{ ref('slv_user_product_daily') }}
    where
        event_date >= {{ window_date('recommendation_cutoff') }}
        and event_date <= {{ window_date('run_date') }}

),

earlier as (

    select
        user_id,
        product_id
    from {{ ref('slv_user_product_interactions_before_cutoff') }}

),

final as (

    {{ new_conversions('product_days', 'earlier') }}

)

select * from final
