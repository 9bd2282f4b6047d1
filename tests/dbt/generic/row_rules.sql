{#-
    The row-level rules of one model in one query: not_null, non_negative, accepted_values
    and between over any number of columns, each rule a count of the rows that break it.
    Fails with one row per broken rule (rule, failing_rows); the failure count is the number
    of broken rows. Nulls pass every rule but not_null, as in dbt's own tests.

        data_tests:
          - row_rules:
              arguments:
                not_null: [user_id, event_date]
                non_negative: [purchase_spend]
                accepted_values: {split: ["train", "test"]}
                between: {purchase_rank: [1, "{{ var('top_buyers') }}"]}

    One query per model instead of one per column and rule: on a daily run every test query
    costs about half a second of fixed cost whatever the table's size.
-#}
{% test row_rules(model, not_null=[], non_negative=[], accepted_values={}, between={}) %}
{{ config(fail_calc='coalesce(sum(failing_rows), 0)') }}

{%- set rules = [] -%}
{%- for column in not_null -%}
    {%- do rules.append(('not_null(' ~ column ~ ')', column ~ ' is null')) -%}
{%- endfor -%}
{%- for column in non_negative -%}
    {%- do rules.append(('non_negative(' ~ column ~ ')', column ~ ' < 0')) -%}
{%- endfor -%}
{%- for column, values in accepted_values.items() -%}
    {%- set listed = [] -%}
    {%- for value in values -%}
        {%- do listed.append("'" ~ value ~ "'" if value is string else value | string) -%}
    {%- endfor -%}
    {%- do rules.append((
        'accepted_values(' ~ column ~ ')', column ~ ' not in (' ~ listed | join(', ') ~ ')'
    )) -%}
{%- endfor -%}
{%- for column, bounds in between.items() -%}
    {%- do rules.append((
        'between(' ~ column ~ ', ' ~ bounds[0] ~ ', ' ~ bounds[1] ~ ')',
        column ~ ' < ' ~ bounds[0] ~ ' or ' ~ column ~ ' > ' ~ bounds[1]
    )) -%}
{%- endfor -%}

with

counts as (

    select
        {%- for name, condition in rules %}
        count_if({{ condition }}) as rule_{{ loop.index }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ model }}

),

per_rule as (

    select
        stack(
            {{ rules | length }},
            {%- for name, condition in rules %}
            '{{ name }}', rule_{{ loop.index }}{{ ',' if not loop.last }}
            {%- endfor %}
        ) as (rule, failing_rows)
    from counts

)

select
    rule,
    failing_rows
from per_rule
where failing_rows > 0

{% endtest %}
