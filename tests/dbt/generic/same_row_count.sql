{#- Fails (one row) when the model and `compare_model` have different row counts. -#}
{% test same_row_count(model, compare_model) %}

select
    a.n as model_rows,
    b.n as compare_rows
from (select count(*) as n from {{ model }}) as a
cross join (select count(*) as n from {{ compare_model }}) as b
where a.n != b.n

{% endtest %}
