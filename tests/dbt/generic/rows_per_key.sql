{#- Fails for every value of `key` that does not have exactly `n` rows. -#}
{% test rows_per_key(model, key, n) %}

select
    {{ key }},
    count(*) as n_rows
from {{ model }}
group by {{ key }}
having count(*) != {{ n }}

{% endtest %}
