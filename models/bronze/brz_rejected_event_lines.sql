{{ config(materialized='view') }}

-- The quarantine: the lines of brz_event_lines that break a rule, with the reason.

with

event_lines as (

    select * from {{ ref('brz_event_lines') }}
    where reject_reason is not null

),

final as (

    select
        -- ids
        event_id as rejected_line_id,

        -- the line as it landed, why it was refused, and how often it occurs in its file
        rejected_line as line,
        reject_reason,
        n_occurrences,

        -- lineage
        source_file,
        loaded_at

    from event_lines

)

select * from final
