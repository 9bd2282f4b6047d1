with

events as (

    select * from {{ ref('slv_observation_events') }}

),

sessions as (

    select * from {{ ref('slv_user_sessions') }}

),

event_counts as (

    select
        user_id,
        count(*) as n_events,
        sum(case when event_type = 'view' then 1 else 0 end) as n_views,
        sum(case when event_type = 'cart' then 1 else 0 end) as n_carts,
        sum(case when event_type = 'remove_from_cart' then 1 else 0 end) as n_removes_from_cart,
        sum(case when event_type = 'purchase' then 1 else 0 end) as n_purchases,
        count(distinct product_id) as n_products,
        count(distinct category_id) as n_categories,
        count(distinct brand) as n_brands,
        count(distinct event_date) as n_active_days,
        coalesce(sum(case when event_type = 'purchase' then price end), 0) as purchase_spend,
        coalesce(avg(case when event_type = 'view' then price end), 0) as avg_viewed_price,
        coalesce(max(case when event_type = 'view' then price end), 0) as max_viewed_price,
        min(event_time) as first_event_at,
        max(event_time) as last_event_at
    from events
    group by user_id

),

category_events as (

    select
        user_id,
        category_id,
        count(*) as category_events
    from events
    group by user_id, category_id

),

favourite_categories as (

    select
        user_id,
        category_id as favourite_category_id,
        category_events as favourite_category_events
    from category_events
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
    from sessions
    group by user_id

),

final as (

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
        event_counts.n_products,
        event_counts.n_categories,
        event_counts.n_brands,
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

        -- recency, counted back from the last day of the observation window
        datediff({{ window_date('observation_end') }}, to_date(event_counts.last_event_at))
            as days_since_last_event,
        datediff({{ window_date('observation_end') }}, to_date(event_counts.first_event_at))
            as days_since_first_event,

        -- timestamps
        event_counts.first_event_at,
        event_counts.last_event_at

    from event_counts
    inner join favourite_categories
        on event_counts.user_id = favourite_categories.user_id
    inner join session_stats
        on event_counts.user_id = session_stats.user_id

)

select * from final
