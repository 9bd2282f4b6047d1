with

event_type_weights as (

    select * from {{ ref('event_type_weights') }}

),

final as (

    select
        -- ids
        cast(event_type as string) as event_type,

        -- dimensions
        cast(funnel_step as int) as funnel_step,
        cast(description as string) as event_type_description,

        -- measures
        cast(interaction_weight as double) as interaction_weight,
        cast(event_type = 'purchase' as boolean) as is_conversion

    from event_type_weights

)

select * from final
