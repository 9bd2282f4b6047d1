"""The sparkconnect adapter: Python models over Spark Connect through the real dbt CLI.

Uses the fixture project in tests/fixtures/adapter_project, so a deliberately failing model
never enters the real DAG.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import free_port, run_dbt

pytestmark = pytest.mark.slow  # `make test` skips it; `make test-all` and CI run it

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


def test_a_column_added_to_a_python_model_is_added_to_its_table(spark, tmp_path):
    """on_schema_change append_new_columns holds when the model writes into its table itself:
    the new column is added, null on the rows written before it."""
    run_dbt(["run", "-s", "fx_numbers", "fx_growing", "--full-refresh"], FIXTURE, tmp_path)
    run_dbt(["run", "-s", "fx_growing", "--vars", "{with_note: 'yes'}"], FIXTURE, tmp_path)
    rows = spark.table(f"{SCHEMA}.fx_growing").groupBy("note").count().collect()
    assert {r.note: r["count"] for r in rows} == {None: 3, "added": 3}


def test_a_python_models_session_is_released_when_it_ends(spark, lakehouse, tmp_path):
    """The server frees what a model cached (its checkpoints) only when the model's session is
    released; a dbt process that never released it left about 1.4 GB per 10 M daily run on
    the server for an hour."""
    from pyspark.errors.exceptions.connect import SparkConnectException
    from pyspark.sql import SparkSession

    run_dbt(["run", "-s", "fx_numbers", "fx_session"], FIXTURE, tmp_path)
    (session_id,) = {r.session_id for r in spark.table(f"{SCHEMA}.fx_session").collect()}
    assert session_id != spark.session_id
    reused = SparkSession.builder.remote(f"{lakehouse.connect_url};session_id={session_id}")
    with pytest.raises(SparkConnectException, match="SESSION_CLOSED"):
        reused.create().sql("select 1").collect()


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


def test_unreachable_connect_url_is_a_clear_error(lakehouse, settings, tmp_path, monkeypatch):
    closed_port = free_port()
    monkeypatch.setenv("LAKEHOUSE_CONNECT_PORT", str(closed_port))
    proc = run_dbt(["run", "-s", "fx_numbers_incremental"], FIXTURE, tmp_path, check=False)
    assert proc.returncode != 0
    # the address is said; the token never
    assert f"Cannot reach Spark Connect at sc://localhost:{closed_port}/;token=***" in proc.output
    assert settings.secret not in proc.output


def _render_profile(target: str, env: dict[str, str]) -> dict:
    """The project's profiles.yml target rendered by dbt's own renderer with `env` only."""
    import yaml
    from dbt.config.renderer import ProfileRenderer
    from dbt_common.context import set_invocation_context

    set_invocation_context(env)
    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "profiles.yml").read_text())
    return ProfileRenderer({}).render_data(raw["ecom_lakehouse"]["outputs"][target])


def test_profile_targets_render_what_the_connections_need():
    """The `cluster` target leaves the Thrift password unset unless one is given (PyHive
    refuses any password without LDAP or CUSTOM auth) and puts a Connect token into the URL
    only when one is set; the `dev` target writes no secret, it asks for the lakehouse's."""
    cluster = {"SPARK_THRIFT_HOST": "thrift.internal", "SPARK_CONNECT_HOST": "connect.internal"}
    plain = _render_profile("cluster", cluster)
    assert plain["password"] is None and plain["auth"] == "NONE"
    assert plain["connect_url"] == "sc://connect.internal:15002/;use_ssl=false"
    secured = _render_profile("cluster", {**cluster, "SPARK_THRIFT_PASSWORD": "pw",
                                          "SPARK_THRIFT_AUTH": "LDAP", "SPARK_CONNECT_TOKEN": "t0k",
                                          "SPARK_CONNECT_USE_SSL": "true"})  # fmt: skip
    assert (secured["password"], secured["auth"]) == ("pw", "LDAP")
    assert secured["connect_url"] == "sc://connect.internal:15002/;use_ssl=true;token=t0k"
    dev = _render_profile("dev", {"LAKEHOUSE_SECRET": "t0k", "LAKEHOUSE_CONNECT_PORT": "1"})
    assert dev["connect_url"] == "sc://localhost:1"
    assert (dev["auth"], dev["lakehouse_secret"], dev.get("password")) == ("CUSTOM", True, None)
    assert "t0k" not in str(dev)


def test_a_read_error_is_summed_up_by_its_innermost_cause():
    from dbt.adapters.sparkconnect.impl import read_error_summary

    thrift = (
        "Database Error\n  org.apache.hive.service.cli.HiveSQLException: Error running query: "
        "org.apache.spark.SparkException: Job aborted due to stage failure: Lost task 0.0: "
        "java.io.EOFException: Unexpected end of input stream\n\tat org.apache.hadoop.io."
        "compress.DecompressorStream.decompress(DecompressorStream.java:165)\n\tat x.y(Z.java:1)"
    )
    assert read_error_summary(thrift) == "java.io.EOFException: Unexpected end of input stream"
    assert read_error_summary("no class named\n here") == "no class named here"
    assert len(read_error_summary("x" * 1000)) == 300


def test_an_append_with_replace_on_writes_a_key_again_once(spark, tmp_path):
    """replace_on: a batch written again replaces its rows in one commit; other batches stay."""
    run_dbt(["run", "-s", "fx_numbers", "fx_replaced", "--full-refresh"], FIXTURE, tmp_path)
    run_dbt(["run", "-s", "fx_replaced", "--vars", "{batch: 2}"], FIXTURE, tmp_path)
    run_dbt(["run", "-s", "fx_replaced", "--vars", "{batch: 1, label: again}"], FIXTURE,
            tmp_path)  # fmt: skip
    rows = spark.table(f"{SCHEMA}.fx_replaced").groupBy("batch", "label").count().collect()
    assert {(r.batch, r.label): r["count"] for r in rows} == {(1, "again"): 3, (2, "first"): 3}
    latest = spark.sql(f"describe history {SCHEMA}.fx_replaced").first()
    assert latest.operation == "WRITE" and latest.operationParameters["mode"] == "Overwrite"
