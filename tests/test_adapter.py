"""The sparkconnect adapter: Python models over Spark Connect through the real dbt CLI.

Uses the fixture project in tests/fixtures/adapter_project, so a deliberately failing model
never enters the real DAG.
"""

from __future__ import annotations

from pathlib import Path

from conftest import free_port, run_dbt

FIXTURE = Path(__file__).parent / "fixtures" / "adapter_project"
SCHEMA = "lakehouse_adapter_fixture"


def test_python_incremental_model_appends_across_runs(spark, tmp_path):
    run_dbt(["run", "-s", "fx_numbers", "fx_numbers_incremental", "--full-refresh"], FIXTURE,
            tmp_path)  # fmt: skip
    assert spark.table(f"{SCHEMA}.fx_numbers_incremental").count() == 3
    second = run_dbt(["run", "-s", "fx_numbers_incremental"], FIXTURE, tmp_path)
    assert "incremental model" in second.output
    assert spark.table(f"{SCHEMA}.fx_numbers_incremental").count() == 6
    detail = spark.sql(f"describe detail {SCHEMA}.fx_numbers_incremental").first()
    assert detail.format == "delta"


def test_failing_python_model_fails_the_run_with_its_traceback(lakehouse, tmp_path):
    run_dbt(["run", "-s", "fx_numbers"], FIXTURE, tmp_path)
    proc = run_dbt(["run", "-s", "fx_failing"], FIXTURE, tmp_path, check=False)
    assert proc.returncode != 0
    out = proc.output
    assert "fx_failing" in out
    assert "Traceback (most recent call last)" in out
    assert "ValueError: amounts look wrong in fx_failing" in out
    # The frames point into the model's source file, at the lines that raised.
    assert 'models/fx_failing.py", line 5, in check_amounts' in out
    assert 'models/fx_failing.py", line 10, in model' in out


def test_unreachable_connect_url_is_a_clear_error(lakehouse, tmp_path, monkeypatch):
    closed_port = free_port()
    monkeypatch.setenv("LAKEHOUSE_CONNECT_PORT", str(closed_port))
    proc = run_dbt(["run", "-s", "fx_numbers_incremental"], FIXTURE, tmp_path, check=False)
    assert proc.returncode != 0
    assert f"Cannot reach Spark Connect at sc://127.0.0.1:{closed_port}" in proc.output
