{{
    config(
        materialized='incremental',
        incremental_strategy='append',
    )
}}

-- One row per loaded file. Each count comes from a different table, so the row-conservation
-- test (landed = accepted + duplicates + rejected) checks the whole bronze load.

with

event_lines as (

    select * from {{ ref('brz_event_lines') }}
    {% if is_incremental() -%}
        where source_file not in (select distinct t.source_file from {{ this }} as t)
    {%- endif %}

),

landed as (

    select
        source_file,
        count(*) as lines_landed,
        max(file_modified_at) as file_modified_at,
        max(loaded_at) as loaded_at
    from event_lines
    group by source_file

),

accepted as (

    select
        source_file,
        count(*) as rows_accepted,
        min(event_date) as first_event_date,
        max(event_date) as last_event_date
    from {{ ref('brz_events') }}
    where source_file in (select l.source_file from landed as l)
    group by source_file

),

duplicates as (

    select
        source_file,
        count(*) - count(distinct line) as rows_duplicate
    from {{ ref('brz_event_lines_parsed') }}
    where
        reject_reason is null
        and source_file in (select l.source_file from landed as l)
    group by source_file

),

rejected as (

    select
        source_file,
        count(*) as rows_rejected
    from {{ ref('brz_rejected_event_lines') }}
    where source_file in (select l.source_file from landed as l)
    group by source_file

),

final as (

    select
        -- ids
        landed.source_file,

        -- measures
        landed.lines_landed,
        coalesce(accepted.rows_accepted, 0) as rows_accepted,
        coalesce(duplicates.rows_duplicate, 0) as rows_duplicate,
        coalesce(rejected.rows_rejected, 0) as rows_rejected,

        -- dates and timestamps
        accepted.first_event_date,
        accepted.last_event_date,
        landed.file_modified_at,
        landed.loaded_at

    from landed
    left join accepted on landed.source_file = accepted.source_file
    left join duplicates on landed.source_file = duplicates.source_file
    left join rejected on landed.source_file = rejected.source_file

)

select * from final
