{{ config(contract={'enforced': true}) }}

-- The scoring snapshot: the features of the observation_days ending on run_date, by the same
-- macro as the training set, for every user active in them.

with

features as (

    {{ user_feature_snapshot(window_date('scoring_start'), window_date('scoring_end')) }}

),

final as (

    select
        -- the snapshot
        {{ window_date('run_date') }} as run_date,
        {{ window_date('scoring_start') }} as features_start_date,
        {{ window_date('scoring_end') }} as features_end_date,

        -- the user and their features
        features.*

    from features

)

select * from final
