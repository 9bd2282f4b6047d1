{{ config(materialized='view') }}

-- The valid, de-duplicated events: the lines of brz_event_lines that break no rule.

with

event_lines as (

    select * from {{ ref('brz_event_lines') }}
    where reject_reason is null

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
        category_code,
        brand,

        -- measures
        price,

        -- timestamps
        event_time,
        event_date,

        -- lineage
        source_file,
        loaded_at

    from event_lines

)

select * from final
