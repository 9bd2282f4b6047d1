{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        partition_by=['event_date'],
        tblproperties={
            'delta.dataSkippingStatsColumns': 'source_file,load_id,loaded_at',
        },
    )
}}

-- Every distinct line of every loaded landing file, parsed once: identical lines of a file
-- are grouped first (n_occurrences counts them; the first is the event, the others exact
-- duplicates), then each distinct line gets the typed fields and the first rule it breaks, by
-- the one parser (macros/event_parsing.sql). Valid lines are brz_events, the others
-- brz_rejected_event_lines (both views). Only the files brz_file_contents found new and not a
-- duplicate are read. Delta keeps file statistics of the columns that prune files only: the
-- file name (landing_files_to_parse), the load (loaded_by_this_build) and the load time (the
-- daily aggregates' dates to rebuild, read from the Delta log).

with

landed as (

    select
        line,
        source_file,
        file_modified_at,
        coalesce(is_too_long, false) as is_too_long
    from {{ ref('brz_landed_lines') }}
    where {{ landing_files_to_parse() }}

),

distinct_lines as (

    select
        line,
        source_file,
        file_modified_at,
        is_too_long,
        count(*) as n_occurrences
    from landed
    group by source_file, file_modified_at, line, is_too_long

),

unexpected_headers as (

    -- A line of column names other than the source's header (which brz_landed_lines drops):
    -- the file's columns are named differently or in another order, so no field of it can be
    -- trusted by position, and every line of the file is quarantined.
    select
        source_file,
        true as has_unexpected_header
    from distinct_lines
    where
        not is_too_long
        and regexp_like(line, '^[A-Za-z_ ]+(,[A-Za-z_ ]*)+$')
        and regexp_like(
            lower(line), '(^|,)({{ var("source_header") | replace(",", "|") }})(,|$)'
        )
    group by source_file

),

checked_lines as (

    select
        distinct_lines.*,
        coalesce(unexpected_headers.has_unexpected_header, false) as has_unexpected_header
    from distinct_lines
    left join unexpected_headers
        on distinct_lines.source_file = unexpected_headers.source_file

),

parsed as (

    {{ parse_event_lines(
        'checked_lines',
        [
            'line', 'source_file', 'file_modified_at', 'n_occurrences', 'is_too_long',
            'has_unexpected_header',
        ]
    ) }}

),

final as (

    select
        -- ids
        md5(concat(source_file, '|', line)) as event_id,
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

        -- the first rule the line breaks (null: a valid event), and the line itself when so
        -- (the start of a line too long to read)
        case
            when is_too_long then 'line_too_long'
            when has_unexpected_header then 'unexpected_header'
            else reject_reason
        end as reject_reason,
        case
            when is_too_long or has_unexpected_header or reject_reason is not null then line
        end as rejected_line,

        -- how often the line occurs in its file (more than once: exact duplicates)
        n_occurrences,

        -- lineage
        source_file,
        '{{ invocation_id }}' as load_id,
        current_timestamp() as loaded_at,

        -- the partition (null for a line without a date)
        event_date

    from parsed

)

select * from final
