-- A view over the latest training set; its not_null rules are the row_rules test (a view has no
-- constraints, and recreating a table with them costs seconds per run).
{{ config(materialized='view', contract={'enforced': true}) }}

-- The class balance of the latest training snapshot.

with

training_set as (

    select * from {{ ref('ml_user_training_set') }}
    where run_date = (select max(t.run_date) from {{ ref('ml_user_training_set') }} as t)

),

final as (

    select
        -- ids
        split,

        -- the snapshot
        max(run_date) as run_date,

        -- measures
        count(*) as n_users,
        sum(label) as n_positives,
        cast(sum(label) / count(*) as double) as positive_rate,
        cast(max(case when label = 1 then class_weight end) as double)
            as positive_class_weight,
        cast(max(case when label = 0 then class_weight end) as double)
            as negative_class_weight

    from training_set
    group by split

)

select * from final
