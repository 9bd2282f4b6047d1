{#-
    The distinct (category_code, brand) pairs of `relation`, each numbered (`label_id`). A model
    that keeps a product's category code and brand as of its last event aggregates
    `max_by(label_id, ...)` and looks the two strings up after, joining on both with `<=>`
    (either may be null: `product_label_matches`). A max_by of a string makes Spark sort
    every row to aggregate (SortAggregate: a string is not a fixed-width aggregation buffer);
    of a number it hashes.
    On the 10 M benchmark, slv_user_product_daily alone: 27 to 29 s against 22 s, the same
    7,353,749 rows.
-#}
{% macro product_labels(relation) -%}
    select
        category_code,
        brand,
        row_number() over (order by category_code, brand) as label_id
    from (select distinct category_code, brand from {{ relation }}) as distinct_labels
{%- endmacro %}


{#-
    The join condition of rows of `relation` (an alias or name) to their row of the labels
    (`labels`, product_labels): the same category code and brand, a null matching a null.
-#}
{% macro product_label_matches(relation, labels='product_labels') -%}
    {{ relation }}.category_code <=> {{ labels }}.category_code
    and {{ relation }}.brand <=> {{ labels }}.brand
{%- endmacro %}
