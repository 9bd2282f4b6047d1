{{ config(
    materialized='table',
    post_hook=["{{ inspect_new_landing_files() }}"],
) }}

-- What this build does with each file of the landing folder, from the folder's listing alone
-- (name, size, modification time: no file is read) and the load audit's last word on each
-- name. A file's identity is its name, size and modification time. The post-hook then checks
-- each new file: a gzip file the server cannot read is marked `unreadable`, and the lines too
-- long for the server's reader are listed in `long_lines` (macros/landing_files.sql).

with

listing as (

    select
        regexp_extract(path, '[^/]+$', 0) as source_file,
        path as file_path,
        length as file_size,
        modificationtime as file_modified_at
    from {{ source('landing', 'event_files') }}

),

known as (

    -- the audit's latest row per file name
    {{ latest_file_loads() }}

),

final as (

    select
        -- ids
        listing.source_file,

        -- the file now
        listing.file_path,
        listing.file_size,
        listing.file_modified_at,

        -- the file as it was loaded
        known.file_size as loaded_file_size,
        known.file_modified_at as loaded_file_modified_at,

        -- what this build does with it
        case
            when known.source_file is null or known.load_status = 'unloaded' then 'new'
            when
                known.file_size != listing.file_size
                or known.file_modified_at != listing.file_modified_at
                then 'changed'
            else 'known'
        end as load_status,

        -- why the server cannot read it (set by the post-hook; null otherwise)
        cast(null as string) as read_error,

        -- the lines the server's reader skips as too long (set by the post-hook; null: none)
        cast(null as array<struct<line_number: bigint, line_bytes: bigint, line_start: string>>)
            as long_lines

    from listing
    left join known on listing.source_file = known.source_file

)

select * from final
