{#-
    Two-proportion z-test between the groups of a balance table (one row per group, with a
    row count and a positive count): fails when any two groups' positive rates differ by more
    than `max_z` standard errors. A hash split keeps the difference at chance level; a split
    that leaked the label or sorted users would fail.
-#}
{% test rates_agree(model, column_name, rows, positives, max_z=4) %}

with

groups as (

    select
        {{ column_name }} as group_name,
        cast({{ rows }} as double) as n,
        cast({{ positives }} as double) as k
    from {{ model }}

),

pairs as (

    select
        a.group_name as group_a,
        b.group_name as group_b,
        a.k / a.n - b.k / b.n as rate_gap,
        (a.k + b.k) / (a.n + b.n) as pooled_rate,
        1 / a.n + 1 / b.n as inverse_sizes
    from groups as a
    inner join groups as b on a.group_name < b.group_name

)

select
    *,
    abs(rate_gap) / sqrt(pooled_rate * (1 - pooled_rate) * inverse_sizes) as z
from pairs
where
    pooled_rate > 0
    and pooled_rate < 1
    and abs(rate_gap) > {{ max_z }} * sqrt(pooled_rate * (1 - pooled_rate) * inverse_sizes)

{% endtest %}
