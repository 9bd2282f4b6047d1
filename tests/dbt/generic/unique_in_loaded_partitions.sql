{#-
    dbt's `unique`, read over the partitions this build appended rows to
    (macros/loaded_by_this_build.sql) instead of the whole table: for a key whose duplicates
    always share a partition of `partition_column`. Outside a build of the model, the whole
    table.

    Grouped by a 64-bit hash of the key first, then by the key itself only where a hash
    repeats: a duplicate key repeats its hash, so no duplicate is missed, and a hash shared by
    two different keys is not reported. The repeated hashes (none, when the key holds) are
    broadcast, so the rows are shuffled once, by their hash, and not again to meet them.
    Bronze's key is a 32-character md5: grouping 42 M of them whole cost a third more
    (docs/operations.md, "Cost decisions").
-#}
{% test unique_in_loaded_partitions(model, column_name, partition_column) %}

with

keys as (

    select
        {{ column_name }} as unique_field,
        xxhash64({{ column_name }}) as key_hash
    from {{ model }}
    where
        {{ column_name }} is not null
        and ({{ partitions_loaded_by_this_build(model, partition_column) }})

),

repeated_hashes as (

    select key_hash
    from keys
    group by key_hash
    having count(*) > 1

)

select /*+ broadcast(repeated_hashes) */
    keys.unique_field,
    count(*) as n_records
from keys
left semi join repeated_hashes on keys.key_hash = repeated_hashes.key_hash
group by keys.unique_field
having count(*) > 1

{% endtest %}
