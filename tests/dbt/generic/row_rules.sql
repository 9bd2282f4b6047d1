{#-
    The row-level rules of one model in one query: not_null, non_negative, accepted_values
    and between over any number of columns, each rule a count of the rows that break it.
    Fails with one row per broken rule: the rule and how many rows break it. Nulls pass every rule but not_null, as in dbt's own tests.

        data_tests:
          - row_rules:
              arguments:
                not_null: [user_id, event_date]
                non_negative: [purchase_spend]
                accepted_values: {split: ["train", "test"]}
                between: {purchase_rank: [1, "{{ var('top_buyers') }}"]}

    One query per model instead of one per column and rule: on a daily run every test query
    costs about half a second of fixed cost whatever the table's size. `loaded_rows_only: true`
    (an append-only table with a load_id) reads only the rows this build appended when the
    build built the table; `partition_column` (a table rewritten by partition) only the
    partitions this build rewrote (macros/loaded_by_this_build.sql): the other rows were
    checked by the build that wrote them.
-#}
{% test row_rules(
    model, not_null=[], non_negative=[], accepted_values={}, between={}, loaded_rows_only=false,
    partition_column=none
) %}
{% set rules = row_rule_checks(not_null, non_negative, accepted_values, between) %}

with

counts as (

    select
        {% for name, condition in rules %}
            count_if({{ condition }}) as rule_{{ loop.index }}{{ ',' if not loop.last }}
        {% endfor %}
    from {{ model }}
    where {{ rows_a_test_reads(model, loaded_rows_only, partition_column) }}

),

per_rule as (

    select
        stack(
            {{ rules | length }},
            {% for name, condition in rules %}
                '{{ name }}', rule_{{ loop.index }}{{ ',' if not loop.last }}
            {% endfor %}
        ) as (rule, failing_rows)
    from counts

)

select
    rule,
    failing_rows
from per_rule
where failing_rows > 0

{% endtest %}
