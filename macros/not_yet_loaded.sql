{#-
    The incremental filter of the bronze models that read brz_event_lines: true for lines of
    files this model has not processed yet. A file counts as processed once it is in the
    model's own table or in the load audit (brz_file_loads, written last). The audit check
    bounds the rescan for models such as the quarantine, where a clean file leaves no row of
    its own. The audit is looked up by name, not ref'd: it is built from these models. On a
    full refresh (not incremental) the condition is `true`: every file is read again.
    The same in `run-operation explain`, which explains a model as its full build.
-#}
{% macro not_yet_loaded(column='source_file') -%}
    {#- In an operation (`explain`) there is no model being built: explain the full build. -#}
    {%- if not (execute and model.resource_type == 'model' and is_incremental()) -%}
        {{- return('true') -}}
    {%- endif -%}
    {%- set audit = adapter.get_relation(
        database=this.database, schema=this.schema, identifier='brz_file_loads'
    ) -%}
    {%- set condition = column
        ~ ' not in (select distinct t.source_file from ' ~ this ~ ' as t)' -%}
    {%- if audit is not none -%}
        {%- set condition = condition ~ '\n        and ' ~ column
            ~ ' not in (select a.source_file from ' ~ audit ~ ' as a)' -%}
    {%- endif -%}
    {{- return(condition) -}}
{%- endmacro %}
