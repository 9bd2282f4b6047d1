-- noqa: disable=LT02
{#-
    Run by `on-run-end` (which dbt runs after a failed node too), for every build, run, test,
    seed and snapshot:
    - `ops.node_results` (Delta) gets one row per node of this invocation (models, seeds,
      snapshots, data and unit tests): what ran, its status, seconds, rows affected (when the
      adapter reports them), the bytes and files the node wrote (from its table's Delta
      history, summed over the commits it made), failing rows of a test, the message, and when
      it ran, with the invocation id, the command and the run date. One INSERT for the run.
    - `audit.test_failures` (Delta) gets the failing rows of each data test that failed or
      warned, as JSON, at most var `store_failures_limit` per test, so a failure can be read
      after the data has changed. Passing tests cost nothing (dbt's own `store_failures` would
      write one table per test on every build; docs/operations.md has the figures).
    `lakehouse report` charts both.
-#}
{% macro record_run_results(results) -%}
    {%- if execute and flags.WHICH in ('build', 'run', 'test', 'seed', 'snapshot')
            and results | length > 0 -%}
        {%- set ops = env_var('LAKEHOUSE_SCHEMA_PREFIX', '') ~ 'ops' -%}
        {%- do run_query('create schema if not exists ' ~ ops) -%}
        {%- do _ops_create(ops ~ '.node_results', _ops_node_results_columns()) -%}
        {%- set warehouse = adapter.warehouse_dir() -%}
        {%- set rows = [] -%}
        {%- for result in results -%}
            {%- do rows.append(_ops_node_row(result, warehouse)) -%}
        {%- endfor -%}
        {%- do run_query('insert into ' ~ ops ~ '.node_results ('
                         ~ _ops_node_results_columns().keys() | join(', ') ~ ') values '
                         ~ rows | join(', ')) -%}
        {{ log('Recorded ' ~ rows | length ~ ' node results in ' ~ ops ~ '.node_results',
               info=true) }}
        {%- do _record_test_failures(results) -%}
    {%- endif -%}
{%- endmacro %}


{#- The columns of ops.node_results, in order, with their types (new ones are added to an
    existing table by _ops_create). -#}
{% macro _ops_node_results_columns() -%}
    {{ return({
        'invocation_id': 'string', 'command': 'string', 'run_date': 'date', 'node': 'string',
        'name': 'string', 'resource_type': 'string', 'layer': 'string', 'status': 'string',
        'seconds': 'double', 'rows_affected': 'bigint', 'failures': 'bigint',
        'message': 'string', 'started_at': 'timestamp', 'completed_at': 'timestamp',
        'recorded_at': 'timestamp', 'bytes_written': 'bigint', 'files_written': 'bigint'}) }}
{%- endmacro %}


{#- Creates the Delta table `name` with `columns` ({name: type}), or adds the columns an
    earlier version of this project's table lacks. -#}
{% macro _ops_create(name, columns) -%}
    {%- set definition = [] -%}
    {%- for column, type in columns.items() -%}
        {%- do definition.append(column ~ ' ' ~ type) -%}
    {%- endfor -%}
    {%- do run_query('create table if not exists ' ~ name ~ ' (' ~ definition | join(', ')
                     ~ ') using delta') -%}
    {%- set present = run_query('select * from ' ~ name ~ ' limit 0').column_names -%}
    {%- set missing = [] -%}
    {%- for column, type in columns.items() if column not in present -%}
        {%- do missing.append(column ~ ' ' ~ type) -%}
    {%- endfor -%}
    {%- if missing -%}
        {%- do run_query('alter table ' ~ name ~ ' add columns (' ~ missing | join(', ') ~ ')') -%}
    {%- endif -%}
{%- endmacro %}


{#- One node's row of ops.node_results as a VALUES tuple. -#}
{% macro _ops_node_row(result, warehouse) -%}
    {%- set node = result.node -%}
    {%- set execute_timing = result.timing | selectattr('name', 'equalto', 'execute') | list -%}
    {%- set started = execute_timing[0].started_at if execute_timing else none -%}
    {%- set response = result.adapter_response or {} -%}
    {%- set layer = node.fqn[1] if node.fqn | length > 2 else none -%}
    {%- set written = _ops_written(node, started, result.status, warehouse) -%}
    {{ return('(' ~ [
        _ops_literal(invocation_id), _ops_literal(flags.WHICH),
        "cast('" ~ var('run_date') ~ "' as date)",
        _ops_literal(node.unique_id), _ops_literal(node.name),
        _ops_literal(node.resource_type), _ops_literal(layer),
        _ops_literal(result.status), (result.execution_time or 0) | string,
        _ops_literal(response.get('rows_affected'), 'bigint'),
        _ops_literal(result.failures, 'bigint'),
        _ops_literal((result.message or '') | string | truncate(500, true, '...', 0)),
        _ops_literal(started, 'timestamp'),
        _ops_literal(execute_timing[0].completed_at if execute_timing else none, 'timestamp'),
        'current_timestamp()',
        _ops_literal(written.bytes, 'bigint'), _ops_literal(written.files, 'bigint')]
        | join(', ') ~ ')') }}
{%- endmacro %}


{#- What a model or seed wrote in this run, from its Delta history: the bytes and files added
    by the commits made since `started` (a table, an incremental write, an auto compaction).
    Read from the table's log in the `warehouse` folder (adapter.delta_commits_since: no query;
    a `describe history` per table cost a daily run 5 s), by `describe history` when the
    warehouse is not on this machine. Nulls for tests, views and a node that did not succeed
    (a model that failed on its first run has no table to describe, and a failed write
    committed nothing). -#}
{% macro _ops_written(node, started, status, warehouse) -%}
    {%- set written = {'bytes': none, 'files': none} -%}
    {%- if node.resource_type in ('model', 'seed') and started is not none and status == 'success'
            and node.config.materialized in ('table', 'incremental', 'seed')
            and node.relation_name -%}
        {%- set commits = adapter.delta_commits_since(warehouse, node.schema, node.alias,
                                                      started) -%}
        {%- if commits is none -%}
            {%- set history = run_query('describe history ' ~ node.relation_name ~ ' limit 10') -%}
            {%- set since = started.strftime('%Y-%m-%d %H:%M:%S') -%}
            {%- set commits = [] -%}
            {%- for commit in history.rows
                    if commit['timestamp'] is not none and commit['timestamp'] | string >= since -%}
                {%- do commits.append(fromjson(commit['operationMetrics'] or '{}')) -%}
            {%- endfor -%}
        {%- endif -%}
        {%- set totals = {'bytes': 0, 'files': 0} -%}
        {%- for metrics in commits -%}
            {%- do totals.update({
                'bytes': totals.bytes + (metrics.get('numOutputBytes')
                    or metrics.get('numTargetBytesAdded') or metrics.get('numAddedBytes') or 0)
                    | int,
                'files': totals.files + (metrics.get('numFiles')
                    or metrics.get('numTargetFilesAdded') or metrics.get('numAddedFiles') or 0)
                    | int}) -%}
        {%- endfor -%}
        {%- do written.update(totals) -%}
    {%- endif -%}
    {{ return(written) }}
{%- endmacro %}


{#- The failing rows of every data test of `results` that failed or warned, appended to
    audit.test_failures (one JSON object per row), at most var store_failures_limit each. -#}
{% macro _record_test_failures(results) -%}
    {%- set failed = [] -%}
    {%- for result in results
            if result.node.resource_type == 'test' and result.status in ('fail', 'warn')
            and (result.failures or 0) > 0 and result.node.compiled_code -%}
        {%- do failed.append(result) -%}
    {%- endfor -%}
    {%- if failed -%}
        {%- set table = env_var('LAKEHOUSE_SCHEMA_PREFIX', '') ~ 'audit.test_failures' -%}
        {%- do run_query('create schema if not exists ' ~ table.split('.')[0]) -%}
        {%- do _ops_create(table, {
            'invocation_id': 'string', 'run_date': 'date', 'node': 'string', 'name': 'string',
            'status': 'string', 'failures': 'bigint', 'failing_row': 'string',
            'recorded_at': 'timestamp'}) -%}
        {%- for result in failed -%}
            {%- do run_query(
                'insert into ' ~ table ~ ' select ' ~ [
                    _ops_literal(invocation_id), "cast('" ~ var('run_date') ~ "' as date)",
                    _ops_literal(result.node.unique_id), _ops_literal(result.node.name),
                    _ops_literal(result.status), _ops_literal(result.failures, 'bigint'),
                    'to_json(struct(*))', 'current_timestamp()'] | join(', ')
                ~ ' from (' ~ result.node.compiled_code ~ '\n) as failing limit '
                ~ var('store_failures_limit')) -%}
        {%- endfor -%}
        {{ log('Stored the failing rows of ' ~ failed | length ~ ' test(s) in ' ~ table,
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
