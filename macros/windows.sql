{#-
    The windows of a run, as dates, all counted from `run_date` (the last day of data the run
    is for; the daily schedule passes it). Two feature snapshots, each `observation_days` long:
    - training: features observation_start..observation_end, then the label window
      prediction_start..prediction_end, the `prediction_days` days ending on run_date;
    - scoring: features scoring_start..scoring_end (= run_date), predicting
      forecast_start..forecast_end, the `prediction_days` days after run_date.
    Recommendations are evaluated on the last `recommendation_holdout_days` days
    (recommendation_cutoff is the first of them), and their methods and settings chosen on as
    many days before the cutoff (recommendation_validation_start..recommendation_validation_end). The defaults (run_date 2019-11-30,
    31 / 30 / 15 days) train on October's features and November's purchases, score on the
    31 days to 2019-11-30, and cut recommendations at 2019-11-16. Any training-side date can
    still be set as a var of its own name (observation_start, observation_end,
    prediction_start, prediction_end, recommendation_cutoff), which wins over the derived one.
    Returns {name: datetime} or raises a compiler error naming the bad var.
-#}
{% macro window_dates() -%}
    {%- set run_date = parse_date_var('run_date') -%}
    {%- set days = {} -%}
    {%- for name in ['observation_days', 'prediction_days', 'recommendation_holdout_days'] -%}
        {%- set value = var(name) | string -%}
        {%- if not modules.re.fullmatch('[1-9][0-9]{0,3}', value) -%}
            {{ exceptions.raise_compiler_error(
                "var '" ~ name ~ "' must be a whole number of days from 1 to 9999, got '"
                ~ value ~ "'"
            ) }}
        {%- endif -%}
        {%- do days.update({name: modules.datetime.timedelta(days=value | int)}) -%}
    {%- endfor -%}
    {%- set one = modules.datetime.timedelta(days=1) -%}
    {%- set derived = {} -%}
    {%- do derived.update({'prediction_end': run_date}) -%}
    {%- do derived.update({'prediction_start': run_date - days.prediction_days + one}) -%}
    {%- do derived.update({'observation_end': derived.prediction_start - one}) -%}
    {%- do derived.update({
        'observation_start': derived.observation_end - days.observation_days + one}) -%}
    {%- do derived.update({
        'recommendation_cutoff': run_date - days.recommendation_holdout_days + one}) -%}
    {%- set dates = {'run_date': run_date} -%}
    {%- for name, value in derived.items() -%}
        {%- do dates.update({
            name: parse_date_var(name) if var(name, none) is not none else value}) -%}
    {%- endfor -%}
    {%- do dates.update({
        'recommendation_validation_start':
            dates.recommendation_cutoff - days.recommendation_holdout_days,
        'recommendation_validation_end': dates.recommendation_cutoff - one,
        'scoring_start': run_date - days.observation_days + one,
        'scoring_end': run_date,
        'forecast_start': run_date + one,
        'forecast_end': run_date + days.prediction_days,
    }) -%}
    {{ return(dates) }}
{%- endmacro %}


{#- A var written YYYY-MM-DD (a real calendar day) as a datetime, or a compiler error. -#}
{% macro parse_date_var(name) -%}
    {%- set value = var(name) | string -%}
    {%- set parsed = none -%}
    {%- if modules.re.fullmatch('\d{4}-\d{2}-\d{2}', value) -%}
        {%- set y, m, d = value[0:4] | int, value[5:7] | int, value[8:10] | int -%}
        {%- if 1 <= m <= 12 and y >= 1 -%}
            {%- set next_month = modules.datetime.datetime(y + 1, 1, 1) if m == 12
                else modules.datetime.datetime(y, m + 1, 1) -%}
            {%- set month_days = (next_month - modules.datetime.timedelta(days=1)).day -%}
            {%- if 1 <= d <= month_days -%}
                {%- set parsed = modules.datetime.datetime(y, m, d) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
    {%- if parsed is none -%}
        {{ exceptions.raise_compiler_error(
            "var '" ~ name ~ "' must be a date written YYYY-MM-DD, got '" ~ value ~ "'"
        ) }}
    {%- endif -%}
    {{ return(parsed) }}
{%- endmacro %}


{#- The date of a window (observation_start, prediction_end, ...) as a SQL date literal. -#}
{% macro window_date(name) -%}
    cast('{{ window_dates()[name].strftime("%Y-%m-%d") }}' as date)
{%- endmacro %}
