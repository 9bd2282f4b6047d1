{#-
    on-run-start hook: fails the invocation with a clear message, before any table is touched,
    when a date var is not an ISO date (YYYY-MM-DD), the windows are out of order or overlap,
    or train_ratio is not strictly between 0 and 1. Returns no SQL.
-#}
{% macro check_vars() -%}
    {%- set names = [
        'observation_start', 'observation_end', 'prediction_start', 'prediction_end',
        'recommendation_cutoff',
    ] -%}
    {%- set dates = {} -%}
    {%- for name in names -%}
        {%- set value = var(name) | string -%}
        {%- set parsed = modules.re.fullmatch('\d{4}-\d{2}-\d{2}', value) -%}
        {%- if parsed -%}
            {%- set parsed = modules.datetime.datetime.strptime(value, '%Y-%m-%d')
                if value[5:7] | int in range(1, 13) and value[8:10] | int in range(1, 32)
                else none -%}
        {%- endif -%}
        {%- if not parsed -%}
            {{ exceptions.raise_compiler_error(
                "var '" ~ name ~ "' must be a date written YYYY-MM-DD, got '" ~ value ~ "'"
            ) }}
        {%- endif -%}
        {%- do dates.update({name: parsed}) -%}
    {%- endfor -%}
    {%- if not (dates.observation_start <= dates.observation_end < dates.prediction_start
                <= dates.prediction_end) -%}
        {{ exceptions.raise_compiler_error(
            'the windows must satisfy observation_start <= observation_end < prediction_start'
            ~ ' <= prediction_end (features never read the label window); got '
            ~ dates.observation_start.date() ~ '..' ~ dates.observation_end.date()
            ~ ' and ' ~ dates.prediction_start.date() ~ '..' ~ dates.prediction_end.date()
        ) }}
    {%- endif -%}
    {%- set ratio = var('train_ratio') -%}
    {%- set ratio_number = ratio | float(-1) -%}
    {%- if not (0 < ratio_number < 1) -%}
        {{ exceptions.raise_compiler_error(
            "var 'train_ratio' must be a number strictly between 0 and 1, got '" ~ ratio ~ "'"
        ) }}
    {%- endif -%}
{%- endmacro %}
