{#-
    The rules of the row_rules test (tests/dbt/generic/row_rules.sql) as a list of
    (name, condition a broken row meets) pairs, in the order given. accepted_values quotes
    string values and writes numbers as they are; between's bounds are SQL expressions.
-#}
{% macro row_rule_checks(not_null, non_negative, accepted_values, between) -%}
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
            'accepted_values(' ~ column ~ ')',
            column ~ ' not in (' ~ listed | join(', ') ~ ')'
        )) -%}
    {%- endfor -%}
    {%- for column, bounds in between.items() -%}
        {%- do rules.append((
            'between(' ~ column ~ ', ' ~ bounds[0] ~ ', ' ~ bounds[1] ~ ')',
            column ~ ' < ' ~ bounds[0] ~ ' or ' ~ column ~ ' > ' ~ bounds[1]
        )) -%}
    {%- endfor -%}
    {{ return(rules) }}
{%- endmacro %}
