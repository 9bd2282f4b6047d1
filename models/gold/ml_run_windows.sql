-- A table of a few rows: every ML model and test of the run reads it, and as a view each read
-- re-summed the daily activity of every window (3 to 5 s a read at 1 M events). Its not_null
-- rules are the row_rules test (recreating a table with constraints costs seconds per run).
{{ config(materialized='table', contract={'enforced': true}) }}

-- It reads only slv_user_daily_activity; the ref below orders it. dbt starts the ready node of
-- the shallowest depth first, and beside the daily aggregates this node held a thread for its 4
-- to 5 s while their tests, which the scoring snapshot waits for, queued behind it. After
-- slv_product_daily it runs beside the snapshot instead (docs/operations.md, "Cost decisions").
-- depends_on: {{ ref('slv_product_daily') }}

-- The windows of this run date against the data: for each window, its dates and what the
-- silver daily activity holds in it. The ML models read it to stop, or keep their champion,
-- with a message naming the dates when a window they need is empty.

with

activity as (

    select * from {{ ref('slv_user_daily_activity') }}

),

{%- set windows = [
    ('training_features', 'observation_start', 'observation_end'),
    ('training_label', 'prediction_start', 'prediction_end'),
    ('scoring_features', 'scoring_start', 'scoring_end'),
    ('forecast', 'forecast_start', 'forecast_end'),
    ('recommendation_validation', 'recommendation_validation_start',
     'recommendation_validation_end'),
    ('recommendation_holdout', 'recommendation_cutoff', 'run_date'),
] %}
{%- set insides = [] %}
{%- for name, start, end in windows %}
    {%- do insides.append(
        'event_date between ' ~ window_date(start) ~ ' and ' ~ window_date(end)
    ) %}
{%- endfor %}

windows as (

    {% for name, start, end in windows -%}
        select
            '{{ name }}' as window_name,
            {{ window_date(start) }} as start_date,
            {{ window_date(end) }} as end_date
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

-- One pass over the daily activity for every window: per user, whether they were active in
-- each window and their events and purchases there, then one row of totals with the dates the
-- data covers. (A join of the windows to the activity with a count(distinct) per window read
-- every row once per window.)
per_user as (

    select
        {% for inside in insides %}
            max({{ inside }}) as active_{{ loop.index }},
            sum(case when {{ inside }} then n_events else 0 end) as events_{{ loop.index }},
            sum(case when {{ inside }} then n_purchases else 0 end) as purchases_{{ loop.index }},
        {% endfor %}
        min(event_date) as first_date,
        max(event_date) as last_date,
        user_id
    from activity
    group by user_id

),

totals as (

    select
        {% for inside in insides %}
            count_if(active_{{ loop.index }}) as users_{{ loop.index }},
            coalesce(sum(events_{{ loop.index }}), 0) as events_{{ loop.index }},
            coalesce(sum(purchases_{{ loop.index }}), 0) as purchases_{{ loop.index }},
        {% endfor %}
        min(first_date) as data_first_date,
        max(last_date) as data_last_date
    from per_user

),

in_windows as (

    {% for name, start, end in windows -%}
        select
            '{{ name }}' as window_name,
            users_{{ loop.index }} as n_users,
            events_{{ loop.index }} as n_events,
            purchases_{{ loop.index }} as n_purchases
        from totals
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

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
        totals.data_first_date,
        totals.data_last_date

    from windows
    inner join in_windows on windows.window_name = in_windows.window_name
    cross join totals

)

select * from final
