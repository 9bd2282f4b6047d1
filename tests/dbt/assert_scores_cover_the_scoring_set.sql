{#-
    Every user of the scoring snapshot has a score for its run date, and no one else does.
    Returns the users in one and not the other. The scores are read by the run date as a
    literal, so Delta reads that partition only (a scalar subquery does not prune: every
    run date's scores were read).
-#}

with

scoring as (

    select * from {{ ref('ml_user_scoring_set') }}

),

scores as (

    select * from {{ ref('ml_user_purchase_scores') }}
    where run_date = {{ window_date('run_date') }}

)

select
    coalesce(scoring.user_id, scores.user_id) as user_id,
    scoring.user_id is not null as in_scoring_set,
    scores.user_id is not null as scored
from scoring
full outer join scores on scoring.user_id = scores.user_id
where scoring.user_id is null or scores.user_id is null
