{{ config(materialized='view') }}

-- The content lines of the files this build loads: the files brz_landing_files marks `new`,
-- read by their paths (chosen before any file is read, so a daily build with one new file
-- scans that file alone). Header and blank lines are not content. Recreated by every build;
-- between builds it shows the last build's new files.

with

landed as (

    {{ read_landing_files() }}

),

final as (

    select * from landed
    where
        line != '{{ var("source_header") }}'
        and trim(line) != ''

)

select * from final
