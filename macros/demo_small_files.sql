{#-
    The small-file problem and its fix, reproducibly:

        dbt run-operation demo_small_files --args '{batches: 40, rows_per_batch: 250}'

    Appends `batches` tiny batches of bronze events to a fresh Delta table (one or more files
    each, as a streaming or micro-batch writer would), measures its file count and the time of
    a query that filters by user, runs `OPTIMIZE ... ZORDER BY (user_id)`, and measures again.
    The figures go to the log and to `<bronze>.demo_small_files_results`; DESCRIBE HISTORY of
    `<bronze>.demo_small_files` shows the WRITE commits and the OPTIMIZE that compacted them.
-#}
{% macro demo_small_files(batches=40, rows_per_batch=250) -%}
    {%- set schema = env_var('LAKEHOUSE_SCHEMA_PREFIX', '') ~ 'bronze' -%}
    {%- set demo = schema ~ '.demo_small_files' -%}
    {%- set results = schema ~ '.demo_small_files_results' -%}
    {%- set events = ref('brz_events') -%}
    {%- do run_query('drop table if exists ' ~ demo) -%}
    {%- do run_query(
        'create table ' ~ demo ~ ' (event_id string, user_id bigint, product_id bigint,'
        ~ ' event_type string, price decimal(10, 2), event_time timestamp) using delta'
    ) -%}
    {%- for i in range(batches) -%}
        {%- do run_query(
            'insert into ' ~ demo ~ ' select event_id, user_id, product_id, event_type, price,'
            ~ ' event_time from ' ~ events ~ ' where pmod(hash(event_id), ' ~ batches ~ ') = ' ~ i
            ~ ' limit ' ~ rows_per_batch
        ) -%}
    {%- endfor -%}
    {%- set probe_user = run_query(
        'select user_id from ' ~ demo ~ ' group by user_id order by count(*) desc limit 1'
    ).rows[0][0] -%}
    {%- set before = _small_files_measure(demo, probe_user) -%}
    {%- do run_query('optimize ' ~ demo ~ ' zorder by (user_id)') -%}
    {%- set after = _small_files_measure(demo, probe_user) -%}
    {%- do run_query(
        'create or replace table ' ~ results ~ ' using delta as select * from values'
        ~ " ('before_optimize', " ~ before.files ~ ', ' ~ before.bytes ~ ', ' ~ before.seconds ~ ')'
        ~ ", ('after_optimize', " ~ after.files ~ ', ' ~ after.bytes ~ ', ' ~ after.seconds ~ ')'
        ~ ' as t(stage, num_files, size_bytes, query_seconds)'
    ) -%}
    {%- set history = run_query('describe history ' ~ demo) -%}
    {{ log('Small files on ' ~ demo ~ ' (' ~ batches ~ ' appends of ' ~ rows_per_batch
        ~ ' rows; query: filter one user):', info=true) }}
    {{ log('  before OPTIMIZE: ' ~ before.files ~ ' files, ' ~ before.bytes ~ ' bytes, query '
        ~ before.seconds ~ ' s', info=true) }}
    {{ log('  after OPTIMIZE ZORDER BY (user_id): ' ~ after.files ~ ' files, ' ~ after.bytes
        ~ ' bytes, query ' ~ after.seconds ~ ' s', info=true) }}
    {%- for row in history.rows[:3] %}
        {{ log('  history v' ~ row['version'] ~ ' ' ~ row['operation'], info=true) }}
    {%- endfor %}
{%- endmacro %}


{#- File count, size, and the best of three timings of a one-user query. -#}
{% macro _small_files_measure(table, user_id) -%}
    {%- set detail = run_query('describe detail ' ~ table).rows[0] -%}
    {%- set timings = [] -%}
    {%- for _ in range(3) -%}
        {%- set started = modules.datetime.datetime.now() -%}
        {%- do run_query(
            'select count(*), sum(price) from ' ~ table ~ ' where user_id = ' ~ user_id
        ) -%}
        {%- do timings.append((modules.datetime.datetime.now() - started).total_seconds()) -%}
    {%- endfor -%}
    {{ return({
        'files': detail['numFiles'],
        'bytes': detail['sizeInBytes'],
        'seconds': (timings | min) | round(3),
    }) }}
{%- endmacro %}
