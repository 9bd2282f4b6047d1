"""Time travel and recovery, the story end to end on the session's build: a day appended
twice lands in a silver table, its key test catches it, `table_history` and `diff_versions`
show it, `restore_table` refuses without confirmation and then puts the table back, and the
table equals its earlier version again. A training run is rebuilt by time travel and checked.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from conftest import BIN_DIR

pytestmark = pytest.mark.slow  # `make test` skips it; `make test-all` and CI run it

STAGE = 1  # changes (and restores) a table of the session's build
MODEL = "slv_product_daily"
TABLE = f"silver.{MODEL}"


def _latest_version(spark) -> int:
    return spark.sql(f"describe history {TABLE} limit 1").first().version


def test_a_bad_append_is_caught_diffed_and_restored(project_build, spark, dbt):
    good = _latest_version(spark)
    rows = spark.table(TABLE).count()
    last_day = spark.sql(f"select max(event_date) from {TABLE}").first()[0]
    # a bad append: the last day's rows once more, as a rerun without its idempotence would;
    # one commit, so the story's versions are good and good + 1 (the server's auto compaction,
    # a second commit when the partition holds enough small files, is off for this session)
    compaction = "spark.databricks.delta.autoCompact.enabled"
    server_setting = spark.conf.get(compaction)
    spark.conf.set(compaction, "false")
    try:
        spark.sql(f"insert into {TABLE} select * from {TABLE} where event_date = '{last_day}'")
    finally:
        spark.conf.set(compaction, server_setting)
    operations = [
        (h.version, h.operation) for h in spark.sql(f"describe history {TABLE}").collect()
    ]
    assert operations[0] == (good + 1, "WRITE"), operations
    doubled = spark.table(TABLE).count() - rows
    assert doubled > 0

    caught = dbt(["test", "-s", MODEL], check=False)
    assert caught.returncode != 0 and "unique_combination" in caught.output

    history = dbt(["run-operation", "table_history", "--args", f"{{model: {MODEL}, limit: 2}}"])
    assert "History of " in history.output and MODEL in history.output
    bad_line = next(ln for ln in history.output.splitlines() if f" {good + 1}  " in ln)
    assert "WRITE" in bad_line and f" {rows + doubled} " in bad_line, bad_line

    diff = dbt(["run-operation", "diff_versions", "--args",
                f"{{model: {MODEL}, from_version: {good}}}"])  # fmt: skip
    header = next((ln for ln in diff.output.splitlines() if f"version {good} -> " in ln), None)
    assert header is not None and header.endswith(
        f"version {good} -> {good + 1}: rows {rows} -> {rows + doubled}; keys added 0, "
        f"removed 0, changed {doubled}"
    ), header
    assert "changed: product_id=" in diff.output and "(rows 1 -> 2)" in diff.output

    refused = dbt(["run-operation", "restore_table", "--args",
                   f"{{model: {MODEL}, version: {good}}}"], check=False)  # fmt: skip
    assert refused.returncode != 0 and "confirm: true" in refused.output
    assert _latest_version(spark) == good + 1  # nothing restored

    restored = dbt(["run-operation", "restore_table", "--args",
                    f"{{model: {MODEL}, version: {good}, confirm: true}}"])  # fmt: skip
    assert (
        f"replaced version {good + 1} ({rows + doubled} rows) with version {good + 2} ({rows} rows)"
    ) in restored.output
    for a, b in (
        (TABLE, f"{TABLE} version as of {good}"),
        (f"{TABLE} version as of {good}", TABLE),
    ):
        assert spark.sql(f"select * from {a} except all select * from {b}").count() == 0
    dbt(["test", "-s", MODEL])  # green again
    _show_story(caught, history, diff, refused, restored)


def test_a_training_run_is_rebuilt_by_time_travel_and_checked(project_build, lakehouse):
    """`lakehouse reproduce-run RUN_ID` reads the Delta version, row count and checksum the
    propensity search recorded, rebuilds the training set at that version and finds it equal;
    a run whose recorded checksum differs is reported as different (exit 1)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(lakehouse.mlflow_tracking_uri)
    runs = [
        run
        for experiment in client.search_experiments()
        for run in client.search_runs([experiment.experiment_id])
        if "training_checksum" in run.data.tags
    ]
    assert runs, "no run recorded its training set's fingerprint"
    run = runs[0]
    same = subprocess.run([str(BIN_DIR / "lakehouse"), "reproduce-run", run.info.run_id],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert same.returncode == 0, same.stdout + same.stderr
    tags = run.data.tags
    assert (
        f"{tags['training_rows']} rows, checksum {tags['training_checksum']}, as recorded"
    ) in same.stdout
    # a run that recorded another checksum (as if the table had been rewritten under it)
    experiment = client.create_experiment(f"reproduce-check-{run.info.run_id[:8]}")
    other = client.create_run(experiment, tags={
        **tags, "training_checksum": str(int(tags["training_checksum"]) + 1)})  # fmt: skip
    differs = subprocess.run([str(BIN_DIR / "lakehouse"), "reproduce-run", other.info.run_id],
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert differs.returncode == 1 and "differs" in differs.stdout, differs.stdout


def _show_story(*steps) -> None:
    """Prints what each step told the user (`pytest -rP` shows it; the closing notes cite it)."""
    marks = ("History of", "version", "FAIL ", "confirm", "  v")
    for step in steps:
        args = step.args[1:]
        ends = [args.index(flag) for flag in ("--vars", "--project-dir") if flag in args]
        told = [line.split("  ", 1)[-1].strip() for line in step.output.splitlines()
                if any(mark in line for mark in marks)
                or re.search(r"\s\d+\s+20\d\d-", line)]  # fmt: skip
        print(
            f"$ dbt {' '.join(args[: min(ends, default=len(args))])}\n  " + "\n  ".join(told[:12])
        )
