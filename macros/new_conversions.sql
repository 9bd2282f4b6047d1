{#-
    The body of a conversions model: what a recommender evaluation checks against. One row per
    user and product over the rows of the `product_days` CTE (slv_user_product_daily, already
    cut to the evaluated days) with a cart or a purchase, for products the user had not touched
    in `earlier` (the evaluation's training interactions): recommendations never repeat what
    the user has seen. Shared by the validation and the holdout period, and, with no
    `earlier`, by slv_user_product_conversions (every carted or bought pair: popularity).
    Only the earlier pairs of the users who convert in the period are anti-joined: the list of
    those users is broadcast, so the daily rows under `earlier` are cut to them before they
    are summed, where the anti join of every earlier pair summed them all (the figures:
    docs/operations.md, "Cost decisions").
-#}
{% macro new_conversions(product_days, earlier=none) -%}
    select
        -- ids
        {{ product_days }}.user_id,
        {{ product_days }}.product_id,

        -- measures
        sum({{ product_days }}.n_carts) as n_carts,
        sum({{ product_days }}.n_purchases) as n_purchases,

        -- timestamps
        min({{ product_days }}.first_interaction_at) as first_conversion_at

    from {{ product_days }}
    {%- if earlier is not none %}
    left anti join (
        select
            user_id,
            product_id
        from {{ earlier }}
        where user_id in (
            select /*+ broadcast */ user_id from {{ product_days }}
            where n_carts > 0 or n_purchases > 0
        )
    ) as earlier_pairs
        on
            {{ product_days }}.user_id = earlier_pairs.user_id
            and {{ product_days }}.product_id = earlier_pairs.product_id
    {%- endif %}
    where {{ product_days }}.n_carts > 0 or {{ product_days }}.n_purchases > 0
    group by {{ product_days }}.user_id, {{ product_days }}.product_id
{%- endmacro %}
