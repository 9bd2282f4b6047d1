{#-
    Fails for every combination of `columns` that occurs more than once (a composite key).
    With `partition_column` (a table rewritten by partition whose key includes that column),
    a build of the table reads only the partitions it rewrote
    (macros/loaded_by_this_build.sql: rows_a_test_reads); elsewhere the whole
    table.
-#}
{% test unique_combination(model, columns, partition_column=none) %}

select
    {{ columns | join(', ') }},
    count(*) as occurrences
from {{ model }}
where {{ rows_a_test_reads(model, partition_column=partition_column) }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
