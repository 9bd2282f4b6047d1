{#-
    `make vacuum` (dbt run-operation vacuum_tables): removes the data files that no version of
    a table within the retention still reads, on every Delta table of the project (seeds,
    table, incremental and streaming models). Old versions keep their files until then, which
    is what time travel reads; after VACUUM, versions older than the retention cannot be read.
    Retention: the var vacuum_retention_hours (default 168, a week), never below Delta's own
    safety limit of 168 hours, since a shorter one could delete files that a running query or
    stream still needs. Says per table how many files it removed. Run it weekly, after the
    daily job; `models` (a list of model names) limits it to those.
-#}
{% macro vacuum_tables(retention_hours=none, models=none) -%}
    {%- set hours = (retention_hours or var('vacuum_retention_hours', 168)) | int -%}
    {%- if hours < 168 -%}
        {{ exceptions.raise_compiler_error(
            'vacuum_retention_hours is ' ~ hours ~ ': it must be at least 168 (7 days), the '
            ~ "limit of Delta's retention safety check; a shorter one can delete files that "
            ~ 'a running query, stream or time-travel read still needs'
        ) }}
    {%- endif -%}
    {#- Delta lists a table's files in spark.sql.sources.parallelPartitionDiscovery.parallelism
        tasks (10,000 by default: a minute per table on two cores); a few are plenty here. -#}
    {%- do run_query('set spark.sql.sources.parallelPartitionDiscovery.parallelism = 8') -%}
    {%- set total = namespace(files=0, tables=0) -%}
    {%- for node in graph.nodes.values()
        if node.resource_type in ('model', 'seed')
        and node.package_name == project_name
        and node.config.materialized in ('table', 'incremental', 'streaming', 'seed')
        and node.config.get('file_format', 'delta') == 'delta'
        and (models is none or node.name in models) -%}
        {%- set relation = adapter.get_relation(node.database, node.schema, node.alias) -%}
        {%- if relation is not none -%}
            {%- set retain = ' retain ' ~ hours ~ ' hours' -%}
            {%- set doomed = run_query('vacuum ' ~ relation ~ retain ~ ' dry run') -%}
            {%- if doomed | length > 0 -%}
                {%- do run_query('vacuum ' ~ relation ~ retain) -%}
            {%- endif -%}
            {%- set total.files = total.files + doomed | length -%}
            {%- set total.tables = total.tables + 1 -%}
            {{ log('vacuum ' ~ relation ~ ': removed ' ~ doomed | length
                   ~ ' file(s) older than ' ~ hours ~ ' hours', info=true) }}
        {%- endif -%}
    {%- endfor -%}
    {{ log('vacuum: ' ~ total.tables ~ ' Delta tables, ' ~ total.files
           ~ ' file(s) removed (retention ' ~ hours ~ ' hours)', info=true) }}
{%- endmacro %}
