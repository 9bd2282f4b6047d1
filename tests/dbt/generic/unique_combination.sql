-- noqa: disable=LT02
{#-
    Fails for every combination of `columns` that occurs more than once (a composite key).
    With `partition_column` (a table rewritten by partition whose key includes that column),
    a build of the table reads only the partitions it rewrote
    (macros/loaded_by_this_build.sql: rows_a_test_reads); elsewhere the whole
    table.

    `alternate_keys`: columns that each make a key too in place of the last of `columns`
    (ml_product_recommendations: a user's rank, and a user's product). All the keys are
    checked in one scan, grouped by the shared columns: a failing row is a group with a repeat
    in one of them (a null counts as a value, as in the grouping without them). On one run
    date of the 42.4 M benchmark's recommendations (7.9 M rows) the one scan took about as long
    as either of the two it replaced: 6.1-8.6 s against 5.7-7.1 and 6.0-7.0 s (three runs).
-#}
{% test unique_combination(model, columns, partition_column=none, alternate_keys=[]) %}
{% set grouped = columns[:-1] if alternate_keys else columns %}
{% set repeats = ['count(*) > 1'] %}
{% for key in ([columns[-1]] + alternate_keys if alternate_keys else []) %}
    {% do repeats.append(
        'count(*) != size(collect_set(' ~ key ~ ')) + max(if(' ~ key ~ ' is null, 1, 0))') %}
{% endfor %}

select
    {{ grouped | join(', ') }},
    count(*) as occurrences
from {{ model }}
where {{ rows_a_test_reads(model, partition_column=partition_column) }}
group by {{ grouped | join(', ') }}
having {{ repeats[0] }}{{ ' and (' ~ repeats[1:] | join(' or ') ~ ')' if alternate_keys }}

{% endtest %}
