"""The retraining rule (lakehouse.ml.retraining.reasons_to_retrain): cadence, drift, realised
quality and force each give their reason; a champion within every limit is kept. No server:
the rule reads only the decision's figures. (test_daily runs the decisions model end to end.)
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from lakehouse.ml import retraining

POLICY = retraining.Policy(every_days=7, max_psi=0.2, force=False, min_auc=0.65)


def _decision(age=3, psi=0.05, auc=None):
    return retraining.Decision(
        date(2019, 12, 6), "m", False, "", champion_version=4,
        champion_trained_on=date(2019, 12, 6) - timedelta(days=age), champion_age_days=age,
        max_feature_psi=psi, max_psi_feature="n_views", realised_auc_roc=auc,
        realised_run_date=None if auc is None else date(2019, 11, 28),
    )  # fmt: skip


def test_a_champion_within_every_limit_is_kept():
    assert retraining.reasons_to_retrain(POLICY, _decision(age=6, psi=0.2, auc=0.65)) == []


@pytest.mark.parametrize(
    ("decision", "reason"),
    [
        (_decision(age=7), "champion v4 is 7 days old (retrain_every_days 7)"),
        (_decision(psi=0.31), "feature n_views drifted: PSI 0.310 > retrain_max_psi 0.2"),
        (
            _decision(auc=0.6412),
            "realised AUC-ROC 0.641 of v4 on run date 2019-11-28 < retrain_min_auc 0.65",
        ),
    ],
)
def test_each_limit_gives_its_reason(decision, reason):
    assert retraining.reasons_to_retrain(POLICY, decision) == [reason]


def test_every_reason_is_given_and_force_comes_first():
    forced = retraining.Policy(every_days=7, max_psi=0.2, force=True, min_auc=0.65)
    reasons = retraining.reasons_to_retrain(forced, _decision(age=9, psi=0.5, auc=0.5))
    assert reasons[0] == "forced by var force_retrain" and len(reasons) == 4


def test_no_realised_quality_or_no_limit_never_retrains():
    assert retraining.reasons_to_retrain(POLICY, _decision(auc=None)) == []
    off = retraining.Policy(every_days=7, max_psi=0.2, force=False, min_auc=None)
    assert retraining.reasons_to_retrain(off, _decision(auc=0.1)) == []


def test_the_latest_evaluated_run_date_is_each_models_realised_quality():
    from types import SimpleNamespace as Row

    rows = [
        Row(model_name="m", model_version=3, run_date=date(2019, 11, 20), auc_roc=0.71),
        Row(model_name="m", model_version=4, run_date=date(2019, 11, 28), auc_roc=0.62),
        Row(model_name="m", model_version=4, run_date=date(2019, 11, 29), auc_roc=None),
        Row(model_name="r", model_version=1, run_date=date(2019, 11, 10), auc_roc=0.8),
    ]
    assert retraining.latest_realised(rows) == {
        "m": retraining.Realised(date(2019, 11, 28), 4, 0.62),
        "r": retraining.Realised(date(2019, 11, 10), 1, 0.8),
    }
    assert retraining.latest_realised([]) == {}


def test_the_cadence_counts_from_the_latest_retraining_that_kept_the_champion():
    """A champion trained 9 days ago that a retraining kept 3 days ago (its challenger did not
    pass the gate) is not due: retraining again every day after the cadence would repeat a
    search a week's data has not changed. Due once that retraining is a cadence old."""
    kept = date(2019, 12, 3)
    assert retraining.reasons_to_retrain(POLICY, _decision(age=9), kept) == []
    assert retraining.reasons_to_retrain(POLICY, _decision(age=9), date(2019, 11, 29)) == [
        "champion v4 is 9 days old, and the retraining of 2019-11-29 that kept it was 7 days "
        "ago (retrain_every_days 7)"
    ]


def test_only_a_retraining_after_the_training_and_not_after_the_run_date_counts():
    from types import SimpleNamespace as Version

    from lakehouse.ml import tracking

    trained, run = date(2019, 11, 30), date(2019, 12, 8)

    def kept(tag):
        return retraining.last_kept(Version(tags={tracking.KEPT_FOR: tag} if tag else {}),
                                    trained, run)  # fmt: skip

    assert kept(None) is None
    assert kept("2019-12-07") == date(2019, 12, 7)
    assert kept("2019-12-08") == date(2019, 12, 8)
    assert kept("2019-11-30") is None  # the training date's own search: age says it all
    assert kept("2019-12-09") is None  # a later run date's retraining (a backfill runs before it)


def test_a_drift_the_last_retraining_already_answered_waits_for_newer_training_data():
    """The propensity model's training features end 30 days (prediction_days) before its run
    date. A champion retrained on 2019-12-12 for a drift is not retrained for drift again until
    a training snapshot can hold a day after 12-12 (2020-01-11): before that every retraining
    trained on older days, and the drift rule fired every day (10 M benchmark state). The first
    drift, a retraining that saw none, and a model with no lag are never held."""
    answered = date(2019, 12, 12)
    held = retraining.drift_held_until
    assert held(date(2019, 12, 13), answered, 0.211, 30, 0.2) == date(2020, 1, 11)
    assert held(date(2020, 1, 10), answered, 0.211, 30, 0.2) == date(2020, 1, 11)
    assert held(date(2020, 1, 11), answered, 0.211, 30, 0.2) is None
    assert held(date(2019, 12, 13), answered, 0.15, 30, 0.2) is None  # it saw no drift
    assert held(date(2019, 12, 13), answered, None, 30, 0.2) is None  # no recorded PSI
    assert held(date(2019, 12, 13), answered, 0.3, 0, 0.2) is None  # the recommender
    assert held(date(2019, 12, 13), answered, 0.3, None, 0.2) is None  # an older reference


def test_a_held_drift_gives_no_reason_and_the_cadence_still_does():
    drifted = _decision(age=1, psi=0.259)
    assert retraining.reasons_to_retrain(POLICY, drifted, drift_held=date(2020, 1, 11)) == []
    assert retraining.reasons_to_retrain(
        POLICY, _decision(age=7, psi=0.259), drift_held=date(2020, 1, 11)
    ) == ["champion v4 is 7 days old (retrain_every_days 7)"]


def test_the_lag_is_read_from_the_reference():
    trained = date(2019, 12, 12)
    assert retraining.data_lag_days({"features_end_date": "2019-11-12"}, trained) == 30
    assert retraining.data_lag_days({"features_end_date": "2019-12-12"}, trained) == 0
    assert retraining.data_lag_days({"rows": 10}, trained) is None
