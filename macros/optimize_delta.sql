{#-
    Compacts the model's Delta files after a build: `optimize <table> [zorder by (...)]`.
    Used as the project-wide post-hook; returns nothing (a no-op) for views, ephemerals and
    non-Delta tables, so it is safe everywhere.
-#}
{% macro optimize_delta(zorder_by=none) -%}
    {%- set materialized = config.get('materialized') -%}
    {%- set is_delta = config.get('file_format', 'delta') == 'delta' -%}
    {%- if execute and is_delta and materialized in ('table', 'incremental', 'streaming') -%}
        {%- set zorder = ' zorder by (' ~ (zorder_by | join(', ')) ~ ')' if zorder_by else '' -%}
        {{- return('optimize ' ~ this ~ zorder) -}}
    {%- endif -%}
    {{- return('') -}}
{%- endmacro %}
