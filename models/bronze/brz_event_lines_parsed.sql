{{ config(materialized='view') }}

-- Splits each landed line into the nine source fields, types them with explicit casts, and
-- gives the first rule a line breaks as its reject reason (null = a valid event).

with

event_lines as (

    select * from {{ ref('brz_event_lines') }}

),

fields as (

    select
        line,
        source_file,
        loaded_at,
        split(line, ',', -1) as f
    from event_lines

),

typed as (

    select
        line,
        source_file,
        loaded_at,
        size(f) as n_fields,
        try_element_at(f, 2) as event_type,
        nullif(try_element_at(f, 3), '') as product_id_text,
        nullif(try_element_at(f, 4), '') as category_id_text,
        nullif(try_element_at(f, 8), '') as user_id_text,
        -- `2019-10-01 00:00:00 UTC`: parsed as an instant whatever the session time zone
        try_to_timestamp(
            regexp_replace(try_element_at(f, 1), ' UTC$', 'Z'), 'yyyy-MM-dd HH:mm:ssX'
        ) as event_time,
        try_cast(substr(try_element_at(f, 1), 1, 10) as date) as event_date,
        try_cast(try_element_at(f, 3) as bigint) as product_id,
        try_cast(try_element_at(f, 4) as bigint) as category_id,
        nullif(try_element_at(f, 5), '') as category_code,
        nullif(try_element_at(f, 6), '') as brand,
        try_cast(try_element_at(f, 7) as decimal(10, 2)) as price,
        try_cast(try_element_at(f, 8) as bigint) as user_id,
        nullif(try_element_at(f, 9), '') as user_session
    from fields

),

final as (

    select
        *,
        case
            when n_fields != 9 then 'malformed_line'
            when event_time is null or event_date is null then 'unparseable_event_time'
            when event_type not in ('view', 'cart', 'remove_from_cart', 'purchase')
                then 'unknown_event_type'
            when
                product_id_text is null or category_id_text is null or user_id_text is null
                then 'missing_id'
            when
                product_id is null or category_id is null or user_id is null
                then 'non_numeric_id'
            when price is null then 'non_numeric_price'
            when price < 0 then 'negative_price'
        end as reject_reason
    from typed

)

select * from final
