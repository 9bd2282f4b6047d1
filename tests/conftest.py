"""Shared fixtures: one real lakehouse server for the whole test session.

The test server runs on its own ports and its own state folder (a temporary directory), so
`make test` never touches a server you started with `make up`. The ports are exported as the
environment variables that `profiles.yml` reads, so every `dbt` call in a test talks to it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from lakehouse import generate, server
from lakehouse.config import Settings
from lakehouse.server import free_port  # noqa: F401 - the tests import it from here

PROJECT_DIR = Path(__file__).resolve().parents[1]
BIN_DIR = Path(sys.executable).parent


@pytest.fixture(scope="session")
def test_env(tmp_path_factory) -> dict[str, str]:
    """Environment of the test session's server and dbt calls (also applied to os.environ)."""
    state = tmp_path_factory.mktemp("lakehouse-state")
    landing = state / "landing"
    # Two months (the default observation and prediction windows) with some malformed lines:
    # ~1,900 users with features, enough for every layer and the models, quick to build.
    generate.generate(
        landing, rows=60_000, start=date(2019, 10, 1), end=date(2019, 11, 30), seed=11,
        bad_rate=0.001, progress=False,
    )  # fmt: skip
    env = {
        "LAKEHOUSE_LANDING_DIR": str(landing),
        "LAKEHOUSE_STATE_DIR": str(state),
        "LAKEHOUSE_THRIFT_PORT": str(free_port()),
        "LAKEHOUSE_CONNECT_PORT": str(free_port()),
        "LAKEHOUSE_UI_PORT": str(free_port()),
        "LAKEHOUSE_DRIVER_MEMORY": os.environ.get("LAKEHOUSE_DRIVER_MEMORY", "6g"),
        "DBT_PROFILES_DIR": str(PROJECT_DIR),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    os.environ.update(env)
    return env


@pytest.fixture(scope="session")
def settings(test_env) -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
def lakehouse(settings):
    """The running test server (started once, stopped at the end of the session)."""
    server.up(settings)
    yield settings
    server.down(settings)


@pytest.fixture(scope="module")
def spark(lakehouse):
    """A Spark Connect session to the test server, for checking what dbt built (one per test
    module: the server-restart test must not leave other modules a dead session)."""
    from pyspark.sql import SparkSession

    session = SparkSession.builder.remote(lakehouse.connect_url).create()
    yield session
    if server.port_open(lakehouse.host, lakehouse.connect_port):
        session.stop()  # releasing a session of a dead server would retry for minutes


@pytest.fixture(scope="session")
def project_build(lakehouse, tmp_path_factory):
    """The whole project built once per test session the way production builds it: the run
    that the daily Dagster schedule requests at 2019-12-01 02:00 UTC (run date 2019-11-30, the
    default windows), executed in-process, then `dbt docs generate`. Several modules check
    what it built; tests/test_orchestration.py checks the run itself."""
    from dagster import DagsterInstance

    from lakehouse import orchestration

    out = tmp_path_factory.mktemp("dbt-project")
    tick = datetime(2019, 12, 1, 2, 0, tzinfo=UTC)
    (out / "dagster-home").mkdir()
    instance = DagsterInstance.local_temp(str(out / "dagster-home"))
    run_date, result = orchestration.run_scheduled(tick, instance)
    targets = sorted((orchestration.dagster_dir(lakehouse) / "dbt").glob(f"{run_date}-*"))
    assert len(targets) == 1, targets
    log = (targets[0] / "dbt.log").read_text()
    build = SimpleNamespace(output=log, target=targets[0])
    assert result.success, log[-6000:]
    docs = run_dbt(["docs", "generate"], PROJECT_DIR, out)
    manifest = json.loads((out / "target" / "manifest.json").read_text())
    catalog = json.loads((out / "target" / "catalog.json").read_text())
    return {
        "build": build, "docs": docs, "manifest": manifest, "catalog": catalog, "out": out,
        "dagster": {"instance": instance, "result": result, "run_date": run_date},
    }  # fmt: skip


def run_dbt(args: list[str], project_dir: Path, target_dir: Path, check: bool = True):
    """Run the real `dbt` command line; returns the CompletedProcess (stdout+stderr merged)."""
    cmd = [
        str(BIN_DIR / "dbt"),
        *args,
        "--project-dir", str(project_dir),
        "--target-path", str(target_dir / "target"),
        "--log-path", str(target_dir / "logs"),
    ]  # fmt: skip
    proc = subprocess.run(
        cmd, cwd=project_dir, env=dict(os.environ), capture_output=True, text=True, check=False
    )
    proc.output = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.output[-6000:]}")
    return proc
