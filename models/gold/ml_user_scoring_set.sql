{{
    config(
        materialized='incremental',
        incremental_strategy='insert_overwrite',
        on_schema_change='append_new_columns',
        contract={'enforced': true},
    )
}}

-- The scoring snapshot: the features of the observation_days ending on run_date, by the same
-- macro as the training set, for every user active in them. The table holds one run date and
-- every run replaces it whole: carried forward from the day before when it can be (only the
-- users active on the run date or on the day that left the window are summed again: see
-- scoring_snapshot_rolls_forward), else summed for every user.

{%- set definition = features_definition() %}

with

features as (

    {% if scoring_snapshot_rolls_forward(definition) -%}
        {{ scoring_snapshot_carried_forward() }}
    {%- else -%}
        {{ user_feature_snapshot(window_date('scoring_start'), window_date('scoring_end')) }}
    {%- endif %}

),

final as (

    select
        -- the snapshot
        {{ window_date('run_date') }} as run_date,
        {{ window_date('scoring_start') }} as features_start_date,
        {{ window_date('scoring_end') }} as features_end_date,
        '{{ definition }}' as features_definition,

        -- the user and their features
        features.*

    from features

)

select * from final
