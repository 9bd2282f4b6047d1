{#-
    The rows of an append-only table with a `load_id` column (the invocation that wrote them)
    that a data test has to read: in a `dbt build` that built the table, only the rows this
    build appended (older rows were tested by the build that loaded them, and nothing rewrites
    them; Delta skips the other loads' files by their load_id statistics); anywhere else
    (`dbt test`, a build that did not select the table) every row. A SQL predicate.
-#}
{% macro loaded_by_this_build(relation) -%}
    {%- set built = 'model.' ~ project_name ~ '.' ~ relation.identifier -%}
    {%- if execute and flags.WHICH == 'build' and built in selected_resources -%}
        {{- return("load_id = '" ~ invocation_id ~ "'") -}}
    {%- endif -%}
    {{- return('true') -}}
{%- endmacro %}


{#-
    The same rows widened to the partitions of `partition_column` they fall in, as a literal
    list that prunes partitions: a key whose duplicates always share a partition (bronze's
    event_id hashes the file name and the line, and the line holds the event date) is unique
    in the whole table when it is unique in the partitions that received new rows. `false`
    when the build appended nothing.
-#}
{% macro partitions_loaded_by_this_build(relation, partition_column) -%}
    {%- set loaded = loaded_by_this_build(relation) -%}
    {%- if loaded == 'true' -%}
        {{- return('true') -}}
    {%- endif -%}
    {%- set values = run_query(
        'select distinct cast(' ~ partition_column ~ ' as string) from ' ~ relation
        ~ ' where ' ~ loaded
    ).rows | map(attribute=0) | list -%}
    {{- return(partitions_in(partition_column, values)) -}}
{%- endmacro %}


{#-
    For a table rewritten by partition (the silver daily aggregates: insert_overwrite by
    event_date) and so without a load_id: the partitions of the files written since this
    invocation started, as a literal list that prunes partitions. A key whose duplicates always
    share a partition is unique in the whole table when it is unique in the partitions this
    build rewrote (the others were tested by the build that wrote them, and OPTIMIZE only moves
    their rows). `false` when the build wrote no file; `true` outside a build of the table.
    Read from the table's Delta log (adapter.delta_partitions_written_since: no query), else
    asked of the server from its files' `_metadata.file_modification_time` (a scan of every
    file). Assumes the server's clock agrees with dbt's to within the time between the
    invocation's start and the table's write.
-#}
{% macro partitions_written_by_this_build(relation, partition_column) -%}
    {%- set built = 'model.' ~ project_name ~ '.' ~ relation.identifier -%}
    {%- if not (execute and flags.WHICH == 'build' and built in selected_resources) -%}
        {{- return('true') -}}
    {%- endif -%}
    {%- set values = adapter.delta_partitions_written_since(
        adapter.warehouse_dir(), relation.schema, relation.identifier, run_started_at,
        partition_column) -%}
    {%- if values is none -%}
        {%- set since = run_started_at.strftime('%Y-%m-%d %H:%M:%S') ~ '+00:00' -%}
        {%- set values = run_query(
            'select distinct cast(' ~ partition_column ~ ' as string) from ' ~ relation
            ~ " where _metadata.file_modification_time >= timestamp'" ~ since ~ "'"
        ).rows | map(attribute=0) | list -%}
    {%- endif -%}
    {{- return(partitions_in(partition_column, values)) -}}
{%- endmacro %}


{#-
    A predicate on a date partition column that selects `values` (strings; none for a null
    partition) as a literal list that prunes partitions; `false` for no value.
-#}
{% macro partitions_in(partition_column, values) -%}
    {%- set dates = values | reject('none') | list -%}
    {%- set parts = [] -%}
    {%- if dates -%}
        {%- do parts.append(partition_column ~ " in (date'" ~ dates | join("', date'") ~ "')") -%}
    {%- endif -%}
    {%- if none in values -%}
        {%- do parts.append(partition_column ~ ' is null') -%}
    {%- endif -%}
    {{- return(parts | join(' or ') if parts else 'false') -}}
{%- endmacro %}


{#-
    The rows a data test of `relation` reads, as a SQL predicate: with `loaded_rows_only` the
    rows this build appended (loaded_by_this_build), with `partition_column` the partitions
    this build rewrote (partitions_written_by_this_build), else every row.
-#}
{% macro rows_a_test_reads(relation, loaded_rows_only=false, partition_column=none) -%}
    {%- if loaded_rows_only -%}
        {{- return(loaded_by_this_build(relation)) -}}
    {%- elif partition_column -%}
        {{- return(partitions_written_by_this_build(relation, partition_column)) -}}
    {%- endif -%}
    {{- return('true') -}}
{%- endmacro %}
