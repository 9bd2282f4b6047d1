-- noqa: disable=LT02
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


{#- `value` as a single-quoted Spark SQL string literal (quotes and backslashes escaped). -#}
{% macro sql_string(value) -%}
    '{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}


{#-
    Declares the landing table, run by `on-run-start`: `event_files` is an external binaryFile
    table over the folder, of which bronze reads only the listing (path, size, modification
    time; never the content), so choosing which files to load costs no read of any file.
    Created when missing or when LAKEHOUSE_LANDING_DIR points elsewhere, refreshed otherwise
    (a running build never sees its table dropped); dropping an external table never deletes
    its files.
-#}
{% macro create_landing_tables() -%}
    {%- if execute -%}
        {%- set schema = landing_schema() -%}
        {%- set location = landing_dir() -%}
        {%- do run_query('create schema if not exists ' ~ schema) -%}
        {%- set existing = adapter.get_relation(
            database=none, schema=schema, identifier='event_files') -%}
        {%- set current = none -%}
        {%- if existing is not none -%}
            {%- for row in run_query('describe table extended ' ~ schema ~ '.event_files') -%}
                {%- if row[0] == 'Location' -%}{%- set current = row[1] -%}{%- endif -%}
            {%- endfor -%}
        {%- endif -%}
        {%- if current is none or current.rstrip('/').split(':')[-1]
                != location.rstrip('/').split(':')[-1] -%}
            {%- do run_query('drop table if exists ' ~ schema ~ '.event_files') -%}
            {%- do run_query(
                'create table ' ~ schema ~ '.event_files using binaryFile'
                ~ " options (pathGlobFilter '{*.csv,*.csv.gz}')"
                ~ ' location ' ~ sql_string(location)
            ) -%}
        {%- else -%}
            {%- do run_query('refresh table ' ~ schema ~ '.event_files') -%}
        {%- endif -%}
        {{ log('Landing folder: ' ~ location, info=true) }}
    {%- endif -%}
{%- endmacro %}


{#-
    The landing files this build loads: the rows of brz_landing_files whose status is `new`,
    as a list of {name, path, folder} (empty at parse time). Asked when the model that reads
    them runs, after brz_landing_files was built in the same invocation.
-#}
{% macro landing_files_to_load() -%}
    {%- set plan = ref('brz_landing_files') -%}  {#- at parse time too: the DAG edge -#}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set rows = run_query(
        'select source_file, file_path from ' ~ plan
        ~ " where load_status = 'new' order by file_modified_at, source_file"
    ) -%}
    {%- set files = [] -%}
    {%- for row in rows -%}
        {%- do files.append({
            'name': row[0], 'path': row[1], 'folder': row[1][:-(row[0] | length) - 1]}) -%}
    {%- endfor -%}
    {{ return(files) }}
{%- endmacro %}


{#-
    The lines of the files this build loads (landing_files_to_load), read by their paths: one
    scan per folder, a glob that names exactly those files (`dir/{a.csv,b.csv.gz}`, special
    characters escaped), so the server plans one relation and packs small files into few
    tasks (61 day files: 2 s, against 7 to 14 s for a union of 61 one-file scans). Columns
    `line`, `source_file`, `file_size`, `file_modified_at` (as read: the listing's values
    unless the file changed since), `is_too_long`; no rows when no file is new. The server's
    reader skips a line longer than its bound; such a line is one row too, from
    brz_landing_files.long_lines: its start, number and length.
-#}
{% macro read_landing_files() -%}
    {%- set files = landing_files_to_load() -%}
    {%- for folder, in_folder in files | groupby('folder') -%}
        {%- set names = [] -%}
        {%- for file in in_folder -%}
            {%- do names.append(glob_literal(file.name)) -%}
        {%- endfor -%}
        select
            value as line,
            -- the reader gives the name URL-encoded (a space as %20; a literal + stays +)
            url_decode(replace(_metadata.file_name, '+', '%2B')) as source_file,
            _metadata.file_size as file_size,
            _metadata.file_modification_time as file_modified_at,
            false as is_too_long
        from text.`{{ (glob_literal(folder) ~ '/{' ~ names | join(',') ~ '}') | replace('`', '``') }}`
        union all
    {% endfor -%}
        {#- the lines the reader skipped as too long: their start, number and length -#}
        select
            concat(
                long_line.line_start, '... (line ', long_line.line_number, ', ',
                long_line.line_bytes, ' bytes: not read)'
            ) as line,
            source_file,
            file_size,
            file_modified_at,
            true as is_too_long
        from {{ ref('brz_landing_files') }}
        lateral view explode(long_lines) as long_line
        where load_status = 'new'
{%- endmacro %}


{#-
    `name` (a file or folder path) as a literal in a Hadoop glob: each character that can open
    a pattern (backslash, braces, brackets, star, question mark, comma) escaped with a
    backslash.
-#}
{% macro glob_literal(name) -%}
    {%- set out = [] -%}
    {%- for char in name -%}
        {%- do out.append('\\' ~ char if char in '\\{}[]*?,' else char) -%}
    {%- endfor -%}
    {{ return(out | join('')) }}
{%- endmacro %}


{#-
    The audit's latest word on each landing file name: `source_file`, `load_status` (loaded,
    duplicate or unloaded), and the size and modification time it had; no rows before the
    first load or on a full refresh (every file is then new). The audit is built from the
    models that call this, so it is looked up by name, not ref'd.
-#}
{% macro latest_file_loads() -%}
    {%- set audit = adapter.get_relation(
        database=this.database, schema=this.schema, identifier='brz_file_loads'
    ) if execute else none -%}
    {%- if audit is not none and not flags.FULL_REFRESH -%}
        select
            source_file,
            load_status,
            file_size,
            file_modified_at
        from {{ audit }}
        where load_status in ('loaded', 'duplicate', 'unloaded')
        qualify row_number() over (partition by source_file order by loaded_at desc) = 1
    {%- else -%}
        select
            cast(null as string) as source_file,
            cast(null as string) as load_status,
            cast(null as bigint) as file_size,
            cast(null as timestamp) as file_modified_at
        where false
    {%- endif -%}
{%- endmacro %}


{#-
    The filter of brz_event_lines on brz_landed_lines: the files of this build that it parses,
    as `source_file in ('a.csv', ...)` (`false` when there is none). Those are the files
    brz_landed_lines reads whose content is not a duplicate (brz_file_contents) and that
    brz_event_lines does not hold yet (after a crash between the two, a rebuild does not load a
    file twice). In a unit test, `true`: the given lines are parsed.
-#}
{% macro landing_files_to_parse() -%}
    {%- set contents = ref('brz_file_contents') -%}
    {%- if execute and model.resource_type == 'unit_test' -%}{{ return('true') }}{%- endif -%}
    {%- set names = landing_files_to_load() | map(attribute='name') | list -%}
    {%- if not names -%}{{ return('false') }}{%- endif -%}
    {%- set listed = [] -%}
    {%- for name in names -%}{%- do listed.append(sql_string(name) | trim) -%}{%- endfor -%}
    {%- set names_in = '(' ~ listed | join(', ') ~ ')' -%}
    {%- set loaded = '' -%}
    {%- if is_incremental() -%}
        {%- set loaded = ' and source_file not in (select distinct t.source_file from '
            ~ this ~ ' as t where t.source_file in ' ~ names_in ~ ')' -%}
    {%- endif -%}
    {%- set rows = run_query(
        'select source_file from ' ~ contents ~ ' where duplicate_of is null'
        ~ ' and source_file in ' ~ names_in ~ loaded
    ) -%}
    {{ return(in_list('source_file', rows | map(attribute=0) | list)) }}
{%- endmacro %}


{#-
    `column in ('a', ...)` for the string `values`, a literal list that Delta prunes files by
    (their column statistics) where a subquery would read every file; `false` for none.
-#}
{% macro in_list(column, values) -%}
    {%- if not values -%}{{ return('false') }}{%- endif -%}
    {%- set quoted = [] -%}
    {%- for value in values -%}{%- do quoted.append(sql_string(value) | trim) -%}{%- endfor -%}
    {{ return(column ~ ' in (' ~ quoted | join(', ') ~ ')') }}
{%- endmacro %}


{#-
    The filter of brz_file_loads on brz_event_lines: `source_file in (...)` for the files of
    brz_file_contents that match `audited` (a predicate: not audited yet), asked when the
    audit runs; `false` when there is none. A literal list lets Delta skip every other load's
    files by their source_file statistics: an `in (select ...)` read all of brz_event_lines
    on every daily run (that aggregate 1.0-1.9 s against 0.23-0.33 s on the 10 M state).
-#}
{% macro files_to_audit(audited) -%}
    {%- if not execute -%}{{ return('false') }}{%- endif -%}
    {%- set rows = run_query(
        'select source_file from ' ~ ref('brz_file_contents') ~ ' where ' ~ audited
    ) -%}
    {{ return(in_list('source_file', rows | map(attribute=0) | list)) }}
{%- endmacro %}
