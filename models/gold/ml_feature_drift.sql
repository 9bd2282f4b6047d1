-- A view: the decisions already hold every feature's PSI (`feature_psi`), so listing them one
-- row per feature costs nothing until it is read (as a Python model with a merge it cost 5 to
-- 7 s of every daily run at 10 M events). Every run date's rows follow its recorded decision,
-- so a rerun of a date lists the same rows. Its not_null rules are the row_rules test (a view
-- has no constraints).
{{ config(materialized='view', contract={'enforced': true}) }}

-- Population stability index of every feature per run date and registered model: the run
-- date's scoring snapshot against the training data of the champion its decision saw.

with

decisions as (

    select * from {{ ref('ml_retraining_decisions') }}
    where champion_version is not null

),

final as (

    select
        -- ids
        run_date,
        registered_model_name,
        champion_version,

        -- the drift of each feature: feature, psi
        explode(feature_psi) as (feature, psi)

    from decisions

)

select * from final
