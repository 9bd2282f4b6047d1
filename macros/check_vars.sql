{#-
    on-run-start hook: fails the invocation with a clear message, before any table is touched,
    when a date var is not a real YYYY-MM-DD date, a number of days is not a whole number, the
    windows are out of order or overlap, train_ratio is not strictly between 0 and 1,
    max_reject_rate is not a share or reject_rate_severity not error or warn, purchase_value
    and contact_cost are not both positive numbers (or both null), purchase_threshold is not
    null or a probability, gate_min_improvement is not null or a number >= 0, a sample size
    (propensity_tuning_max_users, recommender_eval_max_users) or a cadence
    (recommender_compare_every_days, propensity_search_every_days) is not a whole number, or the landing folder does not exist (asked of the server, so it
    holds for object storage too).
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
    {%- for name, check in [('retrain_every_days', 'whole'), ('retrain_max_psi', 'positive')] -%}
        {%- set value = var(name) | string -%}
        {%- set ok = modules.re.fullmatch('[1-9][0-9]{0,3}', value) if check == 'whole'
            else (value | float(-1)) > 0 -%}
        {%- if not ok -%}
            {{ exceptions.raise_compiler_error(
                "var '" ~ name ~ "' must be "
                ~ ('a whole number of days from 1 to 9999' if check == 'whole'
                   else 'a number above 0') ~ ", got '" ~ value ~ "'"
            ) }}
        {%- endif -%}
    {%- endfor -%}
    {%- for name in ['propensity_tuning_max_users', 'recommender_eval_max_users'] -%}
        {%- if not modules.re.fullmatch('[0-9]{1,9}', var(name) | string) -%}
            {{ exceptions.raise_compiler_error(
                "var '" ~ name ~ "' must be a whole number of users, 0 or more (0: no sample),"
                ~ " got '" ~ var(name) ~ "'"
            ) }}
        {%- endif -%}
    {%- endfor -%}
    {%- set cadences = {
        'recommender_compare_every_days': 'compare every method',
        'propensity_search_every_days': 'search the whole grid',
    } -%}
    {%- for name, what in cadences.items() -%}
        {%- if not modules.re.fullmatch('[0-9]{1,4}', var(name) | string) -%}
            {{ exceptions.raise_compiler_error(
                "var '" ~ name ~ "' must be a whole number of days from 0 to 9999"
                ~ " (0: " ~ what ~ " on every retraining), got '" ~ var(name) ~ "'"
            ) }}
        {%- endif -%}
    {%- endfor -%}
    {%- set min_auc = var('retrain_min_auc') -%}
    {%- if min_auc is not none and not (0 < (min_auc | string | float(-1)) <= 1) -%}
        {{ exceptions.raise_compiler_error(
            "var 'retrain_min_auc' must be a number above 0 and at most 1 (or null: realised"
            ~ " quality never retrains), got '" ~ min_auc ~ "'"
        ) }}
    {%- endif -%}
    {%- set given = [] -%}
    {%- for name in ['purchase_value', 'contact_cost'] -%}
        {%- set value = var(name) -%}
        {%- if value is not none -%}
            {%- do given.append(name) -%}
            {%- if not ((value | string | float(-1)) > 0) -%}
                {{ exceptions.raise_compiler_error(
                    "var '" ~ name ~ "' must be a number above 0 (or null), got '" ~ value ~ "'"
                ) }}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if given | length == 1 -%}
        {{ exceptions.raise_compiler_error(
            "vars 'purchase_value' and 'contact_cost' set the expected-profit threshold together:"
            ~ " give both, or neither for the F1 rule (only " ~ given[0] ~ " was given)"
        ) }}
    {%- endif -%}
    {%- set min_gain = var('gate_min_improvement') -%}
    {%- if min_gain is not none and not ((min_gain | string | float(-1)) >= 0) -%}
        {{ exceptions.raise_compiler_error(
            "var 'gate_min_improvement' must be a number of AUC-PR points, 0 or more (or null"
            ~ " for the bootstrap margin), got '" ~ min_gain ~ "'"
        ) }}
    {%- endif -%}
    {%- set threshold = var('purchase_threshold') -%}
    {%- if threshold is not none and not (0 <= (threshold | string | float(-1)) <= 1) -%}
        {{ exceptions.raise_compiler_error(
            "var 'purchase_threshold' must be a probability between 0 and 1 (or null for the"
            ~ " threshold chosen on validation), got '" ~ threshold ~ "'"
        ) }}
    {%- endif -%}
    {%- if var('als_params', none) is not none -%}
        {{ exceptions.raise_compiler_error(
            "var 'als_params' is replaced by 'als_grid', a grid of lists tried on validation,"
            ~ " for example {rank: [64], maxIter: [10], regParam: [0.1], alpha: [1.0]}"
        ) }}
    {%- endif -%}
    {%- for name, values in var('als_grid').items() -%}
        {%- if values is string or values is not iterable or values | length == 0 -%}
            {{ exceptions.raise_compiler_error(
                "var 'als_grid' maps each ALS parameter to a non-empty list of values; "
                ~ name ~ " is '" ~ values ~ "'"
            ) }}
        {%- endif -%}
    {%- endfor -%}
    {%- set max_rate = var('max_reject_rate') | string -%}
    {%- if not (0 <= (max_rate | float(-1)) <= 1) -%}
        {{ exceptions.raise_compiler_error(
            "var 'max_reject_rate' must be a share between 0 and 1, got '" ~ max_rate ~ "'"
        ) }}
    {%- endif -%}
    {%- if var('reject_rate_severity') not in ('error', 'warn') -%}
        {{ exceptions.raise_compiler_error(
            "var 'reject_rate_severity' must be error or warn, got '"
            ~ var('reject_rate_severity') ~ "'"
        ) }}
    {%- endif -%}
    {%- set landing = landing_dir() -%}
    {%- if not adapter.path_exists(landing) -%}
        {{ exceptions.raise_compiler_error(
            "the landing folder '" ~ landing ~ "' does not exist: run `lakehouse generate` "
            ~ "(or `make run`), or set LAKEHOUSE_LANDING_DIR to the folder of the event files"
        ) }}
    {%- endif -%}
    {{ log('Run date ' ~ dates.run_date.date() ~ ': training features from '
           ~ dates.observation_start.date() ~ ' to ' ~ dates.observation_end.date()
           ~ ', label from ' ~ dates.prediction_start.date() ~ ' to '
           ~ dates.prediction_end.date() ~ '; scoring features from '
           ~ dates.scoring_start.date() ~ ' to ' ~ dates.scoring_end.date()
           ~ ', predicting ' ~ dates.forecast_start.date() ~ ' to '
           ~ dates.forecast_end.date() ~ '; recommendation cutoff '
           ~ dates.recommendation_cutoff.date(), info=true) }}
    {{- check_windows_against_data(dates) -}}
{%- endmacro %}


{#-
    Part of check_vars, before any table is touched: compares the run's windows with the
    dates the files loaded so far cover (the load audit), and says in one line each window
    that holds none of them, with the var to change. Files not loaded yet may still fill a
    window, so this only warns; the ML models stop or keep their champion on the real check
    (ml_run_windows). Says nothing before the first load.
-#}
{% macro check_windows_against_data(dates) -%}
    {%- set audit = adapter.get_relation(
        database=none, schema=generate_schema_name('bronze', none) | trim,
        identifier='brz_file_loads') -%}
    {%- if audit is none -%}{{ return('') }}{%- endif -%}
    {%- set row = run_query(
        'select cast(min(first_event_date) as string), cast(max(last_event_date) as string)'
        ~ ' from ' ~ audit ~ " where load_status = 'loaded'").rows[0] -%}
    {%- if row[0] is none -%}{{ return('') }}{%- endif -%}
    {%- set first = modules.datetime.datetime.strptime(row[0], '%Y-%m-%d') -%}
    {%- set last = modules.datetime.datetime.strptime(row[1], '%Y-%m-%d') -%}
    {%- for name, start, end in [
            ('training window', dates.observation_start, dates.observation_end),
            ('label window', dates.prediction_start, dates.prediction_end),
            ('scoring window', dates.scoring_start, dates.scoring_end)] -%}
        {%- if end < first or start > last -%}
            {{ log('Run date ' ~ dates.run_date.date() ~ ': the ' ~ name ~ ' (' ~ start.date()
                   ~ ' to ' ~ end.date() ~ ') lies outside the loaded data (' ~ first.date()
                   ~ ' to ' ~ last.date() ~ '): change run_date, observation_days or'
                   ~ ' prediction_days, or land files for those dates', info=true) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return('') }}
{%- endmacro %}
