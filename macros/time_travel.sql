-- noqa: disable=LT02
{#-
    Time travel and recovery on any Delta model or seed of the project, as run-operations
    (docs/operations.md, "Time travel and recovery"):

      dbt run-operation table_history --args '{model: slv_product_daily}'
      dbt run-operation diff_versions --args '{model: slv_product_daily, from_version: 3}'
      dbt run-operation restore_table --args '{model: slv_product_daily, version: 3, confirm: true}'

    Versions stay readable until `make vacuum` removes their files (var vacuum_retention_hours).
-#}


{#- The relation of the project's model or seed `model` (by name); fails naming it when the
    project has no such node or the table does not exist. -#}
{% macro time_travel_relation(model) -%}
    {%- for node in graph.nodes.values()
            if node.resource_type in ('model', 'seed') and node.name == model
            and node.package_name == project_name -%}
        {%- set relation = adapter.get_relation(node.database, node.schema, node.alias) -%}
        {%- if relation is none -%}
            {{ exceptions.raise_compiler_error(
                "model '" ~ model ~ "' has no table yet (" ~ node.schema ~ '.' ~ node.alias
                ~ '): build it first') }}
        {%- endif -%}
        {{ return(relation) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("the project has no model or seed '" ~ model ~ "'") }}
{%- endmacro %}


{#- The key columns of `model`: its `unique` column test or its `unique_combination` test. -#}
{% macro time_travel_key(model) -%}
    {%- for node in graph.nodes.values()
            if node.resource_type == 'test' and node.get('test_metadata')
            and (node.get('attached_node') or '').split('.')[-1] == model -%}
        {%- set kwargs = node.test_metadata.kwargs -%}
        {%- if node.test_metadata.name == 'unique' -%}
            {{ return([kwargs.column_name]) }}
        {%- elif node.test_metadata.name == 'unique_combination' -%}
            {{ return(kwargs.columns) }}
        {%- endif -%}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error(
        "model '" ~ model ~ "' has no unique or unique_combination test: pass its key as "
        ~ "--args '{key: [col, ...]}'") }}
{%- endmacro %}


{#- The table's newest version number. -#}
{% macro time_travel_latest(relation) -%}
    {{ return(run_query('describe history ' ~ relation ~ ' limit 1').columns[0].values()[0]) }}
{%- endmacro %}


{#-
    The last `limit` versions of `model`'s Delta table: version, time, operation, the rows
    the table held at that version (counted by reading it) and the operation's own row
    metrics. Oldest first.
-#}
{% macro table_history(model, limit=10) -%}
    {%- set relation = time_travel_relation(model) -%}
    {%- set history = run_query('describe history ' ~ relation ~ ' limit ' ~ limit | int) -%}
    {{ log('History of ' ~ relation ~ ' (last ' ~ history | length ~ ' versions, oldest'
           ~ ' first):', info=true) }}
    {{ log('  version  ' ~ 'timestamp'.ljust(24) ~ '  ' ~ 'operation'.ljust(34)
           ~ 'rows'.rjust(10) ~ '  metrics', info=true) }}
    {%- for row in history.rows | reverse -%}
        {%- set rows = run_query(
            'select count(*) from ' ~ relation ~ ' version as of ' ~ row['version']
        ).columns[0].values()[0] -%}
        {%- set metrics = [] -%}
        {%- set reported = row['operationMetrics'] or {} -%}
        {%- set reported = fromjson(reported) if reported is string else reported -%}
        {%- for name, value in reported.items()
                if name.startswith('num') and 'Rows' in name -%}
            {%- do metrics.append(name ~ '=' ~ value) -%}
        {%- endfor -%}
        {{ log('  ' ~ (row['version'] | string).rjust(7) ~ '  '
               ~ (row['timestamp'] | string)[:23].ljust(24) ~ '  '
               ~ row['operation'].ljust(34) ~ (rows | string).rjust(10) ~ '  '
               ~ metrics | sort | join(' '), info=true) }}
    {%- endfor -%}
{%- endmacro %}


{#-
    What changed in `model` between two versions, by its key (time_travel_key, or `key`):
    keys added (only in `to_version`), removed (only in `from_version`) and changed (in both,
    with other rows: other values, or another number of rows, as when a day was appended
    twice), with the row counts of both versions and up to `sample` keys of each kind.
    `to_version` defaults to the newest.
-#}
{% macro diff_versions(model, from_version, to_version=none, key=none, sample=5) -%}
    {%- set relation = time_travel_relation(model) -%}
    {%- set key = key or time_travel_key(model) -%}
    {%- set to_version = to_version if to_version is not none
        else time_travel_latest(relation) -%}
    {%- set keys = key | join(', ') -%}
    {%- set by_key -%}
        select {{ keys }}, count(*) as n_rows,
            sort_array(collect_list(md5(to_json(struct(*))))) as row_hashes
        from {{ relation }} version as of {v}
        group by {{ keys }}
    {%- endset -%}
    {%- set joined -%}
        with
        old as ({{ by_key | replace('{v}', from_version | string) }}),
        new as ({{ by_key | replace('{v}', to_version | string) }}),
        compared as (
            select
                {% for column in key -%}
                coalesce(new.{{ column }}, old.{{ column }}) as {{ column }},
                {% endfor -%}
                coalesce(old.n_rows, 0) as old_rows,
                coalesce(new.n_rows, 0) as new_rows,
                case
                    when old.n_rows is null then 'added'
                    when new.n_rows is null then 'removed'
                    when old.row_hashes != new.row_hashes then 'changed'
                end as change
            from old
            full outer join new
                on {% for column in key -%}
                old.{{ column }} <=> new.{{ column }}{{ ' and ' if not loop.last }}
                {%- endfor %}
        )
    {%- endset -%}
    {%- set totals -%}
        {{ joined }}
        select
            coalesce(sum(old_rows), 0), coalesce(sum(new_rows), 0),
            count_if(change = 'added'), count_if(change = 'removed'),
            count_if(change = 'changed')
        from compared
    {%- endset -%}
    {%- set counts = run_query(totals).rows[0] -%}
    {{ log('Diff of ' ~ relation ~ ' by (' ~ keys ~ '), version ' ~ from_version ~ ' -> '
           ~ to_version ~ ': rows ' ~ counts[0] ~ ' -> ' ~ counts[1] ~ '; keys added '
           ~ counts[2] ~ ', removed ' ~ counts[3] ~ ', changed ' ~ counts[4], info=true) }}
    {%- for kind in ['added', 'removed', 'changed'] -%}
        {%- set rows = run_query(joined ~ ' select * from compared where change = '
            ~ "'" ~ kind ~ "' order by " ~ keys ~ ' limit ' ~ sample | int) -%}
        {%- for row in rows -%}
            {%- set values = [] -%}
            {%- for column in key -%}{%- do values.append(column ~ '=' ~ row[column]) -%}{%- endfor -%}
            {{ log('  ' ~ kind ~ ': ' ~ values | join(', ') ~ ' (rows ' ~ row['old_rows']
                   ~ ' -> ' ~ row['new_rows'] ~ ')', info=true) }}
        {%- endfor -%}
    {%- endfor -%}
    {{ return({'old_rows': counts[0], 'new_rows': counts[1], 'added': counts[2],
               'removed': counts[3], 'changed': counts[4]}) }}
{%- endmacro %}


{#-
    Restores `model`'s table to a `version` (or a `timestamp`, 'yyyy-MM-dd HH:mm:ss' UTC) with
    Delta's RESTORE, which writes a new version equal to the old one (the versions between stay
    in the history). Asks for `confirm: true`, and logs what it replaced: the version and row
    count before, and after.
-#}
{% macro restore_table(model, version=none, timestamp=none, confirm=false) -%}
    {%- set relation = time_travel_relation(model) -%}
    {%- if (version is none) == (timestamp is none) -%}
        {{ exceptions.raise_compiler_error(
            'restore_table needs exactly one of version and timestamp') }}
    {%- endif -%}
    {%- set target = 'version as of ' ~ (version | int) if version is not none
        else 'timestamp as of ' ~ sql_string(timestamp) -%}
    {%- if confirm is not true -%}
        {{ exceptions.raise_compiler_error(
            'restore_table replaces the current contents of ' ~ relation ~ ' with its '
            ~ target ~ '; run it again with confirm: true in --args to do so') }}
    {%- endif -%}
    {%- set before = time_travel_latest(relation) -%}
    {%- set rows_before = run_query('select count(*) from ' ~ relation).columns[0].values()[0] -%}
    {%- do run_query('restore table ' ~ relation ~ ' to ' ~ target) -%}
    {%- set after = time_travel_latest(relation) -%}
    {%- set rows_after = run_query('select count(*) from ' ~ relation).columns[0].values()[0] -%}
    {{ log('Restored ' ~ relation ~ ' to its ' ~ target ~ ': replaced version ' ~ before
           ~ ' (' ~ rows_before ~ ' rows) with version ' ~ after ~ ' (' ~ rows_after
           ~ ' rows); version ' ~ before ~ ' stays readable until vacuumed', info=true) }}
{%- endmacro %}
