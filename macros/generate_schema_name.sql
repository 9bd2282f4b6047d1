{#-
    Schema strategy: the layer folder is the schema. A model in models/silver lands in `silver`,
    whatever the target, so `select * from gold.<model>` works in every SQL client. Set
    LAKEHOUSE_SCHEMA_PREFIX (e.g. `ci_`, `alice_`) to give a run its own set of schemas on a shared
    server; models without a layer fall back to the target's schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set prefix = env_var('LAKEHOUSE_SCHEMA_PREFIX', '') -%}
    {%- if custom_schema_name is none -%}
        {{ prefix }}{{ target.schema | trim }}
    {%- else -%}
        {{ prefix }}{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
