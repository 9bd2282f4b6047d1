{#-
    The features of a snapshot: one row per user with at least one event from `start` to
    `end` (SQL date expressions, both inclusive), computed from the silver daily aggregates
    only. One definition for both snapshots: the training set calls it with the observation
    window (ending prediction_days before run_date), the scoring set with the window ending on
    run_date, so training and scoring cannot compute a feature differently. Reads no date
    outside [start, end]: every daily aggregate is cut to it first. Given `users` (the name of
    a relation or CTE with a user_id column, small enough to broadcast), the rows of those users
    only: their features are the same, as each user's are summed from their own rows.
-#}
{% macro user_feature_snapshot(start, end, users=none) -%}
    with

    activity as (

        {{ _snapshot_rows('slv_user_daily_activity', start, end, users) }}

    ),

    product_days as (

        {{ _snapshot_rows('slv_user_product_daily', start, end, users) }}

    ),

    session_days as (

        {{ _snapshot_rows('slv_user_session_daily', start, end, users) }}

    ),

    event_counts as (

        select
            user_id,
            sum(n_events) as n_events,
            sum(n_views) as n_views,
            sum(n_carts) as n_carts,
            sum(n_removes_from_cart) as n_removes_from_cart,
            sum(n_purchases) as n_purchases,
            count(*) as n_active_days,
            sum(purchase_spend) as purchase_spend,
            coalesce(cast(sum(viewed_price_sum) as double) / nullif(sum(n_views), 0), 0)
                as avg_viewed_price,
            coalesce(max(max_viewed_price), 0) as max_viewed_price,
            min(first_event_at) as first_event_at,
            max(last_event_at) as last_event_at
        from activity
        group by user_id

    ),

    product_counts as (

        -- size(collect_set()) counts what count(distinct) counts (nulls left out) in one
        -- hash aggregate; two count(distinct) made Spark expand every row into two and
        -- aggregate them in four steps (10 M benchmark, scoring snapshot of 2019-12-01,
        -- 4.6 million rows: 3.7 to 4.2 s against 6.3 to 6.4 s for this CTE alone)
        select
            user_id,
            cast(size(collect_set(product_id)) as bigint) as n_products,
            cast(size(collect_set(brand)) as bigint) as n_brands
        from product_days
        group by user_id

    ),

    favourite_categories as (

        select
            user_id,
            category_id as favourite_category_id,
            category_events as favourite_category_events,
            n_categories
        from (
            -- n_categories: the user's category groups with a category, which is
            -- count(distinct category_id); counted here, a third count(distinct) in
            -- product_counts made its aggregation handle every row three times (scoring
            -- snapshot of the 10 M benchmark: 21 s against 15 s)
            select
                user_id,
                category_id,
                sum(n_events) as category_events,
                count(category_id) over (partition by user_id) as n_categories
            from product_days
            group by user_id, category_id
        ) as category_totals
        -- ties go to the smaller category id, so reruns agree
        qualify row_number() over (
            partition by user_id order by category_events desc, category_id asc
        ) = 1

    ),

    session_stats as (

        select
            user_id,
            count(*) as n_sessions,
            avg(session_events) as avg_session_events,
            max(session_events) as max_session_events,
            avg(session_duration_s) as avg_session_duration_s,
            max(session_duration_s) as max_session_duration_s
        from (
            -- a session that spans midnight is one session: its days are summed
            select
                user_id,
                session_id,
                sum(n_events) as session_events,
                unix_timestamp(max(last_event_at)) - unix_timestamp(min(first_event_at))
                    as session_duration_s
            from session_days
            group by user_id, session_id
        ) as sessions
        group by user_id

    )

    select
        -- ids
        event_counts.user_id,
        favourite_categories.favourite_category_id,

        -- activity counts
        event_counts.n_events,
        event_counts.n_views,
        event_counts.n_carts,
        event_counts.n_removes_from_cart,
        event_counts.n_purchases,
        product_counts.n_products,
        favourite_categories.n_categories,
        product_counts.n_brands,
        session_stats.n_sessions,
        event_counts.n_active_days,

        -- money
        cast(event_counts.purchase_spend as double) as purchase_spend,
        cast(event_counts.avg_viewed_price as double) as avg_viewed_price,
        cast(event_counts.max_viewed_price as double) as max_viewed_price,

        -- rates (shares of the user's events; never a division by zero)
        event_counts.n_carts / event_counts.n_events as cart_rate,
        event_counts.n_purchases / event_counts.n_events as purchase_rate,
        favourite_categories.favourite_category_events / event_counts.n_events
            as favourite_category_share,

        -- sessions
        cast(session_stats.avg_session_events as double) as avg_session_events,
        session_stats.max_session_events,
        cast(session_stats.avg_session_duration_s as double) as avg_session_duration_s,
        session_stats.max_session_duration_s,

        -- recency, counted back from the snapshot's last day
        datediff({{ end }}, to_date(event_counts.last_event_at)) as days_since_last_event,
        datediff({{ end }}, to_date(event_counts.first_event_at)) as days_since_first_event,

        -- timestamps
        event_counts.first_event_at,
        event_counts.last_event_at

    from event_counts
    inner join product_counts on event_counts.user_id = product_counts.user_id
    inner join favourite_categories on event_counts.user_id = favourite_categories.user_id
    inner join session_stats on event_counts.user_id = session_stats.user_id
{%- endmacro %}


{#-
    The label of a snapshot: per user, the purchases from `start` to `end` (SQL date
    expressions, inclusive) in the daily activity, and their spend.
-#}
{% macro user_purchases_between(start, end) -%}
    select
        user_id,
        sum(n_purchases) as n_purchases,
        sum(purchase_spend) as spend
    from {{ ref('slv_user_daily_activity') }}
    where
        event_date >= {{ start }}
        and event_date <= {{ end }}
        and n_purchases > 0
    group by user_id
{%- endmacro %}


{#- The rows of the daily aggregate `model` from `start` to `end`, of the `users` only if given. -#}
{% macro _snapshot_rows(model, start, end, users) -%}
    {% if users is none -%}
        select * from {{ ref(model) }}
    {%- else -%}
        select /*+ broadcast(chosen) */ daily.*
        from {{ ref(model) }} as daily
        left semi join {{ users }} as chosen on daily.user_id = chosen.user_id
    {%- endif %}
    where event_date >= {{ start }} and event_date <= {{ end }}
{%- endmacro %}
