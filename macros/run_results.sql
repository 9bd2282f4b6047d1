-- noqa: disable=LT02
{#-
    Run by `on-run-end` (which dbt runs after a failed node too): appends one row per node of
    this invocation (models, seeds, snapshots, data and unit tests) to `ops.node_results`, a
    Delta table: what ran, its status, seconds, rows affected (when the adapter reports them),
    failing rows of a test, the message, and when it ran, with the invocation id, the command
    and the run date. One statement for the whole run. `lakehouse report` charts it beside the
    tables' Delta history (files and bytes written).
-#}
{% macro record_run_results(results) -%}
    {%- if execute and flags.WHICH in ('build', 'run', 'test', 'seed', 'snapshot')
            and results | length > 0 -%}
        {%- set schema = env_var('LAKEHOUSE_SCHEMA_PREFIX', '') ~ 'ops' -%}
        {%- do run_query('create schema if not exists ' ~ schema) -%}
        {%- do run_query(
            'create table if not exists ' ~ schema ~ '.node_results ('
            ~ 'invocation_id string, command string, run_date date, node string, name string,'
            ~ ' resource_type string, layer string, status string, seconds double,'
            ~ ' rows_affected bigint, failures bigint, message string, started_at timestamp,'
            ~ ' completed_at timestamp, recorded_at timestamp) using delta') -%}
        {%- set rows = [] -%}
        {%- for result in results -%}
            {%- set node = result.node -%}
            {%- set execute_timing = result.timing | selectattr('name', 'equalto', 'execute')
                | list -%}
            {%- set response = result.adapter_response or {} -%}
            {%- set layer = node.fqn[1] if node.fqn | length > 2 else none -%}
            {%- do rows.append('(' ~ [
                _ops_literal(invocation_id), _ops_literal(flags.WHICH),
                "cast('" ~ var('run_date') ~ "' as date)",
                _ops_literal(node.unique_id), _ops_literal(node.name),
                _ops_literal(node.resource_type), _ops_literal(layer),
                _ops_literal(result.status), (result.execution_time or 0) | string,
                _ops_literal(response.get('rows_affected'), 'bigint'),
                _ops_literal(result.failures, 'bigint'),
                _ops_literal((result.message or '') | string | truncate(500, true, '...', 0)),
                _ops_literal(execute_timing[0].started_at if execute_timing else none,
                             'timestamp'),
                _ops_literal(execute_timing[0].completed_at if execute_timing else none,
                             'timestamp'),
                'current_timestamp()'] | join(', ') ~ ')') -%}
        {%- endfor -%}
        {%- do run_query('insert into ' ~ schema ~ '.node_results values ' ~ rows | join(', ')) -%}
        {{ log('Recorded ' ~ rows | length ~ ' node results in ' ~ schema ~ '.node_results',
               info=true) }}
    {%- endif -%}
{%- endmacro %}


{#- A value as a Spark SQL literal of `type` (a string by default); null when none. -#}
{% macro _ops_literal(value, type='string') -%}
    {%- if value is none or value == '' and type != 'string' -%}
        cast(null as {{ type }})
    {%- elif type == 'string' -%}
        '{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
    {%- elif type == 'timestamp' -%}
        cast('{{ value.strftime("%Y-%m-%d %H:%M:%S.%f") if value.strftime is defined
                 else value }}' as timestamp)
    {%- else -%}
        cast({{ value }} as {{ type }})
    {%- endif -%}
{%- endmacro %}
