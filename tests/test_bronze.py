"""Bronze end to end through dbt: every landed line accounted for, incremental by file,
quarantine with reasons, real Kaggle file names and gzip, partitions compacted by OPTIMIZE.

Runs in its own schemas (prefix `bt_`) over its own landing folder, so it can add files
between builds without disturbing the other tests.
"""

from __future__ import annotations

import gzip
import json
from datetime import date

import pytest

from conftest import PROJECT_DIR, run_dbt
from lakehouse import generate

PREFIX = "bt_"
SAMPLE = [  # the two rows DATASET.md quotes from the real files
    "2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,"
    "72d76fde-8bb3-4e00-8c23-a032dfed738c",
    "2019-10-01 00:00:00 UTC,view,3900821,2053013552326770905,appliances.environment.water_heater,"
    "aqua,33.20,554748717,9333dfbd-b87a-4708-9857-6336556b0fcc",
]


@pytest.fixture(scope="module")
def bronze(lakehouse, tmp_path_factory):
    landing = tmp_path_factory.mktemp("bt-landing")
    out = tmp_path_factory.mktemp("bt-dbt")
    env = {"LAKEHOUSE_SCHEMA_PREFIX": PREFIX, "LAKEHOUSE_LANDING_DIR": str(landing)}
    mp = pytest.MonkeyPatch()
    for key, value in env.items():
        mp.setenv(key, value)
    generate.generate(
        landing, rows=30_000, start=date(2019, 10, 1), end=date(2019, 10, 3), seed=5,
        bad_rate=0.002, progress=False,
    )  # fmt: skip

    def build(*extra, command="run"):
        return run_dbt([command, "-s", "models/bronze", *extra], PROJECT_DIR, out)

    # The first build runs every data and unit test of bronze; later ones only load.
    build("--full-refresh", command="build")
    yield {"landing": landing, "build": build}
    mp.undo()


def _lines_in(path) -> list[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt") as fh:
        return [line for line in fh.read().split("\n") if line and line != generate.HEADER]


def _audit(spark) -> dict[str, dict]:
    rows = spark.table(f"{PREFIX}bronze.brz_file_loads").collect()
    return {r.source_file: r.asDict() for r in rows}


def test_every_landed_line_is_accounted_for(bronze, spark):
    audit = _audit(spark)
    files = sorted(bronze["landing"].glob("*.csv"))
    assert sorted(audit) == [f.name for f in files]
    for f in files:
        row = audit[f.name]
        assert row["lines_landed"] == len(_lines_in(f)), f.name
        assert row["lines_landed"] == (
            row["rows_accepted"] + row["rows_duplicate"] + row["rows_rejected"]
        )
        assert row["rows_duplicate"] > 0 and row["rows_rejected"] > 0
    totals = {k: sum(r[k] for r in audit.values()) for k in ("rows_accepted", "rows_rejected")}
    assert spark.table(f"{PREFIX}bronze.brz_events").count() == totals["rows_accepted"]
    rejected = spark.table(f"{PREFIX}bronze.brz_rejected_event_lines")
    assert rejected.count() == totals["rows_rejected"]
    reasons = {r.reject_reason for r in rejected.select("reject_reason").distinct().collect()}
    assert {"malformed_line", "unknown_event_type", "negative_price"} <= reasons


def test_events_are_delta_partitioned_by_date_and_compacted(bronze, spark):
    table = f"{PREFIX}bronze.brz_events"
    detail = spark.sql(f"describe detail {table}").first()
    assert detail.format == "delta"
    assert list(detail.partitionColumns) == ["event_date"]
    dates = spark.table(table).select("event_date").distinct().count()
    assert detail.numFiles == dates  # one file per daily partition after OPTIMIZE
    history = spark.sql(f"describe history {table}").collect()
    optimize = [h for h in history if h.operation == "OPTIMIZE"]
    assert optimize, [h.operation for h in history]
    metrics = optimize[0].operationMetrics
    assert int(metrics["numRemovedFiles"]) > int(metrics["numAddedFiles"])


def test_a_new_daily_file_loads_only_its_date(bronze, spark):
    table = f"{PREFIX}bronze.brz_events"
    before = spark.table(table).count()
    generate.generate(
        bronze["landing"], rows=10_000, start=date(2019, 10, 4), end=date(2019, 10, 4), seed=6,
        progress=False,
    )  # fmt: skip
    bronze["build"]()
    audit = _audit(spark)
    new = audit["events_2019-10-04.csv"]
    writes = [h for h in spark.sql(f"describe history {table}").collect() if h.operation == "WRITE"]
    latest = max(writes, key=lambda h: h.version)
    # The append read only the new file: it wrote exactly that file's accepted rows.
    assert int(latest.operationMetrics["numOutputRows"]) == new["rows_accepted"]
    assert spark.table(table).count() == before + new["rows_accepted"]
    new_dates = spark.sql(
        f"select distinct event_date from {table} where source_file = 'events_2019-10-04.csv'"
    ).collect()
    assert [r.event_date for r in new_dates] == [date(2019, 10, 4)]


def test_rebuild_without_new_files_changes_nothing(bronze, spark):
    tables = ["brz_event_lines", "brz_events", "brz_rejected_event_lines", "brz_file_loads"]
    counts = {t: spark.table(f"{PREFIX}bronze.{t}").count() for t in tables}
    bronze["build"]()
    assert {t: spark.table(f"{PREFIX}bronze.{t}").count() for t in tables} == counts


def test_real_file_names_gzip_and_a_truncated_last_line(bronze, spark):
    path = bronze["landing"] / "2019-Oct.csv.gz"
    truncated = SAMPLE[1][:40]
    with gzip.open(path, "wt") as fh:  # no newline after the last, truncated line
        fh.write(generate.HEADER + "\n" + SAMPLE[0] + "\n" + SAMPLE[1] + "\n" + truncated)
    bronze["build"]()
    row = _audit(spark)["2019-Oct.csv.gz"]
    assert (row["lines_landed"], row["rows_accepted"], row["rows_rejected"]) == (3, 2, 1)
    rejected = spark.sql(
        f"select line, reject_reason from {PREFIX}bronze.brz_rejected_event_lines "
        "where source_file = '2019-Oct.csv.gz'"
    ).collect()
    assert [(r.line, r.reject_reason) for r in rejected] == [(truncated, "malformed_line")]
    event = spark.sql(f"select * from {PREFIX}bronze.brz_events where product_id = 3900821").first()
    assert event.category_code == "appliances.environment.water_heater"
    assert str(event.price) == "33.20" and event.user_id == 554748717
    assert json.dumps(str(event.event_time)) == '"2019-10-01 00:00:00"'


def test_every_kind_of_bad_row_is_quarantined_with_its_reason(bronze, spark):
    """tests/fixtures/bad_rows holds every kind of bad line the quarantine knows, a duplicate,
    and valid edge cases (zero price, empty session); expected.csv says what becomes of each."""
    import shutil
    from collections import Counter
    from pathlib import Path

    fixture = Path(__file__).parent / "fixtures" / "bad_rows"
    shutil.copy(fixture / "events_bad_rows.csv", bronze["landing"] / "events_bad_rows.csv")
    lines = [line for line in _lines_in(fixture / "events_bad_rows.csv")]
    outcomes = (fixture / "expected.csv").read_text().split("\n")[1:-1]
    assert len(lines) == len(outcomes)
    bronze["build"]()

    expected_rejects = Counter(
        (line, outcome)
        for line, outcome in zip(lines, outcomes, strict=True)
        if outcome not in ("accepted", "duplicate")
    )
    rejected = spark.sql(
        f"select line, reject_reason from {PREFIX}bronze.brz_rejected_event_lines "
        "where source_file = 'events_bad_rows.csv'"
    ).collect()
    assert Counter((r.line, r.reject_reason) for r in rejected) == expected_rejects
    assert set(r for _, r in expected_rejects) == {
        "malformed_line", "unparseable_event_time", "unknown_event_type", "missing_id",
        "non_numeric_id", "non_numeric_price", "negative_price",
    }  # fmt: skip
    accepted = spark.sql(
        f"select user_id, price, user_session from {PREFIX}bronze.brz_events "
        "where source_file = 'events_bad_rows.csv'"
    ).collect()
    assert len(accepted) == outcomes.count("accepted")
    assert any(str(r.price) == "0.00" and r.user_session is None for r in accepted)
    row = _audit(spark)["events_bad_rows.csv"]
    assert row["lines_landed"] == len(lines)
    assert row["rows_accepted"] == outcomes.count("accepted")
    assert row["rows_duplicate"] == outcomes.count("duplicate")
    assert row["rows_rejected"] == sum(expected_rejects.values())


def test_small_files_demo_compacts_and_records_it(bronze, spark, tmp_path):
    """`dbt run-operation demo_small_files`: many tiny appends, then OPTIMIZE ZORDER BY."""
    batches = 25
    run_dbt(
        [
            "run-operation",
            "demo_small_files",
            "--args",
            f"{{batches: {batches}, rows_per_batch: 80}}",
        ],
        PROJECT_DIR,
        tmp_path,
    )
    results = spark.table(f"{PREFIX}bronze.demo_small_files_results").collect()
    stages = {r.stage: r for r in results}
    assert stages["before_optimize"].num_files >= batches
    # Stated bound: OPTIMIZE bin-packs into files of up to 1 GiB, so these rows fit in one.
    assert stages["after_optimize"].num_files == 1
    assert stages["after_optimize"].query_seconds > 0
    history = spark.sql(f"describe history {PREFIX}bronze.demo_small_files").collect()
    assert sum(h.operation == "WRITE" for h in history) == batches
    optimize = [h for h in history if h.operation == "OPTIMIZE"]
    assert len(optimize) == 1
    assert "user_id" in optimize[0].operationParameters["zOrderBy"]
    assert int(optimize[0].operationMetrics["numRemovedFiles"]) >= batches
