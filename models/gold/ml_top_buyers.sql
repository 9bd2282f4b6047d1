-- A view: the latest scores, read when asked; its not_null rules are the row_rules test (a view
-- has no constraints, and recreating a table with them costs seconds per run).
{{ config(materialized='view', contract={'enforced': true}) }}

-- The most likely buyers of the latest scored run date, with what they did in its scoring
-- snapshot.

with

scores as (

    select * from {{ ref('ml_user_purchase_scores') }}
    where run_date = (select max(s.run_date) from {{ ref('ml_user_purchase_scores') }} as s)

),

features as (

    select * from {{ ref('ml_user_scoring_set') }}

),

final as (

    select
        -- ids
        scores.user_id,

        -- ranking
        cast(scores.purchase_rank as int) as purchase_rank,
        scores.purchase_probability,
        cast(scores.model_version as int) as model_version,

        -- the windows: scored on features up to run_date, for a purchase after it
        scores.run_date,
        scores.prediction_start_date,
        scores.prediction_end_date,

        -- what the user did in the scoring snapshot
        features.n_events,
        features.n_carts,
        features.n_purchases,
        features.purchase_spend,
        features.days_since_last_event,
        features.favourite_category_id

    from scores
    inner join features
        on
            scores.user_id = features.user_id
            and scores.run_date = features.run_date
    where scores.purchase_rank <= {{ var('top_buyers') }}

)

select * from final
