"""Windows checked against the data, as a new user meets them: a landing folder that holds one
day (2019-10-01) and the default run date (2019-11-30), then that day as the run date.

Runs in its own schemas (prefix `wt_`) over its own landing folder. The ML models must stop or
keep their champion with one line that names the dates and the var to change, never with a
bare Spark exception, and the recommender must not write an evaluation of nothing.
"""

from __future__ import annotations

from datetime import date

import pytest

from lakehouse.data import generate

pytestmark = pytest.mark.slow  # `make test` skips it; `make test-all` and CI run it

PREFIX = "wt_"
SPARK_ERRORS = ("AnalysisException", "INVALID_ARRAY_INDEX", "Py4JJavaError", "SparkException",
                "Traceback (most recent call last)")  # fmt: skip


@pytest.fixture(scope="module")
def one_day(lakehouse, dbt, tmp_path_factory):
    landing = tmp_path_factory.mktemp("wt-landing")
    mp = pytest.MonkeyPatch()
    mp.setenv("LAKEHOUSE_SCHEMA_PREFIX", PREFIX)
    mp.setenv("LAKEHOUSE_LANDING_DIR", str(landing))
    generate.generate(landing, rows=2_000, start=date(2019, 10, 1), end=date(2019, 10, 1),
                      seed=3, progress=False)  # fmt: skip
    # models of their own in the session's MLflow registry, so no champion exists yet
    dbt(["seed"])  # the run below is `dbt run`, which does not load seeds
    names = "propensity_model_name: wt_propensity, recommender_model_name: wt_recommender"
    default = dbt(["run", "--exclude", "tag:streaming", "--vars", f"{{{names}}}"], check=False)
    that_day = dbt(["run", "--exclude", "tag:streaming", "--vars",
                    f"{{run_date: '2019-10-01', {names}}}"], check=False)  # fmt: skip
    yield {"default": default, "that_day": that_day}
    mp.undo()


def test_an_empty_scoring_snapshot_stops_with_the_dates_and_the_var(one_day, spark):
    out = one_day["default"].output
    assert one_day["default"].returncode != 0
    assert (
        "Python model ml_retraining_decisions stopped: nothing to score: no events from "
        "2019-10-31 to 2019-11-30 (scoring features of run date 2019-11-30); the data covers "
        "2019-10-01 to 2019-10-01: choose another run_date"
    ) in out
    assert not [e for e in SPARK_ERRORS if e in out], out[-4000:]
    assert "OK created sql incremental model wt_bronze.brz_event_lines" in out  # bronze loaded
    # the failed run is in the run history too, its failed model with nothing written (it made
    # no table, so there is no Delta history to read)
    assert "Recorded " in out and f"node results in {PREFIX}ops.node_results" in out
    failed = spark.sql(
        f"select status, bytes_written from {PREFIX}ops.node_results "
        "where name = 'ml_retraining_decisions' and command = 'run'"
    ).collect()
    assert ("error", None) in [(r.status, r.bytes_written) for r in failed], failed


def test_without_training_data_the_models_say_why_and_nothing_is_evaluated(one_day, spark):
    out = one_day["that_day"].output
    # before any table is touched, one line per window the loaded data does not reach
    assert ("Run date 2019-10-01: the training window (2019-08-02 to 2019-09-01) lies outside "
            "the loaded data (2019-10-01 to 2019-10-01)") in out  # fmt: skip
    decisions = {
        r.registered_model_name: r
        for r in spark.table(f"{PREFIX}gold.ml_retraining_decisions").collect()
    }
    for decision in decisions.values():
        assert not decision.retrained
        assert decision.reason.startswith(
            "no champion, and cannot train: no events from 2019-08-02 to 2019-09-01 "
            "(training features of run date 2019-10-01)"
        ), decision.reason
    assert ("ml_user_purchase_scores stopped: no champion of wt_propensity to score with: no "
            "champion, and cannot train") in out  # fmt: skip
    assert ("ml_product_recommendations stopped: no recommender to recommend with") in out
    assert spark.table(f"{PREFIX}gold.ml_recommender_evaluation").count() == 0
    assert not [e for e in SPARK_ERRORS if e in out], out[-4000:]
