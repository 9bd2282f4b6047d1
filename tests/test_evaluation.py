"""The propensity figures on examples small enough to work out by hand (no server)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from conftest import PROJECT_DIR
from lakehouse.ml import evaluation, propensity

# 6 users: 3 buyers. Of the 9 (buyer, non-buyer) pairs the buyer scores higher in 6:
# 0.9 beats all three non-buyers, 0.7 beats 0.6 and 0.2, 0.3 beats 0.2 only.
LABELS = [1, 0, 1, 0, 1, 0]
PROBS = [0.9, 0.8, 0.7, 0.6, 0.3, 0.2]


def test_auc_roc_and_auc_pr_on_six_users():
    found = propensity.metrics(LABELS, PROBS, "test")
    assert found["test_auc_roc"] == pytest.approx(6 / 9)
    # precision at each buyer's rank: 1/1, 2/3, 3/5; average precision is their mean
    assert found["test_auc_pr"] == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)


def test_brier_and_expected_calibration_error_by_hand():
    assert evaluation.brier([1, 0], [0.8, 0.4]) == pytest.approx((0.04 + 0.16) / 2)
    # bin [0.2, 0.3): 2 users, mean 0.2, rate 0.5; bin [0.9, 1.0]: 2 users, mean 0.95, rate 1
    labels, probs = [0, 1, 1, 1], [0.2, 0.2, 0.9, 1.0]
    rows = evaluation.reliability(labels, probs)
    assert [(r["users"], r["buying_rate"]) for r in rows] == [(2, 0.5), (2, 1.0)]
    assert evaluation.expected_calibration_error(labels, probs) == pytest.approx(
        0.5 * abs(0.5 - 0.2) + 0.5 * abs(1.0 - 0.95)
    )
    assert evaluation.expected_calibration_error([0, 1] * 50, [0.5] * 100) == 0.0


def test_the_odds_correction_undoes_balanced_weights():
    # 1 buyer in 5: balanced weights are 5/2 for buyers and 5/8 for the others, so a weighted
    # model says 0.5 where the true rate is 0.2
    correction = evaluation.odds_correction(5 / 8, 5 / 2)
    assert correction == pytest.approx(0.25)
    assert evaluation.corrected([0.5], correction)[0] == pytest.approx(0.2)
    low, high = evaluation.corrected([0.1, 0.9], correction)
    assert 0 < low < 0.1 and high < 0.9 and math.isclose(evaluation.corrected([1.0], 7)[0], 1)


def test_the_threshold_maximises_f1_without_a_purchase_value():
    chosen = evaluation.choose_threshold(LABELS, PROBS)
    # flag top 1: F1 2/4; top 3: 4/6; top 5: 6/8 (best); top 6: 6/9
    assert chosen == {"threshold": 0.3, "rule": "f1", "value": pytest.approx(0.75),
                      "flagged_share": pytest.approx(5 / 6)}  # fmt: skip


def test_the_threshold_maximises_profit_with_value_and_cost():
    # value 10, cost 4: top 1 gives 6, top 3 gives 20 - 12 = 8, top 5 gives 30 - 20 = 10 (best)
    chosen = evaluation.choose_threshold(LABELS, PROBS, purchase_value=10, contact_cost=4)
    assert (chosen["rule"], chosen["threshold"], chosen["value"]) == ("expected_profit", 0.3, 10)
    dear = evaluation.choose_threshold(LABELS, PROBS, purchase_value=10, contact_cost=7)
    assert (dear["threshold"], dear["value"]) == (0.9, 3)  # only the surest buyer pays
    ruinous = evaluation.choose_threshold(LABELS, PROBS, purchase_value=1, contact_cost=5)
    assert ruinous["threshold"] == 1.0 and ruinous["flagged_share"] == 0.0


def test_tied_probabilities_are_flagged_together():
    chosen = evaluation.choose_threshold([1, 0, 0, 1], [0.5, 0.5, 0.5, 0.1])
    # 0.5 flags three users (F1 2/5); 0.1 flags all four (F1 4/6)
    assert chosen["threshold"] == 0.1 and chosen["flagged_share"] == 1.0


def test_the_paired_bootstrap_sees_a_real_gain_and_no_gain_between_equals():
    labels = [1, 0, 1, 0, 1, 0, 0, 0] * 25
    good = [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.2, 0.1] * 25
    poor = [0.2, 0.8, 0.9, 0.1, 0.3, 0.7, 0.6, 0.2] * 25
    same = evaluation.paired_bootstrap_gain(labels, good, good, "auc_pr")
    assert same == {"gain": 0.0, "standard_error": 0.0, "resamples": 200}
    better = evaluation.paired_bootstrap_gain(labels, good, poor, "auc_pr")
    assert better["gain"] > 1.645 * better["standard_error"] > 0
    again = evaluation.paired_bootstrap_gain(labels, good, poor, "auc_pr")
    assert again == better  # seeded: the same decision on a rerun


def test_the_decile_table_ranks_lifts_and_captures():
    # 20 users, 4 buyers: the two most likely both buy, then one at rank 5 and one at rank 20
    probs = [1 - i / 20 for i in range(20)]
    labels = [1, 1, 0, 0, 1] + [0] * 14 + [1]
    table = evaluation.decile_table(labels, probs)
    assert [r["users"] for r in table] == [2] * 10
    assert [r["buyers"] for r in table] == [2, 0, 1, 0, 0, 0, 0, 0, 0, 1]
    assert table[0]["buying_rate"] == 1.0 and table[0]["lift"] == pytest.approx(1.0 / 0.2)
    assert [r["cumulative_capture"] for r in table][:3] == [0.5, 0.5, 0.75]
    assert table[-1]["cumulative_capture"] == 1.0


def test_ranked_figures_are_scikit_learns_for_the_users_and_for_any_draw_of_them():
    """AUC-ROC and AUC-PR from the one ranking equal scikit-learn's, ties included (scores
    rounded to two places), and a draw given as weights equals the draw's own arrays."""
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(3)
    probs = np.round(rng.random(2000), 2)
    labels = (rng.random(2000) < probs * 0.4).astype(int)
    ranked = evaluation.Ranked(labels, probs)
    assert ranked.auc_roc() == pytest.approx(roc_auc_score(labels, probs), abs=1e-12)
    assert ranked.auc_pr() == pytest.approx(average_precision_score(labels, probs), abs=1e-12)
    draw = rng.integers(0, 2000, 2000)
    weights = np.bincount(draw, minlength=2000)
    assert (weights == 0).any()  # some users are not drawn, some twice
    assert ranked.auc_roc(weights) == pytest.approx(
        roc_auc_score(labels[draw], probs[draw]), abs=1e-12)  # fmt: skip
    assert ranked.auc_pr(weights) == pytest.approx(
        average_precision_score(labels[draw], probs[draw]), abs=1e-12)  # fmt: skip


def test_the_bootstrap_interval_holds_the_figure_and_narrows_with_more_users():
    labels, probs = [1, 0, 1, 0, 1, 0, 0, 0] * 10, [0.9, 0.4, 0.3, 0.6, 0.7, 0.2, 0.5, 0.1] * 10
    figure = propensity.metrics(labels, probs, "t")["t_auc_roc"]
    low, high = evaluation.bootstrap_interval(labels, probs, "auc_roc")
    assert low < figure < high
    wide_low, wide_high = evaluation.bootstrap_interval(labels[:16], probs[:16], "auc_roc")
    assert wide_high - wide_low > high - low


def _hits(recommended: dict, relevant: dict) -> list[tuple[int, int, int]]:
    """(hits, relevant, users=1) per user: the rows lakehouse.ml.recommend.evaluate groups."""
    return [(len(set(recommended[u]) & relevant[u]), len(relevant[u]), 1) for u in relevant]


def test_precision_and_recall_at_k_on_three_users():
    # k = 3. Ann: 2 of her 3 recommendations are among her 4 relevant products; Bob: 0 of 3
    # (1 relevant); Cy: 1 of 3 (his 1 relevant product).
    recommended = {"ann": [1, 2, 3], "bob": [4, 5, 6], "cy": [7, 8, 9]}
    relevant = {"ann": {1, 3, 10, 11}, "bob": {12}, "cy": {9}}
    found = evaluation.ranking_metrics(_hits(recommended, relevant), k=3)
    # precision@3 = (2/3 + 0/3 + 1/3) / 3 = 1/3; recall@3 = (2/4 + 0/1 + 1/1) / 3 = 1/2
    assert found["precision_at_k"] == pytest.approx(1 / 3)
    assert found["recall_at_k"] == pytest.approx(1 / 2)
    assert found["users_evaluated"] == 3
    # grouped rows give the same figures: two users alike count as one row of 2
    grouped = evaluation.ranking_metrics([(2, 4, 1), (0, 1, 2)], k=3)
    assert grouped["precision_at_k"] == pytest.approx((2 / 3) / 3)
    assert grouped["recall_at_k"] == pytest.approx(0.5 / 3)


def test_the_precision_interval_holds_the_figure_and_narrows_with_more_users():
    few = evaluation.ranking_metrics([(1, 2, 10), (0, 1, 30)], k=5)
    many = evaluation.ranking_metrics([(1, 2, 1000), (0, 1, 3000)], k=5)
    assert few["precision_at_k"] == many["precision_at_k"] == pytest.approx(0.25 / 5)
    for found in (few, many):
        assert found["precision_ci_low"] < found["precision_at_k"] < found["precision_ci_high"]
    assert (many["precision_ci_high"] - many["precision_ci_low"]
            < (few["precision_ci_high"] - few["precision_ci_low"]) / 5)  # fmt: skip
    assert evaluation.ranking_metrics([], k=5)["users_evaluated"] == 0


def test_the_monitoring_table_bins_calibration_as_the_training_report_does():
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    assert project["vars"]["calibration_bins"] == evaluation.CALIBRATION_BINS


def _figures(precision: float) -> dict:
    return {"all": {"precision_at_k": precision}}


def test_the_recommender_choices_take_the_best_on_validation_and_the_first_on_a_tie():
    """ALS's grid point and the shipped method are chosen on validation precision@k over all
    users; a tie goes to the earlier grid point and to the simpler method."""
    from lakehouse.ml import recommend

    tried = [({"rank": 8}, _figures(0.02)), ({"rank": 16}, _figures(0.05)),
             ({"rank": 32}, _figures(0.05)), ({"rank": 64}, _figures(0.01))]  # fmt: skip
    assert recommend.best_point(tried) == tried[1]
    assert recommend.best_point(tried[:1]) == tried[0]
    precisions = [0.03, 0.06, 0.06, 0.04]  # popular, category_popular, item_knn, als
    figures = {m: _figures(p) for m, p in zip(recommend.METHODS, precisions, strict=True)}
    assert recommend.best_method(figures) == "category_popular"
    figures["als"] = _figures(0.07)
    assert recommend.best_method(figures) == "als"


def test_the_holdout_reports_the_shipped_method_and_the_baselines_only():
    """A learned method that lost on validation is not refitted on the holdout; the baselines
    always are (they cost seconds), in the order of METHODS."""
    from lakehouse.ml import recommend

    assert recommend.reported_methods("category_popular") == ("popular", "category_popular")
    assert recommend.reported_methods("als") == ("popular", "category_popular", "als")
    assert recommend.reported_methods("item_knn") == ("popular", "category_popular", "item_knn")
    with pytest.raises(ValueError, match="unknown recommender method 'svd'"):
        recommend.reported_methods("svd")


def test_the_grid_is_tuned_on_a_sample_only_when_it_leaves_out_many_users():
    # the refit of the winner on all users costs about a quarter of the tuning fits: a sample
    # of nearly every user would cost more than tuning on all of them
    assert not propensity.samples(202_067, 200_000)
    assert not propensity.samples(300_000, 200_000)
    assert propensity.samples(300_001, 200_000)
    assert propensity.samples(836_338, 200_000)
    assert not propensity.samples(836_338, 0) and not propensity.samples(836_338, None)


def test_als_fits_in_two_blocks_per_core_of_the_server():
    from types import SimpleNamespace

    from lakehouse.ml import recommend

    def server(partitions: str):  # the server sets four shuffle partitions per core
        return SimpleNamespace(conf=SimpleNamespace(get=lambda key: partitions))

    assert recommend.als_blocks(server("8")) == 4
    assert recommend.als_blocks(server("64")) == 32
    assert recommend.als_blocks(server("1")) == 2
