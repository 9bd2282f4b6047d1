{#-
    The body of an interactions model: one row per user and product over the rows of the
    `product_days` CTE (slv_user_product_daily, already cut to a date range), with counts per
    event type, the first and last time and the strength (the seed's event weights summed).
    Shared by every interactions model so that none can compute strength differently.
-#}
{% macro user_product_interactions(product_days) -%}
    select
        -- ids
        user_id,
        product_id,

        -- measures
        sum(n_events) as n_events,
        sum(n_views) as n_views,
        sum(n_carts) as n_carts,
        sum(n_removes_from_cart) as n_removes_from_cart,
        sum(n_purchases) as n_purchases,
        sum(interaction_strength) as interaction_strength,

        -- timestamps
        min(first_interaction_at) as first_interaction_at,
        max(last_interaction_at) as last_interaction_at

    from {{ product_days }}
    group by user_id, product_id
{%- endmacro %}
