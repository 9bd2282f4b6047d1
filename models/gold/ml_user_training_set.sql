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

balanced as (

    -- the training split's users and buyers on every row, as sums over the whole snapshot:
    -- its features are computed once (an aggregate of them in a CTE of its own computed
    -- every feature a second time)
    select
        *,
        count_if(split = 'train') over () as n_train,
        count_if(split = 'train' and label = 1) over () as n_train_positives
    from assigned

),

final as (

    select
        -- ids
        balanced.user_id,

        -- split and label
        balanced.split,
        cast(balanced.split_bucket as int) as split_bucket,
        balanced.label,
        -- balanced class weights from the training split: n / (2 * n_class)
        cast(
            case
                when balanced.label = 1
                    then balanced.n_train / (2 * nullif(balanced.n_train_positives, 0))
                else
                    balanced.n_train
                    / (2 * nullif(balanced.n_train - balanced.n_train_positives, 0))
            end as double
        ) as class_weight,

        -- features (see the user_feature_snapshot macro)
        balanced.n_events,
        balanced.n_views,
        balanced.n_carts,
        balanced.n_removes_from_cart,
        balanced.n_purchases,
        balanced.n_products,
        balanced.n_categories,
        balanced.n_brands,
        balanced.n_sessions,
        balanced.n_active_days,
        balanced.purchase_spend,
        balanced.avg_viewed_price,
        balanced.max_viewed_price,
        balanced.cart_rate,
        balanced.purchase_rate,
        balanced.favourite_category_share,
        balanced.avg_session_events,
        balanced.max_session_events,
        balanced.avg_session_duration_s,
        balanced.max_session_duration_s,
        balanced.days_since_last_event,
        balanced.days_since_first_event,

        -- the snapshot (the partition last)
        {{ window_date('observation_start') }} as features_start_date,
        {{ window_date('observation_end') }} as features_end_date,
        {{ window_date('prediction_start') }} as label_start_date,
        {{ window_date('prediction_end') }} as label_end_date,
        {{ window_date('run_date') }} as run_date

    from balanced

)

select * from final
