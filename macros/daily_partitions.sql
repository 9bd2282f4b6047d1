{#-
    The incremental filter of the silver daily aggregates: which `event_date` partitions this
    build recomputes. A full build: every date (`true`). An incremental build: the dates of the
    events loaded since the aggregate was last built (brz_events rows with a later `loaded_at`
    than the newest `source_loaded_at` of the aggregate; Delta skips the older files by their
    statistics), plus the dates of files forgotten by reload_landing_file since then. The
    dates are asked before the model's SQL is compiled, so the filter is a literal list that
    prunes partitions, and each date is recomputed whole from every event of that date: a
    rerun gives the same rows, and the insert_overwrite strategy replaces just those partitions.
-#}
{% macro event_dates_to_rebuild() -%}
    {%- set events = ref('brz_events') -%}
    {%- set audit = ref('brz_file_loads') -%}
    {%- if not (execute and model.resource_type == 'model' and is_incremental()) -%}
        {{- return('true') -}}
    {%- endif -%}
    {%- set newest = run_query(
        'select cast(max(source_loaded_at) as string) from ' ~ this).rows[0][0] -%}
    {%- set since = "timestamp'" ~ (newest or '1970-01-01 00:00:00') ~ "'" -%}
    {%- set rows = run_query(
        'select distinct event_date from ' ~ events ~ ' where loaded_at > ' ~ since
        ~ ' union select explode(sequence(first_event_date, last_event_date)) from '
        ~ audit ~ " where load_status = 'unloaded' and first_event_date is not null"
        ~ ' and loaded_at > ' ~ since ~ ' order by 1'
    ) -%}
    {%- set dates = rows | map(attribute=0) | map('string') | list -%}
    {{ log(this.identifier ~ ': ' ~ (dates | length) ~ ' date(s) to rebuild'
           ~ (': ' ~ dates[:5] | join(', ') ~ (' ...' if dates | length > 5 else '')
              if dates else ''), info=true) }}
    {%- if not dates -%}
        {{- return('false') -}}
    {%- endif -%}
    {{- return("event_date in (date'" ~ dates | join("', date'") ~ "')") -}}
{%- endmacro %}
