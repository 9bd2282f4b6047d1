-- A table of a few rows: every ML model and test of the run reads it, and as a view each read
-- re-summed the daily activity of every window (3 to 5 s a read at 1 M events). Its not_null
-- rules are the row_rules test (recreating a table with constraints costs seconds per run).
{{ config(materialized='table', contract={'enforced': true}) }}

-- The windows of this run date against the data: for each window, its dates and what the
-- silver daily activity holds in it. The ML models read it to stop, or keep their champion,
-- with a message naming the dates when a window they need is empty.

with

activity as (

    select * from {{ ref('slv_user_daily_activity') }}

),

windows as (

    {%- set windows = [
        ('training_features', 'observation_start', 'observation_end'),
        ('training_label', 'prediction_start', 'prediction_end'),
        ('scoring_features', 'scoring_start', 'scoring_end'),
        ('forecast', 'forecast_start', 'forecast_end'),
        ('recommendation_validation', 'recommendation_validation_start',
         'recommendation_validation_end'),
        ('recommendation_holdout', 'recommendation_cutoff', 'run_date'),
    ] %}
    {% for name, start, end in windows -%}
        select
            '{{ name }}' as window_name,
            {{ window_date(start) }} as start_date,
            {{ window_date(end) }} as end_date
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

coverage as (

    select
        min(event_date) as data_first_date,
        max(event_date) as data_last_date
    from activity

),

in_windows as (

    select
        windows.window_name,
        count(distinct activity.user_id) as n_users,
        coalesce(sum(activity.n_events), 0) as n_events,
        coalesce(sum(activity.n_purchases), 0) as n_purchases
    from windows
    left join activity
        on
            windows.start_date <= activity.event_date
            and windows.end_date >= activity.event_date
    group by windows.window_name

),

final as (

    select
        -- ids
        windows.window_name,

        -- the window
        {{ window_date('run_date') }} as run_date,
        windows.start_date,
        windows.end_date,

        -- what the data holds in it
        in_windows.n_users,
        in_windows.n_events,
        in_windows.n_purchases,
        coverage.data_first_date,
        coverage.data_last_date

    from windows
    inner join in_windows on windows.window_name = in_windows.window_name
    cross join coverage

)

select * from final
