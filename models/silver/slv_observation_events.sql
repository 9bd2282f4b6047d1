{{ config(materialized='view') }}

{#- The only door from events to features: everything per user reads this view. -#}

with

events as (

    select * from {{ ref('brz_events') }}

),

final as (

    select
        -- ids
        event_id,
        user_id,
        product_id,
        category_id,
        user_session,

        -- dimensions
        event_type,
        brand,

        -- measures
        price,

        -- timestamps
        event_time,
        event_date

    from events
    where
        event_date >= {{ window_date('observation_start') }}
        and event_date <= {{ window_date('observation_end') }}

)

select * from final
