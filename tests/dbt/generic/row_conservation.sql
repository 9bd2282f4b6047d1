{#-
    Fails for every row where `total` differs from the sum of `parts`, exactly.
    Example: landed = accepted + duplicates + rejected, per loaded file.
-#}
{% test row_conservation(model, total, parts) %}

select
    *,
    {{ parts | join(' + ') }} as parts_sum
from {{ model }}
where {{ total }} != {{ parts | join(' + ') }}

{% endtest %}
