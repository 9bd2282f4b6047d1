{{
    config(
        materialized='incremental',
        incremental_strategy='insert_overwrite',
        partition_by=['run_date'],
        on_schema_change='fail',
        contract={'enforced': true},
    )
}}

-- The training snapshot of a run date on which the propensity model retrains (see
-- ml_retraining_decisions): the features of the observation window, by the same macro as the
-- scoring set, the label from the prediction window after it, the split and class weights.
-- On other run dates it adds nothing: the training set of each retraining stays, one
-- partition per run date.

{%- set retrain = retraining_decided(var('propensity_model_name')) %}

with

features as (

    {{ user_feature_snapshot(window_date('observation_start'), window_date('observation_end')) }}

),

purchases as (

    {{ user_purchases_between(window_date('prediction_start'), window_date('prediction_end')) }}

),

labelled as (

    select
        features.*,
        cast(coalesce(purchases.n_purchases, 0) > 0 as int) as label,
        {{ hash_split_bucket('features.user_id') }} as split_bucket
    from features
    left join purchases on features.user_id = purchases.user_id
    where {{ 'true' if retrain else 'false' }}

),

assigned as (

    select
        *,
        case
            when split_bucket < {{ var('train_ratio') }} * {{ var('split_buckets') }}
                then 'train'
            else 'test'
        end as split
    from labelled

),

train_balance as (

    select
        count(*) as n_train,
        sum(label) as n_train_positives
    from assigned
    where split = 'train'

),

final as (

    select
        -- ids
        assigned.user_id,

        -- split and label
        assigned.split,
        cast(assigned.split_bucket as int) as split_bucket,
        assigned.label,
        -- balanced class weights from the training split: n / (2 * n_class)
        cast(
            case
                when assigned.label = 1
                    then train_balance.n_train / (2 * nullif(train_balance.n_train_positives, 0))
                else
                    train_balance.n_train
                    / (2 * nullif(train_balance.n_train - train_balance.n_train_positives, 0))
            end as double
        ) as class_weight,

        -- features (see the user_feature_snapshot macro)
        assigned.n_events,
        assigned.n_views,
        assigned.n_carts,
        assigned.n_removes_from_cart,
        assigned.n_purchases,
        assigned.n_products,
        assigned.n_categories,
        assigned.n_brands,
        assigned.n_sessions,
        assigned.n_active_days,
        assigned.purchase_spend,
        assigned.avg_viewed_price,
        assigned.max_viewed_price,
        assigned.cart_rate,
        assigned.purchase_rate,
        assigned.favourite_category_share,
        assigned.avg_session_events,
        assigned.max_session_events,
        assigned.avg_session_duration_s,
        assigned.max_session_duration_s,
        assigned.days_since_last_event,
        assigned.days_since_first_event,

        -- the snapshot (the partition last)
        {{ window_date('observation_start') }} as features_start_date,
        {{ window_date('observation_end') }} as features_end_date,
        {{ window_date('prediction_start') }} as label_start_date,
        {{ window_date('prediction_end') }} as label_end_date,
        {{ window_date('run_date') }} as run_date

    from assigned
    cross join train_balance

)

select * from final
