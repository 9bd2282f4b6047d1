{#-
    Recommendations never repeat a product the user touched up to the run date they were made
    for (checked for this run's date, the partition the run wrote). The run date's lists are
    the hash table of the join (k rows per user: 7.9 M at 42.4 M events), so the daily rows
    are streamed past them instead of sorted: 11 to 15 s against 22 to 26 s there
    (docs/operations.md, "Cost decisions").
-#}

with

recommendations as (

    select * from {{ ref('ml_product_recommendations') }}
    where run_date = {{ window_date('run_date') }}

),

touched as (

    select * from {{ ref('slv_user_product_daily') }}

)

select /*+ shuffle_hash(recommendations) */
    recommendations.user_id,
    recommendations.product_id,
    recommendations.source
from recommendations
inner join touched
    on
        recommendations.user_id = touched.user_id
        and recommendations.product_id = touched.product_id
        and recommendations.run_date >= touched.event_date
