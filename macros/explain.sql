{#-
    Prints Spark's physical plan of a model or a query:

        dbt run-operation explain --args '{model: ml_user_scoring_set}'
        dbt run-operation explain --args '{query: "select * from bronze.brz_events where event_date = date(\"2019-10-05\")"}'

    For a model, its SQL is rendered here (refs, sources and vars resolved as in a build; an
    incremental model is explained as its full build). `mode` is one of formatted (the
    default), extended, cost or codegen. Python models have no SQL: their plans are in the
    Spark UI's SQL tab.
-#}
{% macro explain(model=none, query=none, mode='formatted') -%}
    {%- if (model is none) == (query is none) -%}
        {{ exceptions.raise_compiler_error("explain needs exactly one of `model` or `query`") }}
    {%- endif -%}
    {%- if mode not in ['formatted', 'extended', 'cost', 'codegen'] -%}
        {{ exceptions.raise_compiler_error(
            "explain: mode must be formatted, extended, cost or codegen, got '" ~ mode ~ "'") }}
    {%- endif -%}
    {%- if model is not none -%}
        {%- set nodes = graph.nodes.values()
            | selectattr('resource_type', 'equalto', 'model')
            | selectattr('name', 'equalto', model) | list -%}
        {%- if not nodes -%}
            {{ exceptions.raise_compiler_error("explain: no model named '" ~ model ~ "'") }}
        {%- endif -%}
        {%- if nodes[0].language != 'sql' -%}
            {{ exceptions.raise_compiler_error(
                "explain: " ~ model ~ " is a Python model; see its plan in the Spark UI (SQL tab)") }}
        {%- endif -%}
        {%- set query = render(nodes[0].raw_code.replace('is_incremental()', 'false')) -%}
    {%- endif -%}
    {%- set plan = run_query('explain ' ~ mode ~ ' ' ~ query).columns[0].values()[0] -%}
    {{ print(plan) }}
{%- endmacro %}
