{#-
    on-run-start hook: fails the invocation with a clear message, before any table is touched,
    when a date var is not a real YYYY-MM-DD date, a number of days is not a whole number, the
    windows are out of order or overlap, train_ratio is not strictly between 0 and 1, or the
    landing folder does not exist (asked of the server, so it holds for object storage too).
    Returns no SQL.
-#}
{% macro check_vars() -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set dates = window_dates() -%}
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
    {%- set landing = landing_dir() -%}
    {%- if not adapter.path_exists(landing) -%}
        {{ exceptions.raise_compiler_error(
            "the landing folder '" ~ landing ~ "' does not exist: run `lakehouse generate` "
            ~ "(or `make run`), or set LAKEHOUSE_LANDING_DIR to the folder of the event files"
        ) }}
    {%- endif -%}
    {{ log('Run date ' ~ dates.run_date.date() ~ ': features from '
           ~ dates.observation_start.date() ~ ' to ' ~ dates.observation_end.date()
           ~ ', label from ' ~ dates.prediction_start.date() ~ ' to '
           ~ dates.prediction_end.date() ~ ', recommendation cutoff '
           ~ dates.recommendation_cutoff.date(), info=true) }}
{%- endmacro %}
