{#-
    The incremental filter of the silver daily aggregates: which `event_date` partitions this
    build recomputes. A full build: every date (`true`). An incremental build: the dates of the
    events loaded since the aggregate was last built (a later `loaded_at` than the newest
    `source_loaded_at` of the aggregate), plus the dates of files forgotten by
    reload_landing_file since then. The newest `source_loaded_at` is asked of the aggregate's
    data (a RESTORE moves its commit times, not its rows); the dates are read from
    brz_event_lines' Delta log (the event_date partitions of the files added since then whose
    `loaded_at` statistic is later, and of the files a delete removed), else asked of
    brz_events and brz_file_loads (Delta skips the older files by their statistics). The
    dates are known before the model's SQL is compiled, so the filter is a literal list that
    prunes partitions, and each date is recomputed whole from every event of that date: a
    rerun gives the same rows, and the insert_overwrite strategy replaces just those partitions.
-#}
{% macro event_dates_to_rebuild() -%}
    {%- set events = ref('brz_events') -%}
    {%- set audit = ref('brz_file_loads') -%}
    {%- set lines = ref('brz_event_lines') -%}
    {%- if not (execute and model.resource_type == 'model' and is_incremental()) -%}
        {{- return('true') -}}
    {%- endif -%}
    {%- set newest = run_query(
        'select cast(max(source_loaded_at) as string), unix_micros(max(source_loaded_at))'
        ~ ' from ' ~ this).rows[0] -%}
    {%- set dates = adapter.delta_partitions_changed_after(
        adapter.warehouse_dir(), lines.schema, lines.identifier, newest[1] or 0, 'event_date',
        'loaded_at') -%}
    {%- set source = "brz_event_lines' log" -%}
    {%- if dates is none -%}
        {%- set since = "timestamp'" ~ (newest[0] or '1970-01-01 00:00:00') ~ "'" -%}
        {%- set rows = run_query(
            'select distinct event_date from ' ~ events ~ ' where loaded_at > ' ~ since
            ~ ' union select explode(sequence(first_event_date, last_event_date)) from '
            ~ audit ~ " where load_status = 'unloaded' and first_event_date is not null"
            ~ ' and loaded_at > ' ~ since ~ ' order by 1'
        ) -%}
        {%- set dates = rows | map(attribute=0) | map('string') | list -%}
        {%- set source = 'the loaded rows' -%}
    {%- endif -%}
    {{ log(this.identifier ~ ': ' ~ (dates | length) ~ ' date(s) to rebuild, from ' ~ source
           ~ (': ' ~ dates[:5] | join(', ') ~ (' ...' if dates | length > 5 else '')
              if dates else ''), info=true) }}
    {%- if not dates -%}
        {{- return('false') -}}
    {%- endif -%}
    {{- return("event_date in (date'" ~ dates | join("', date'") ~ "')") -}}
{%- endmacro %}
