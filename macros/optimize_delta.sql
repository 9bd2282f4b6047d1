{#-
    Compacts the model's Delta files after a build: `optimize <table> [zorder by (...)]`.
    Used as the project-wide post-hook; returns nothing (a no-op) for views, ephemerals and
    non-Delta tables, so it is safe everywhere.
-#}
{% macro optimize_delta(zorder_by=none) -%}
    {%- set materialized = config.get('materialized') -%}
    {%- set file_format = config.get('file_format', 'delta') -%}
    {%- if execute and materialized in ('table', 'incremental') and file_format == 'delta' -%}
        optimize {{ this }}
        {%- if zorder_by %} zorder by ({{ zorder_by | join(', ') }}){% endif %}
    {%- endif -%}
{%- endmacro %}
