{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        post_hook=["{{ fail_on_changed_landing_files() }}"],
    )
}}

-- The load audit: one row per file and build that loaded it, recognised it as a duplicate,
-- found it changed, or could not read it. For a loaded file the lines landed are counted on
-- the text (brz_file_contents) and the rest on the parsed lines (brz_event_lines), so the
-- row-conservation test (landed = accepted + duplicates + rejected) checks the whole load.

{%- set audited = "source_file not in (select t.source_file from " ~ this
    ~ " as t where t.load_status in ('loaded', 'duplicate'))" if is_incremental() else "true" %}
{#- The parsed lines of those files are read by a literal list of their names (files_to_audit)
    that Delta skips every other load's files by. #}

with

contents as (

    -- files fingerprinted since the last audit
    select * from {{ ref('brz_file_contents') }}
    where {{ audited }}

),

parsed as (

    select
        source_file,
        sum(case when reject_reason is null then 1 else 0 end) as rows_accepted,
        sum(case when reject_reason is null then n_occurrences - 1 else 0 end)
            as rows_duplicate,
        sum(case when reject_reason is not null then n_occurrences else 0 end)
            as rows_rejected,
        min(case when reject_reason is null then event_date end) as first_event_date,
        max(case when reject_reason is null then event_date end) as last_event_date,
        max(loaded_at) as loaded_at
    from {{ ref('brz_event_lines') }}
    where {{ files_to_audit(audited) }}
    group by source_file

),

loads as (

    select
        -- ids
        contents.source_file,

        -- what happened
        case when contents.duplicate_of is null then 'loaded' else 'duplicate' end
            as load_status,
        contents.duplicate_of,
        case
            when contents.duplicate_of is not null
                then concat('same content as ', contents.duplicate_of, ': no rows loaded')
        end as reason,

        -- the file
        contents.file_size,
        contents.file_modified_at,
        contents.content_hash,

        -- measures
        contents.content_lines as lines_landed,
        coalesce(parsed.rows_accepted, 0) as rows_accepted,
        coalesce(parsed.rows_duplicate, 0) as rows_duplicate,
        coalesce(parsed.rows_rejected, 0) as rows_rejected,

        -- dates and timestamps
        parsed.first_event_date,
        parsed.last_event_date,
        coalesce(parsed.loaded_at, contents.read_at) as loaded_at

    from contents
    left join parsed on contents.source_file = parsed.source_file

),

not_read as (

    -- files this build found but did not read: a known name whose size or modification time
    -- changed, and a new file the server could not read (brz_landing_files' post-hook)
    select
        source_file,
        load_status,
        cast(null as string) as duplicate_of,
        case
            when load_status = 'changed'
                then concat(
                    'changed since it was loaded: size ', loaded_file_size, ' -> ', file_size,
                    ' bytes, modified ', loaded_file_modified_at, ' -> ', file_modified_at
                )
            else concat('unreadable_file: ', read_error)
        end as reason,
        file_size,
        file_modified_at,
        cast(null as decimal(38, 0)) as content_hash,
        cast(null as bigint) as lines_landed,
        cast(null as bigint) as rows_accepted,
        cast(null as bigint) as rows_duplicate,
        cast(null as bigint) as rows_rejected,
        cast(null as date) as first_event_date,
        cast(null as date) as last_event_date,
        current_timestamp() as loaded_at
    from {{ ref('brz_landing_files') }}
    where load_status in ('changed', 'unreadable')

),

final as (

    select
        *,
        '{{ invocation_id }}' as load_id
    from (
        select * from loads
        union all
        select * from not_read
    ) as audit_rows

)

select * from final
