"""The daily job, one day at a time, after the session's build of run date 2019-11-30.

A new day lands and the next run date reads that file alone, rewrites only that date's
partitions of the daily aggregates, keeps the champion (one day old, no drift) and scores
forward; a rerun of the date changes nothing; a drifted day and the cadence decide to retrain,
a drift the latest retraining already answered waits for newer training data, and a backfill
through the Dagster job runs its dates in order. (Retraining itself, its gate
and scoring with a new champion are the session build's and test_propensity's.) Lands days in
the session's own landing folder, so it runs after every module that reads the session's build
(STAGE 2).
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import date

import pytest

from conftest import FIRST_DAY, LAST_DAY, ROWS, SEED, landing_files_read
from lakehouse.data import generate
from lakehouse.ml import tracking

pytestmark = pytest.mark.slow  # `make test` skips it; `make test-all` and CI run it

STAGE = 2
AGGREGATES = ["slv_user_daily_activity", "slv_user_product_daily", "slv_user_session_daily",
              "slv_product_daily"]  # fmt: skip
PROPENSITY, RECOMMENDER = "ecom_purchase_propensity", "ecom_product_recommender"


def _land(settings, day: date) -> str:
    """Lands the usual file of `day`, continuing the session's data set; returns its name."""
    path = generate.extend(settings.landing_dir, [day], rows=ROWS, start=FIRST_DAY, end=LAST_DAY,
                           seed=SEED, bad_rate=0.001)[0]  # fmt: skip
    return path.name


def _daily(dbt, day: date, **extra_vars):
    """The daily run of `day`: every model, as the schedule runs them (data tests aside)."""
    run_vars = {"run_date": day.isoformat(), **extra_vars}
    return dbt(["run", "--exclude", "tag:streaming", "--vars", json.dumps(run_vars)])


def _decisions(spark, day: date) -> dict:
    rows = spark.table("gold.ml_retraining_decisions").where(f"run_date = date'{day}'")
    return {r.registered_model_name: r.asDict() for r in rows.collect()}


def _latest_write(spark, table: str):
    history = spark.sql(f"describe history {table}").collect()
    return max((h for h in history if h.operation == "WRITE"), key=lambda h: h.version)


@pytest.fixture(scope="module")
def first_day(project_build, spark, dbt, settings):
    tracking.configure(settings, "ecom_lakehouse")  # the build's registry, not MLflow's default
    day = date(2019, 12, 1)
    name = _land(settings, day)
    counts = {t: spark.table(f"silver.{t}").count() for t in AGGREGATES}
    versions = {m: len(tracking.versions_for_run_date(m, "2019-11-30")) for m in
                (PROPENSITY, RECOMMENDER)}  # fmt: skip
    run = _daily(dbt, day)
    return {"day": day, "file": name, "counts": counts, "run": run, "versions": versions}


def test_a_daily_run_reads_only_the_new_file(first_day, dbt, spark):
    compiled = next(dbt.target.rglob("run/**/brz_landed_lines.sql")).read_text()
    assert [name for _, name in landing_files_read(compiled)] == [first_day["file"]]
    # the audit reads the parsed lines of that file by its name, a literal Delta skips by
    audit = next(dbt.target.rglob("compiled/**/brz_file_loads.sql")).read_text()
    assert f"where source_file in ('{first_day['file']}')" in audit
    loads = spark.table("bronze.brz_file_loads").where(f"source_file = '{first_day['file']}'")
    assert [r.load_status for r in loads.collect()] == ["loaded"]


def test_a_daily_run_writes_only_the_new_dates_partitions(first_day, spark):
    day = first_day["day"]
    accepted = (spark.table("bronze.brz_file_loads")
                .where(f"source_file = '{first_day['file']}'").first().rows_accepted)  # fmt: skip
    for table in AGGREGATES:
        write = _latest_write(spark, f"silver.{table}")
        written = spark.table(f"silver.{table}").where(f"event_date = date'{day}'").count()
        assert write.operationParameters["mode"] == "Overwrite", (table, write)
        assert int(write.operationMetrics["numOutputRows"]) == written > 0, table
        assert int(write.operationMetrics.get("numRemovedFiles", 0)) == 0, table  # a new date
        assert spark.table(f"silver.{table}").count() == first_day["counts"][table] + written
    # the date came from bronze's Delta log, not from a query of the loaded rows
    for table in AGGREGATES:
        assert f"{table}: 1 date(s) to rebuild, from brz_event_lines' log: {day}" in (
            first_day["run"].output
        ), table
    # the day's rows sum that day's accepted events, no more
    events = spark.sql(
        f"select sum(n_events) from silver.slv_user_daily_activity where event_date = '{day}'"
    ).first()[0]
    assert events == accepted


def test_a_no_retrain_day_keeps_the_champion_and_scores_forward(first_day, spark):
    day = first_day["day"]
    decisions = _decisions(spark, day)
    for name in (PROPENSITY, RECOMMENDER):
        decision = decisions[name]
        assert not decision["retrained"], decision
        assert decision["reason"].startswith(f"kept champion v{decision['champion_version']}")
        assert decision["champion_age_days"] == 1 and decision["max_feature_psi"] < 0.2
        assert f"{name}: no retrain for {day}" in first_day["run"].output
        # ml_feature_drift lists the PSI of every feature the decision compared, its largest
        drift = {r.feature: r.psi for r in spark.table("gold.ml_feature_drift").where(
            f"run_date = date'{day}' and registered_model_name = '{name}'").collect()}  # fmt: skip
        assert drift == decision["feature_psi"] and len(drift) > 5
        assert max(drift, key=drift.get) == decision["max_psi_feature"]
    assert spark.table("gold.ml_propensity_candidates").where(f"run_date = '{day}'").count() == 0
    scores = spark.table("gold.ml_user_purchase_scores").where(f"run_date = date'{day}'")
    row = scores.selectExpr(
        "min(features_start_date)", "max(features_end_date)", "min(prediction_start_date)",
        "max(prediction_end_date)", "count(distinct model_version)", "max(model_version)",
        "count(*)",
    ).first()  # fmt: skip
    assert tuple(row)[:4] == (date(2019, 11, 1), day, date(2019, 12, 2), date(2019, 12, 31))
    assert (row[4], row[5]) == (1, decisions[PROPENSITY]["champion_version"])
    assert row[6] == spark.table("gold.ml_user_scoring_set").count() > 1000
    assert {r.run_date for r in spark.table("gold.ml_top_buyers").collect()} == {day}
    # the Python models wrote the day's partition alone, the build's date stays as it was
    for table in ("gold.ml_user_purchase_scores", "gold.ml_product_recommendations"):
        write = _latest_write(spark, table)
        day_rows = spark.table(table).where(f"run_date = date'{day}'").count()
        assert int(write.operationMetrics["numOutputRows"]) == day_rows > 0, (table, write)
        assert int(write.operationMetrics.get("numRemovedFiles", 0)) == 0, (table, write)
        assert spark.table(table).where("run_date = date'2019-11-30'").count() > 0, table
    recs = spark.table("gold.ml_product_recommendations").where(f"run_date = date'{day}'")
    assert {r.model_version for r in recs.select("model_version").distinct().collect()} == {
        decisions[RECOMMENDER]["champion_version"]
    }
    # the recommender still removes what users touched up to this day, the new day included
    touched = spark.table("silver.slv_user_product_daily").where(f"event_date <= '{day}'")
    assert recs.join(touched, ["user_id", "product_id"]).count() == 0
    # only the users who acted on the day got new lists; the others kept the day before's
    acted = touched.where(f"event_date = '{day}'").select("user_id")
    relisted = recs.where(f"listed_on = date'{day}'").select("user_id").distinct()
    assert relisted.join(acted, "user_id", "left_anti").count() == 0  # nobody idle relisted
    assert recs.join(acted, "user_id", "left_semi").where(f"listed_on < date'{day}'").count() == 0
    kept = recs.where(f"listed_on < date'{day}'").select(
        "user_id", "recommendation_rank", "product_id", "source", "listed_on"
    )
    before = spark.table("gold.ml_product_recommendations").where("run_date = date'2019-11-30'")
    assert kept.count() > relisted.count() > 0
    assert kept.exceptAll(before.select(*kept.columns)).count() == 0
    assert {m: len(tracking.versions_for_run_date(m, str(day))) for m in
            (PROPENSITY, RECOMMENDER)} == {PROPENSITY: 0, RECOMMENDER: 0}  # fmt: skip


def test_the_scoring_snapshot_carried_forward_equals_the_one_summed_whole(first_day, dbt, spark):
    """The daily run carried the build's snapshot one day forward (only the users active on the
    new day or on the day that left the window summed again); building the same date again
    sums every user, and finds the same rows to the last bit."""
    day = first_day["day"]
    assert (f"ml_user_scoring_set: carried forward from 2019-11-30; the users active on {day}"
            " or on 2019-10-31 summed again") in first_day["run"].output  # fmt: skip
    carried = spark.table("gold.ml_user_scoring_set")
    rows = sorted(tuple(r) for r in carried.collect())
    again = dbt(["run", "-s", "ml_user_scoring_set", "--vars",
                 json.dumps({"run_date": day.isoformat()})])  # fmt: skip
    assert ("ml_user_scoring_set: every user summed again: its table holds run date "
            f"{day}, not 2019-11-30") in again.output  # fmt: skip
    assert sorted(tuple(r) for r in spark.table("gold.ml_user_scoring_set").collect()) == rows
    assert len(rows) > 1000 and {r[0] for r in rows} == {day}


def _snapshot(spark, day: date) -> dict:
    return {
        "scores": sorted(tuple(r) for r in spark.sql(
            "select user_id, purchase_probability, purchase_rank, model_version from "
            f"gold.ml_user_purchase_scores where run_date = '{day}'").collect()),
        "recommendations": sorted(tuple(r) for r in spark.sql(
            "select user_id, recommendation_rank, product_id, model_version from "
            f"gold.ml_product_recommendations where run_date = '{day}'").collect()),
        "decisions": sorted((r["registered_model_name"], r["retrained"], r["reason"])
                            for r in _decisions(spark, day).values()),
        "counts": {t: spark.table(t).count() for t in
                   ["bronze.brz_event_lines", "bronze.brz_file_loads", *(f"silver.{a}" for a in
                    AGGREGATES), "gold.ml_user_purchase_scores", "gold.ml_retraining_decisions",
                    "gold.ml_propensity_candidates", "gold.ml_product_recommendations"]},
    }  # fmt: skip


def test_a_rerun_of_a_date_changes_nothing(first_day, dbt, spark):
    day = first_day["day"]
    before = _snapshot(spark, day)
    _daily(dbt, day)
    assert _snapshot(spark, day) == before
    assert {m: len(tracking.versions_for_run_date(m, str(day))) for m in
            (PROPENSITY, RECOMMENDER)} == {PROPENSITY: 0, RECOMMENDER: 0}  # fmt: skip


def test_a_build_tests_the_keys_of_the_partitions_it_rewrote(first_day, dbt, spark):
    """The key test and the row rules of a daily aggregate, in a build that rewrites one date,
    read that date's partition alone (the files written since the build started); `dbt test`
    reads them all."""
    day, table = first_day["day"], "silver.slv_user_product_daily"
    rows = spark.table(table).count()
    spark.sql(f"delete from {table} where event_date = date'{day}'")  # the date to rebuild
    dbt(["build", "-s", "slv_user_product_daily", "--vars",
         json.dumps({"run_date": day.isoformat()})])  # fmt: skip
    assert spark.table(table).count() == rows  # the date came back whole
    (key,) = dbt.target.rglob("run/**/unique_combination_slv_user_pr_*.sql")
    assert re.search(rf"where event_date in \(date'{day}'\)\s+group by", key.read_text())
    (rules,) = dbt.target.rglob("run/**/row_rules_slv_user_product_*.sql")
    assert re.search(rf"where\s+event_date in \(date'{day}'\)\s+\)", rules.read_text())
    dbt(["test", "-s", "slv_user_product_daily"])
    (key,) = dbt.target.rglob("run/**/unique_combination_slv_user_pr_*.sql")
    assert "where true" in key.read_text()
    (rules,) = dbt.target.rglob("run/**/row_rules_slv_user_product_*.sql")
    assert re.search(r"where\s+true\s+\)", rules.read_text())


def test_a_recommended_product_the_user_touched_fails_its_test(first_day, dbt, spark):
    """assert_recommendations_are_new_products (a join with a hint of its own) finds a product
    the user touched up to the run date in the run date's lists; the table is restored after."""
    day, table = first_day["day"], "gold.ml_product_recommendations"
    select = ["test", "-s", "assert_recommendations_are_new_products", "--vars",
              json.dumps({"run_date": day.isoformat()})]  # fmt: skip
    version = spark.sql(f"describe history {table}").first().version
    touched = spark.sql(f"""
        select d.user_id, d.product_id from silver.slv_user_product_daily as d
        left semi join {table} as r on d.user_id = r.user_id and r.run_date = date'{day}'
        where d.event_date <= date'{day}' order by d.user_id, d.product_id limit 1
    """).first()  # fmt: skip
    spark.sql(f"update {table} set product_id = {touched.product_id} where "
              f"run_date = date'{day}' and user_id = {touched.user_id} "
              "and recommendation_rank = 1")  # fmt: skip
    try:
        failed = dbt(select, check=False)
        assert failed.returncode != 0
        assert re.search(r"FAIL \d+ assert_recommendations_are_new_products", failed.output)
    finally:
        spark.sql(f"restore table {table} to version as of {version}")
    assert "PASS assert_recommendations_are_new_products" in dbt(select).output


def _decide(dbt, day: date, select: str = "+ml_retraining_decisions", **extra_vars):
    """The decision of `day` and what it reads (by default bronze, silver and the scoring
    snapshot), without the training or scoring that follows it."""
    run_vars = {"run_date": day.isoformat(), **extra_vars}
    return dbt(["run", "-s", *select.split(), "--exclude", "tag:streaming",
                "--vars", json.dumps(run_vars)])  # fmt: skip


def test_a_drifted_feature_retrains(first_day, dbt, spark, settings, tmp_path):
    """A day whose users behave nothing like the champions' training data (a flood of new
    users, each active once) drifts the features past retrain_max_psi: both models are to
    retrain, for drift alone (the cadence is set out of reach)."""
    day = date(2019, 12, 2)
    flood = generate.generate(tmp_path, rows=ROWS // 2, start=day, end=day, seed=99,
                              progress=False)[0]  # fmt: skip
    shutil.copy(flood, settings.landing_dir / flood.name)
    proc = _decide(dbt, day, retrain_every_days=1000)
    decisions = _decisions(spark, day)
    for name in (PROPENSITY, RECOMMENDER):
        decision = decisions[name]
        assert decision["retrained"], decision
        assert re.fullmatch(r"feature \w+ drifted: PSI [\d.]+ > retrain_max_psi 0.2",
                            decision["reason"]), decision  # fmt: skip
        assert decision["max_feature_psi"] > 0.2
        assert f"{name}: retrain for {day}: feature" in proc.output


def test_the_cadence_retrains(first_day, dbt, spark):
    """Five days after the champions' training date, with a cadence of five days (drift set
    out of reach), both models are to retrain because of their age."""
    day = date(2019, 12, 5)
    # no file landed since the drift test's run: bronze and silver have nothing to load
    _decide(dbt, day, "ml_run_windows ml_user_scoring_set ml_retraining_decisions",
            retrain_every_days=5, retrain_max_psi=1000)  # fmt: skip
    for name, decision in _decisions(spark, day).items():
        assert decision["retrained"], decision
        assert decision["champion_age_days"] == 5
        assert decision["reason"] == (
            f"champion v{decision['champion_version']} is 5 days old (retrain_every_days 5)"
        ), name


def test_a_champion_whose_realised_quality_fell_retrains(first_day, dbt, spark):
    """The propensity champion's latest passed window (run date 2019-11-23, its window ended
    on 11-30) is put in gold.ml_model_monitoring with a realised AUC-ROC of 0.55: the decision
    of the next run date reads it (source gold_history) and retrains that model for it alone,
    cadence and drift out of reach; the recommender, which has no realised figure, is kept."""
    from pyspark.sql import Row

    day = date(2019, 12, 6)
    champion = int(tracking.champion(PROPENSITY).version)
    table = spark.table("gold.ml_model_monitoring")
    known = {"run_date": date(2019, 11, 23), "prediction_start_date": date(2019, 11, 24),
             "prediction_end_date": date(2019, 11, 30), "model_name": PROPENSITY,
             "model_version": champion, "auc_roc": 0.55}  # fmt: skip
    row = {f.name: known.get(f.name, 0 if f.dataType.typeName() != "timestamp" else None)
           for f in table.schema.fields}  # fmt: skip
    spark.createDataFrame([Row(**row)], table.schema).write.mode("append").saveAsTable(
        "gold.ml_model_monitoring"
    )
    _decide(dbt, day, "ml_run_windows ml_user_scoring_set ml_retraining_decisions",
            retrain_every_days=1000, retrain_max_psi=1000, retrain_min_auc=0.65)  # fmt: skip
    decisions = _decisions(spark, day)
    assert decisions[PROPENSITY]["retrained"], decisions
    assert decisions[PROPENSITY]["reason"] == (
        f"realised AUC-ROC 0.550 of v{champion} on run date 2019-11-23 < retrain_min_auc 0.65"
    )
    assert decisions[PROPENSITY]["realised_auc_roc"] == 0.55
    assert not decisions[RECOMMENDER]["retrained"], decisions
    assert decisions[RECOMMENDER]["realised_auc_roc"] is None


def test_a_backfill_runs_its_dates_in_order_through_the_daily_job(
    first_day, project_build, settings, spark, monkeypatch
):
    """Two run dates through the Dagster job, handed over in reverse: each is a partition run,
    in date order, and each date's run reaches dbt as its run_date (here the daily job is
    limited to bronze; the whole DAG per date is what the other tests run)."""
    orchestration = project_build["dagster"]["module"]
    instance = project_build["dagster"]["instance"]
    days = [date(2019, 12, 3), date(2019, 12, 4)]
    for day in days:
        _land(settings, day)
    results = orchestration.run_dates([d.isoformat() for d in reversed(days)], instance,
                                      layers=["bronze"])  # fmt: skip
    assert [r.success for r in results] == [True, True]
    runs = [instance.get_run_record_by_id(r.run_id) for r in results]
    assert [r.dagster_run.tags["dagster/partition"] for r in runs] == [d.isoformat() for d in days]
    assert runs[0].start_time < runs[1].start_time
    # bronze loads whatever has landed, so the first date's run loads both files
    loads = spark.table("bronze.brz_file_loads").where(
        "source_file in ('events_2019-12-03.csv', 'events_2019-12-04.csv')")  # fmt: skip
    assert {r.load_status for r in loads.collect()} == {"loaded"} and loads.count() == 2
    for day in days:
        assert spark.table("bronze.brz_events").where(f"event_date = date'{day}'").count() > 0
        # each run's own dbt log: the run date its on-run-start check saw
        (log,) = (orchestration.dagster_dir(settings) / "dbt").glob(f"{day}-*/dbt.log")
        assert f"Run date {day}: training features" in log.read_text()


def test_a_drift_the_latest_retraining_answered_waits_for_newer_training_data(
    first_day, dbt, spark
):
    """The flood of 2019-12-02 is still in the scoring snapshots of 12-07 and 12-08. The
    propensity model retrains (forced) for 12-07 with that drift seen; on 12-08 the drift alone
    does not retrain it again: its training features end prediction_days before the run date,
    so no training snapshot holds a day after 12-07 before 12-07 + prediction_days (without
    the hold, the 10 M benchmark state retrained every day). The recommender, whose latest
    retraining saw no drift, retrains for it."""
    answered, day = date(2019, 12, 7), date(2019, 12, 8)
    others_off = {"retrain_every_days": 1000, "retrain_min_auc": None}
    forced = {"run_date": answered.isoformat(), "force_retrain": True, **others_off}
    proc = dbt(["run", "-s", "+ml_propensity_candidates", "--exclude", "tag:streaming",
                "--vars", json.dumps(forced)])  # fmt: skip
    seen = _decisions(spark, answered)[PROPENSITY]
    assert seen["retrained"] and seen["max_feature_psi"] > 0.2, seen
    # 7 days after the session's build searched the whole grid (within
    # propensity_search_every_days, 28), the retraining refits that search's winner only
    candidates = spark.table("gold.ml_propensity_candidates")
    searched = candidates.where("run_date = date'2019-11-30' and stage = 'final'").collect()
    winner = max((r for r in searched if r.registered_version is not None),
                 key=lambda r: r.registered_version)  # fmt: skip
    refit = candidates.where(f"run_date = date'{answered}'").collect()
    assert sorted((r.stage, r.algorithm) for r in refit) == [
        ("baseline", "constant"),
        ("final", winner.algorithm),
        ("tuning", winner.algorithm),
    ]
    assert {r.params for r in refit if r.stage != "baseline"} == {winner.params}
    assert (
        f"search: {winner.algorithm} {winner.params} only: the grid was searched on "
        "2019-11-30, 7 days before (propensity_search_every_days 28)"
    ) in proc.output, proc.output[-3000:]
    ends = (spark.table("gold.ml_user_training_set").where(f"run_date = date'{answered}'")
            .agg({"features_end_date": "max"}).first()[0])  # fmt: skip
    until = answered + (answered - ends)

    proc = _decide(dbt, day, "ml_run_windows ml_user_scoring_set ml_retraining_decisions",
                   **others_off)  # fmt: skip
    decisions = _decisions(spark, day)
    held = decisions[PROPENSITY]
    assert not held["retrained"] and held["max_feature_psi"] > 0.2, held
    assert re.search(
        rf"feature \w+ drifted \(PSI [\d.]+ > retrain_max_psi 0.2\), but the retraining of "
        rf"{answered} already answered a drift, and a retraining before {until} trains on no "
        rf"day after it \(the features end {(answered - ends).days} days before the run date\)",
        held["reason"],
    ), held
    assert f"{PROPENSITY}: no retrain for {day}" in proc.output
    recommender = decisions[RECOMMENDER]
    assert recommender["retrained"] and "drifted" in recommender["reason"], recommender


def test_a_retraining_between_comparisons_validates_the_baselines_and_the_shipped_method(
    first_day, dbt, spark
):
    """The recommender retrains for 2019-12-08 (the drift above), 8 days after the session's
    build compared every method: within recommender_compare_every_days (28), it validates the
    baselines and the method shipped then, refits no learned method that lost, and says why."""
    day = date(2019, 12, 8)
    assert _decisions(spark, day)[RECOMMENDER]["retrained"]
    evaluation = spark.table("gold.ml_recommender_evaluation")
    (shipped,) = {r.method for r in evaluation.where(
        "run_date = date'2019-11-30' and is_shipped").collect()}  # fmt: skip
    views = ["slv_user_product_interactions_before_validation",
             "slv_user_product_conversions_in_validation",
             "slv_user_product_interactions_before_cutoff",
             "slv_user_product_conversions_before_cutoff",
             "slv_user_product_conversions_after_cutoff"]  # fmt: skip
    run_vars = {"run_date": day.isoformat(), "retrain_every_days": 1000, "retrain_min_auc": None}
    proc = dbt(["run", "-s", *views, "ml_recommender_evaluation", "--vars",
                json.dumps(run_vars)])  # fmt: skip
    rows = evaluation.where(f"run_date = date'{day}'").collect()
    expected = {"popular", "category_popular", shipped}
    assert {r.method for r in rows if r.evaluation_period == "validation"} == expected
    assert {r.method for r in rows if r.evaluation_period == "holdout"} <= expected
    said = proc.output
    assert "validation: popular, category_popular" in said, said[-3000:]
    assert (
        "only: every method was compared on 2019-11-30, 8 days before "
        "(recommender_compare_every_days 28)"
    ) in said, said[-3000:]
