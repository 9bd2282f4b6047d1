-- noqa: disable=LT02
{#-
    Run by `on-run-start`: repairs the tables of this run whose folder exists in the warehouse
    but whose metastore entry does not. That is what a server killed in the middle of creating
    a table leaves: Delta commits the table's log, then the metastore entry, and the kill fell
    between the two (or before the commit: only data files). Left alone, the next build fails
    on that name ("not empty and also not a Delta table", LOCATION_ALREADY_EXISTS).
    The folder is moved aside to `orphaned/` beside the warehouse (kept, never deleted), and
    the build creates the table afresh from its sources. That is the whole repair because an
    entry goes missing only when a table is first created: nothing downstream has recorded
    its rows yet (the load audit, for one, is written after bronze's tables), so a rebuild
    loads them again, once. (Registering the folder as it is would make an external table,
    which dbt's drop-and-create of seeds cannot replace.)
    Only the models and seeds this run selects are checked: a look at a local folder each.
-#}
{% macro repair_orphaned_tables() -%}
    {%- if execute -%}
        {%- set warehouse = run_query('set spark.sql.warehouse.dir').rows[0][1] -%}
        {%- for node in graph.nodes.values()
                if node.unique_id in selected_resources
                and node.resource_type in ('model', 'seed')
                and node.config.materialized not in ('view', 'ephemeral') -%}
            {%- set folder = adapter.orphan_candidate(warehouse, node.schema, node.alias) -%}
            {%- if folder and adapter.get_relation(
                    database=node.database, schema=node.schema, identifier=node.alias) is none -%}
                {%- set moved = adapter.move_aside(folder.path) -%}
                {{ log('Repaired ' ~ node.schema ~ '.' ~ node.alias ~ ': its folder had no'
                       ~ ' metastore entry (a crash while the table was created; '
                       ~ ('its Delta log had committed' if folder.is_delta
                          else 'no Delta commit, only data files')
                       ~ '). Moved to ' ~ moved ~ '; the table is built afresh.', info=true) }}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
