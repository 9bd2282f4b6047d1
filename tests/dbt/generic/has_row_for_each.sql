{#-
    Fails with one row per value of `values` (strings) that no row of the model has in the
    column: a list the project relies on must be in the table that gives it meaning. For
    example every event type var event_types lets through bronze needs its row in
    slv_event_types, or its events would drop out of the interactions without a word.
-#}
{% test has_row_for_each(model, column_name, values) %}

select expected.value as missing_value
from (
    select explode(array({{ "'" ~ values | join("', '") ~ "'" }})) as value
) as expected
left anti join {{ model }} as actual
    on expected.value = actual.{{ column_name }}

{% endtest %}
