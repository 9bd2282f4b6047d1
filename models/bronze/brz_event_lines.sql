{{
    config(
        materialized='incremental',
        incremental_strategy='append',
    )
}}

with

landing_lines as (

    select
        landing.value as line,
        landing._metadata.file_name as source_file,
        landing._metadata.file_modification_time as file_modified_at
    from {{ source('landing', 'event_lines') }} as landing

),

new_lines as (

    select * from landing_lines
    where
        line != '{{ var("source_header") }}'
        and trim(line) != ''
        {% if is_incremental() -%}
            -- a file is loaded once: a rebuild reads only files that landed since
            and source_file not in (select distinct t.source_file from {{ this }} as t)
        {%- endif %}

),

final as (

    select
        -- line
        line,

        -- lineage
        source_file,
        file_modified_at,
        '{{ invocation_id }}' as load_id,
        current_timestamp() as loaded_at

    from new_lines

)

select * from final
