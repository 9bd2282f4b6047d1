{#-
    dbt's `unique`, read over the partitions this build appended rows to
    (macros/loaded_by_this_build.sql) instead of the whole table: for a key whose duplicates
    always share a partition of `partition_column`. Outside a build of the model, the whole
    table.
-#}
{% test unique_in_loaded_partitions(model, column_name, partition_column) %}

select
    {{ column_name }} as unique_field,
    count(*) as n_records
from {{ model }}
where
    {{ column_name }} is not null
    and ({{ partitions_loaded_by_this_build(model, partition_column) }})
group by {{ column_name }}
having count(*) > 1

{% endtest %}
