{#-
    The project-wide post-hook: compacts a Delta table with `OPTIMIZE` [ZORDER BY] where small
    files collect, that is an incremental or streaming table that has reached more than
    var('optimize_min_files') files (each build or micro-batch adds a few). Tables rebuilt
    whole are written compact in the first place (the server enables Delta's optimized
    writes), so for them, for views and below the threshold it renders nothing. Asking costs
    one `describe detail` of the table.
-#}
{% macro optimize_delta(zorder_by=none) -%}
    {%- set materialized = config.get('materialized') -%}
    {%- set is_delta = config.get('file_format', 'delta') == 'delta' -%}
    {%- if execute and is_delta and materialized in ('incremental', 'streaming') -%}
        {%- set files = run_query('describe detail ' ~ this).columns['numFiles'].values()[0] -%}
        {%- if files > var('optimize_min_files') | int -%}
            {%- set zorder = ' zorder by (' ~ (zorder_by | join(', ')) ~ ')'
                if zorder_by else '' -%}
            {{- return('optimize ' ~ this ~ zorder) -}}
        {%- endif -%}
    {%- endif -%}
    {{- return('') -}}
{%- endmacro %}
