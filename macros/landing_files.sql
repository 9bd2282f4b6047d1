{#-
    Post-hook of brz_file_loads: fails the build, naming every landing file that this build
    found changed since it was loaded (a known name with another size or modification time),
    and the two ways out. The audit rows are written first, so the finding is kept.
-#}
{% macro fail_on_changed_landing_files() -%}
    {%- if execute and model.resource_type == 'model' -%}
        {%- set rows = run_query(
            'select source_file, reason from ' ~ this
            ~ " where load_status = 'changed' and load_id = '" ~ invocation_id ~ "'"
            ~ ' order by source_file'
        ) -%}
        {%- if rows | length > 0 -%}
            {%- set names = rows | map(attribute=0) | list -%}
            {{ exceptions.raise_compiler_error(
                'Landing file(s) changed since they were loaded: '
                ~ rows | map('join', ' ') | join('; ')
                ~ '. Their rows stay as first loaded; nothing of them was read again. Either'
                ~ ' restore each file as it was loaded (same content, size and modification'
                ~ ' time), or reload it: dbt run-operation reload_landing_file --args'
                ~ " '{file: " ~ names[0] ~ "}', then dbt build."
            ) }}
        {%- endif -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}


{#-
    `dbt run-operation reload_landing_file --args '{file: <name>}'`: forgets one landing file
    so that the next build loads it again as it is now. Deletes its lines (events and
    quarantined lines) and fingerprint, marks its audit rows `reloaded`, and appends an
    `unloaded` row with the dates its events covered (the silver daily aggregates rebuild
    those dates).
-#}
{% macro reload_landing_file(file) -%}
    {%- set schema = generate_schema_name('bronze', none) | trim -%}
    {%- set name = sql_string(file) -%}
    {%- set known = run_query(
        'select count(*) from ' ~ schema ~ '.brz_file_loads where source_file = ' ~ name
    ).rows[0][0] -%}
    {%- if known == 0 -%}
        {{ exceptions.raise_compiler_error(
            'reload_landing_file: ' ~ file ~ ' was never loaded (not in '
            ~ schema ~ '.brz_file_loads); a build loads it as a new file') }}
    {%- endif -%}
    {%- set dates = run_query(
        'select min(event_date), max(event_date), count(*) from ' ~ schema
        ~ '.brz_event_lines where reject_reason is null and source_file = ' ~ name).rows[0] -%}
    {%- for table in ['brz_event_lines', 'brz_file_contents'] -%}
        {%- do run_query('delete from ' ~ schema ~ '.' ~ table ~ ' where source_file = ' ~ name) -%}
    {%- endfor -%}
    {%- do run_query(
        'update ' ~ schema ~ ".brz_file_loads set load_status = 'reloaded'"
        ~ " where load_status in ('loaded', 'duplicate') and source_file = " ~ name
    ) -%}
    {%- do run_query(
        'insert into ' ~ schema ~ '.brz_file_loads (source_file, load_status, reason,'
        ~ ' first_event_date, last_event_date, loaded_at, load_id) values (' ~ name
        ~ ", 'unloaded', 'reload_landing_file: forgotten, to be loaded again as it is now', "
        ~ ("date'" ~ dates[0] ~ "'" if dates[0] else 'null') ~ ', '
        ~ ("date'" ~ dates[1] ~ "'" if dates[1] else 'null')
        ~ ", current_timestamp(), '" ~ invocation_id ~ "')"
    ) -%}
    {{ log('reload_landing_file: removed ' ~ dates[2] ~ ' events of ' ~ file
           ~ '; the next dbt build loads it again', info=true) }}
{%- endmacro %}


{#-
    Post-hook of brz_landing_files: checks each new file before any line of it is loaded.
    A gzip file is read to its end on the server; one it cannot read (corrupt or truncated) is
    marked `unreadable` with the error, not loaded (brz_file_loads records it as
    `unreadable_file`), and the build goes on with the others; a later build tries it again.
    (A plain file's bytes always read as text: a bad line is quarantined by the parser.)
    Every readable new file is then scanned on this machine, in blocks, for lines longer than
    the server's bound (LAKEHOUSE_MAX_LINE_BYTES), which its reader skips: they are kept in
    `long_lines` (number, length, first bytes) for bronze to quarantine as line_too_long.
-#}
{% macro inspect_new_landing_files() -%}
    {%- if execute and model.resource_type == 'model' -%}
        {%- set rows = run_query(
            'select source_file, file_path from ' ~ this
            ~ " where load_status = 'new' order by source_file"
        ) -%}
        {%- for row in rows -%}
            {%- set error = adapter.read_error(row[1]) if row[0].endswith('.gz') else '' -%}
            {%- if error -%}
                {%- do run_query(
                    'update ' ~ this ~ " set load_status = 'unreadable', read_error = "
                    ~ sql_string(error) ~ ' where source_file = ' ~ sql_string(row[0])
                ) -%}
                {{ log('Landing file ' ~ row[0] ~ ' cannot be read and is not loaded'
                       ~ ' (brz_file_loads: unreadable_file): ' ~ error, info=true) }}
            {%- else -%}
                {%- set found = adapter.long_lines(row[1]) -%}
                {%- if found is none -%}
                    {{ log('Landing file ' ~ row[0] ~ ' not scanned for long lines (not a'
                           ~ ' local file, or the server sets no line bound)', info=true) }}
                {%- elif found -%}
                    {%- set structs = [] -%}
                    {%- for line in found -%}
                        {%- do structs.append(
                            "named_struct('line_number', cast(" ~ line.line_number
                            ~ " as bigint), 'line_bytes', cast(" ~ line.line_bytes
                            ~ " as bigint), 'line_start', " ~ sql_string(line.start) ~ ")"
                        ) -%}
                    {%- endfor -%}
                    {%- do run_query(
                        'update ' ~ this ~ ' set long_lines = array(' ~ structs | join(', ')
                        ~ ') where source_file = ' ~ sql_string(row[0])
                    ) -%}
                    {{ log('Landing file ' ~ row[0] ~ ': ' ~ found | length ~ ' line(s) longer'
                           ~ ' than the line bound, quarantined as line_too_long (lines '
                           ~ found | map(attribute='line_number') | join(', ') ~ ')',
                           info=true) }}
                {%- endif -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}
