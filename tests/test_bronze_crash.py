"""Crash recovery in bronze: the server killed (SIGKILL) while brz_event_lines is writing a
build's new files; after a restart and a rebuild every landed line is accounted for exactly
once and no event is duplicated. A table whose folder outlived its metastore entry (a crash
between Delta's commit and the metastore's) is repaired by the next build.

Runs in its own schemas (prefix `bc_`) over its own landing folder. Restarts the server.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest

from conftest import BIN_DIR, PROJECT_DIR, run_dbt, with_test_vars
from lakehouse.data import generate
from lakehouse.platform import server

pytestmark = pytest.mark.slow  # `make test` skips it; `make test-all` and CI run it

STAGE = 1  # kills and restarts the server
PREFIX = "bc_"
SEED = "event_type_weights"


def _session(settings):
    from pyspark.sql import SparkSession

    return SparkSession.builder.remote(settings.connect_url).create()


def _rows(settings, sql: str) -> list:
    spark = _session(settings)
    try:
        return spark.sql(sql).collect()
    finally:
        spark.stop()


def _content_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().split("\n") if line and line != generate.HEADER)


def _table_folder(settings, schema: str, table: str) -> Path:
    return settings.warehouse_dir / f"{PREFIX}{schema}.db" / table


def _restart(settings) -> None:
    while server.pid_alive(server.read_pid(settings) or 0):
        time.sleep(0.2)
    server.up(settings)


@pytest.fixture(scope="module")
def crash(lakehouse, tmp_path_factory):
    landing = tmp_path_factory.mktemp("bc-landing")
    staging = tmp_path_factory.mktemp("bc-staging")
    out = tmp_path_factory.mktemp("bc-dbt")
    files = generate.generate(staging, rows=600_000, start=date(2019, 10, 1),
                              end=date(2019, 10, 3), seed=8, bad_rate=0.002,
                              progress=False)  # fmt: skip
    mp = pytest.MonkeyPatch()
    mp.setenv("LAKEHOUSE_SCHEMA_PREFIX", PREFIX)
    mp.setenv("LAKEHOUSE_LANDING_DIR", str(landing))

    def build(*extra, command="run", check=True):
        args = [command, "-s", "bronze", "--exclude", "tag:streaming", *extra]
        return run_dbt(args, PROJECT_DIR, out, check=check)

    shutil.move(files[0], landing / files[0].name)
    build("--full-refresh")
    yield {"landing": landing, "staging": staging, "files": files, "build": build, "out": out}
    mp.undo()


def test_a_server_killed_while_bronze_writes_loses_and_doubles_nothing(crash, lakehouse):
    settings = lakehouse
    for path in crash["files"][1:]:
        shutil.move(path, crash["landing"] / path.name)
    folder = _table_folder(settings, "bronze", "brz_event_lines")
    commits_before = sorted(p.name for p in (folder / "_delta_log").glob("*.json"))
    data_before = {p for p in folder.rglob("*.parquet")}
    log_path = crash["out"] / "killed-build.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [str(BIN_DIR / "dbt"),
             *with_test_vars(["run", "-s", "bronze", "--exclude", "tag:streaming"]),
             "--project-dir", str(PROJECT_DIR),
             "--target-path", str(crash["out"] / "target-killed")],
            cwd=PROJECT_DIR, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        # Wait until brz_event_lines writes its first data file of this build, then kill the
        # server's JVM before the write commits.
        writing = False
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if any(p not in data_before for p in folder.rglob("*.parquet")):
                writing = True
                break
            time.sleep(0.01)
        os.killpg(os.getpgid(server.read_pid(settings)), signal.SIGKILL)
        proc.kill()  # its client would retry against the dead server
        proc.wait(timeout=60)
    try:
        assert writing, log_path.read_text()[-3000:]
        # the kill fell inside the write: data files on disk, no commit for them
        assert sorted(p.name for p in (folder / "_delta_log").glob("*.json")) == commits_before
        assert len(set(folder.rglob("*.parquet")) - data_before) > 0
    finally:
        # whatever failed above, the modules after this one need the server (a CI run on
        # 2026-12-03 failed here once and every later test then waited on a dead server)
        _restart(settings)
    rebuilt = crash["build"]()
    assert "ERROR=0" in rebuilt.output

    audit = _rows(settings, f"select * from {PREFIX}bronze.brz_file_loads where "
                            "load_status = 'loaded'")  # fmt: skip
    names = sorted(p.name for p in crash["landing"].iterdir())
    assert sorted(r.source_file for r in audit) == names  # each file loaded exactly once
    for row in audit:
        landed = _content_lines(crash["landing"] / row.source_file)
        assert row.lines_landed == landed, row.source_file
        assert landed == row.rows_accepted + row.rows_duplicate + row.rows_rejected
    lines, distinct = _rows(
        settings,
        f"select count(*), count(distinct event_id) from {PREFIX}bronze.brz_event_lines",
    )[0]
    assert lines == distinct  # no line appended twice
    events = _rows(settings, f"select count(*), count(distinct event_id) from "
                             f"{PREFIX}bronze.brz_events")[0]  # fmt: skip
    assert events[0] == events[1] == sum(r.rows_accepted for r in audit)


@pytest.mark.parametrize("committed", [True, False], ids=["committed", "never-committed"])
def test_a_table_folder_without_its_metastore_entry_is_repaired(crash, lakehouse, committed):
    """A seed's table dropped from the metastore while its folder stays, with its Delta log
    committed or with data files only: the next run moves the folder aside (kept) and creates
    the table afresh, with the same rows. Without the repair, `dbt seed` fails on the
    non-empty location."""
    settings = lakehouse
    seed = ["seed", "-s", SEED]
    run_dbt(seed, PROJECT_DIR, crash["out"])
    relation = f"{PREFIX}{_seed_schema()}.{SEED}"
    expected = sorted(tuple(r) for r in _rows(settings, f"select * from {relation}"))
    folder = _table_folder(settings, _seed_schema(), SEED)
    kept = crash["out"] / f"kept-{committed}"
    shutil.copytree(folder, kept)
    _rows(settings, f"drop table {relation}")
    shutil.rmtree(folder, ignore_errors=True)  # (a managed table's drop removes it already)
    shutil.copytree(kept, folder)  # the folder, without a metastore entry
    if not committed:
        shutil.rmtree(folder / "_delta_log")

    reseeded = run_dbt(seed, PROJECT_DIR, crash["out"])
    assert f"Repaired {relation}: its folder had no metastore entry" in reseeded.output
    assert ("its Delta log had committed" in reseeded.output) == committed
    assert sorted(tuple(r) for r in _rows(settings, f"select * from {relation}")) == expected
    moved = sorted((settings.warehouse_dir.parent / "orphaned").glob(f"{PREFIX}*.{SEED}-*"))
    assert len(moved) == (1 if committed else 2)
    assert (moved[-1] / "_delta_log").is_dir() == committed and any(moved[-1].glob("*.parquet"))


def _seed_schema() -> str:
    import yaml

    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    return project["seeds"][project["name"]]["+schema"]
