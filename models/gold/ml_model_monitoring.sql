{{ config(materialized='table') }}

-- How each scoring run date's propensity scores turned out, once its predicted window has
-- passed: the scores of run date d predicted a purchase in prediction_start_date ..
-- prediction_end_date; by this run date that window is in the daily aggregates, so each
-- scored user gets the label it would have had. Rebuilt whole each run (one row per scoring
-- run date and model), so a late file or a rerun of a day is reflected.

with

scores as (

    select
        run_date,
        model_name,
        model_version,
        user_id,
        purchase_probability,
        decile,
        prediction_start_date,
        prediction_end_date
    from {{ ref('ml_user_purchase_scores') }}
    where prediction_end_date <= {{ window_date('run_date') }}

),

purchases as (

    select
        user_id,
        event_date
    from {{ ref('slv_user_daily_activity') }}
    where n_purchases > 0

),

labelled as (

    select
        scores.run_date,
        scores.model_name,
        scores.model_version,
        scores.user_id,
        scores.purchase_probability,
        scores.decile,
        scores.prediction_start_date,
        scores.prediction_end_date,
        cast(count(purchases.event_date) > 0 as int) as label
    from scores
    left join purchases
        on
            scores.user_id = purchases.user_id
            and purchases.event_date between scores.prediction_start_date
            and scores.prediction_end_date
    group by all

),

totals as (

    select
        run_date,
        model_name,
        max(model_version) as model_version,
        min(prediction_start_date) as prediction_start_date,
        max(prediction_end_date) as prediction_end_date,
        count(*) as scored_users,
        sum(label) as buyers,
        avg(label) as buying_rate,
        avg(purchase_probability) as mean_probability,
        avg(power(purchase_probability - label, 2)) as brier,
        avg(case when decile = 1 then label end) as top_decile_buying_rate
    from labelled
    group by run_date, model_name

),

-- Users with the same probability form one threshold step, as in scikit-learn's curves.
steps as (

    select
        run_date,
        model_name,
        purchase_probability,
        count(*) as n_users,
        sum(label) as buyers
    from labelled
    group by run_date, model_name, purchase_probability

),

cumulative as (

    select
        run_date,
        model_name,
        n_users,
        buyers,
        sum(buyers) over (
            partition by run_date, model_name order by purchase_probability desc
            rows between unbounded preceding and current row
        ) as buyers_at_or_above,
        sum(n_users) over (
            partition by run_date, model_name order by purchase_probability desc
            rows between unbounded preceding and current row
        ) as users_at_or_above
    from steps

),

-- AUC-ROC: the chance a buyer outranks a non-buyer, a tie counting half; AUC-PR: average
-- precision, the precision at each step weighted by the share of buyers it adds.
ranking as (

    select
        cumulative.run_date,
        cumulative.model_name,
        sum(
            (cumulative.n_users - cumulative.buyers)
            * (cumulative.buyers_at_or_above - cumulative.buyers / 2)
        ) / (totals.buyers * (totals.scored_users - totals.buyers)) as auc_roc,
        sum(
            cumulative.buyers / totals.buyers
            * cumulative.buyers_at_or_above / cumulative.users_at_or_above
        ) as auc_pr
    from cumulative
    inner join totals
        on
            cumulative.run_date = totals.run_date
            and cumulative.model_name = totals.model_name
    where totals.buyers > 0 and totals.buyers < totals.scored_users
    group by cumulative.run_date, cumulative.model_name, totals.buyers, totals.scored_users

),

-- Expected calibration error over equal-width bins of the probability, as the training
-- report computes it (lakehouse.ml.evaluation, calibration_bins bins).
bins as (

    select
        run_date,
        model_name,
        count(*) as n_users,
        avg(purchase_probability) as mean_probability,
        avg(label) as buying_rate
    from labelled
    group by
        run_date,
        model_name,
        least(
            cast(floor(purchase_probability * {{ var('calibration_bins') }}) as int),
            {{ var('calibration_bins') }} - 1
        )

),

calibration as (

    select
        run_date,
        model_name,
        sum(n_users * abs(buying_rate - mean_probability)) / sum(n_users) as ece
    from bins
    group by run_date, model_name

),

decisions as (

    select
        run_date,
        registered_model_name,
        max_feature_psi,
        max_psi_feature
    from {{ ref('ml_retraining_decisions') }}

),

final as (

    select
        -- key
        totals.run_date,
        totals.model_name,

        -- what was scored, for which window
        cast(totals.model_version as int) as model_version,
        totals.prediction_start_date,
        totals.prediction_end_date,
        totals.scored_users,
        totals.buyers,
        totals.buying_rate,

        -- realised quality
        ranking.auc_roc,
        ranking.auc_pr,
        totals.brier,
        calibration.ece,
        totals.mean_probability,
        totals.top_decile_buying_rate,
        totals.top_decile_buying_rate / nullif(totals.buying_rate, 0) as top_decile_lift,

        -- drift of the scoring snapshot from the champion's training data, that run date
        decisions.max_feature_psi,
        decisions.max_psi_feature,

        {{ window_date('run_date') }} as measured_on
    from totals
    left join ranking
        on totals.run_date = ranking.run_date and totals.model_name = ranking.model_name
    left join calibration
        on totals.run_date = calibration.run_date and totals.model_name = calibration.model_name
    left join decisions
        on
            totals.run_date = decisions.run_date
            and totals.model_name = decisions.registered_model_name

)

select * from final
