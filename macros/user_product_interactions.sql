{#-
    The body of an interactions model: one row per user and product of the `events` CTE, with
    counts per event type, the first and last time, and the strength (sum of the
    `event_types` CTE's interaction_weight). Shared by the all-time and the before-cutoff
    interactions so the two can never compute strength differently.
-#}
{% macro user_product_interactions(events, event_types) -%}
    select
        -- ids
        {{ events }}.user_id,
        {{ events }}.product_id,

        -- measures
        count(*) as n_events,
        sum(case when {{ events }}.event_type = 'view' then 1 else 0 end) as n_views,
        sum(case when {{ events }}.event_type = 'cart' then 1 else 0 end) as n_carts,
        sum(case when {{ events }}.event_type = 'remove_from_cart' then 1 else 0 end)
            as n_removes_from_cart,
        sum(case when {{ events }}.event_type = 'purchase' then 1 else 0 end) as n_purchases,
        sum({{ event_types }}.interaction_weight) as interaction_strength,

        -- timestamps
        min({{ events }}.event_time) as first_interaction_at,
        max({{ events }}.event_time) as last_interaction_at

    from {{ events }}
    inner join {{ event_types }}
        on {{ events }}.event_type = {{ event_types }}.event_type
    group by {{ events }}.user_id, {{ events }}.product_id
{%- endmacro %}
