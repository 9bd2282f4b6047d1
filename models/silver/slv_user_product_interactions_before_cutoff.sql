with

events as (

    select * from {{ ref('brz_events') }}
    where event_date < {{ window_date('recommendation_cutoff') }}

),

event_types as (

    select * from {{ ref('slv_event_types') }}

),

final as (

    {{ user_product_interactions('events', 'event_types') }}

)

select * from final
