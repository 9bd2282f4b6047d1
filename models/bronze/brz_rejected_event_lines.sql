{{
    config(
        materialized='incremental',
        incremental_strategy='append',
    )
}}

with

parsed as (

    select * from {{ ref('brz_event_lines_parsed') }}
    where
        reject_reason is not null
        and {{ not_yet_loaded() }}

),

final as (

    select
        -- ids
        md5(concat(source_file, '|', line, '|', cast(occurrence as string))) as rejected_line_id,

        -- the line as it landed, and why it was refused
        line,
        reject_reason,

        -- lineage
        source_file,
        loaded_at

    from (
        select
            *,
            row_number() over (partition by source_file, line order by loaded_at) as occurrence
        from parsed
    ) as numbered

)

select * from final
