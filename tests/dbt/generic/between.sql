{#-
    Fails for every row where the column lies outside [min_value, max_value] (both inclusive;
    nulls pass, pair with not_null). The bounds are SQL expressions: numbers or dates.
-#}
{% test between(model, column_name, min_value, max_value) %}

select {{ column_name }} as failing_value
from {{ model }}
where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}

{% endtest %}
