{#-
    The landing folder: LAKEHOUSE_LANDING_DIR when set (for example the folder that holds the
    real 2019-Oct.csv / 2019-Nov.csv, plain or gzip), otherwise `landing/` beside the server's
    warehouse (`.lakehouse/landing` for the embedded server). Asked of the server, so the
    default holds on a cluster whose warehouse is on object storage too.
-#}
{% macro landing_dir() -%}
    {%- set configured = env_var('LAKEHOUSE_LANDING_DIR', '') -%}
    {%- if configured -%}
        {{ return(configured.rstrip('/')) }}
    {%- endif -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set warehouse = run_query('set spark.sql.warehouse.dir').rows[0][1] -%}
    {{ return(warehouse.rstrip('/').rsplit('/', 1)[0] ~ '/landing') }}
{%- endmacro %}


{#- The schema that holds the landing tables (external tables over the files). -#}
{% macro landing_schema() -%}
    {{ return(env_var('LAKEHOUSE_SCHEMA_PREFIX', '') ~ 'landing') }}
{%- endmacro %}


{#-
    Declares the landing tables, run by `on-run-start`: `event_lines` is an external text
    table over the event files, one row per line with an explicit one-column schema (no
    inference). Bronze applies the Kaggle schema with explicit casts, so a malformed line is
    quarantined with a reason instead of being dropped or nulled by a CSV reader. Re-declared
    on every run so a changed LAKEHOUSE_LANDING_DIR takes effect; dropping an external table
    never deletes its files.
-#}
{% macro create_landing_tables() -%}
    {%- if execute -%}
        {%- set schema = landing_schema() -%}
        {%- set location = landing_dir() -%}
        {%- do run_query('create schema if not exists ' ~ schema) -%}
        {%- do run_query('drop table if exists ' ~ schema ~ '.event_lines') -%}
        {%- do run_query(
            'create table ' ~ schema ~ '.event_lines (value string) using text'
            ~ " options (pathGlobFilter '{*.csv,*.csv.gz}')"
            ~ " location '" ~ location ~ "'"
        ) -%}
        {{ log('Landing folder: ' ~ location, info=true) }}
    {%- endif -%}
{%- endmacro %}
