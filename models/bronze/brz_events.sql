{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        partition_by=['event_date'],
    )
}}

with

parsed as (

    select * from {{ ref('brz_event_lines_parsed') }}
    where
        reject_reason is null
        and {{ not_yet_loaded() }}

),

numbered as (

    select
        *,
        -- identical lines of one file are exact duplicates: the first is kept
        row_number() over (partition by source_file, line order by loaded_at) as occurrence
    from parsed

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
        event_date,

        -- lineage
        source_file,
        loaded_at

    from numbered
    where occurrence = 1

)

select * from final
