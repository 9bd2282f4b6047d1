"""The same project on a two-worker Spark standalone cluster: the whole DAG builds, the work is
spread over both workers, and the gold tables equal those of the local build on the same data.

Two full builds and a cluster start take about 15 minutes on the test session's 60,000 events,
so this module runs with `make cluster-test` (LAKEHOUSE_CLUSTER_TEST=1), not in every
`make test`. `make cluster-test CLUSTER_ROWS=1000000` compares the two builds at the default size
of `make run` on freshly generated data instead (about 30 minutes) and prints both build times.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time

import pytest

from conftest import BIN_DIR, PROJECT_DIR, run_dbt
from lakehouse.bench import run as bench
from lakehouse.platform import cluster, server
from lakehouse.platform.config import Settings

pytestmark = pytest.mark.skipif(
    os.environ.get("LAKEHOUSE_CLUSTER_TEST") != "1",
    reason="the two-worker cluster comparison runs with `make cluster-test` (about 15 min)",
)

# Columns that say when or under which run id something happened: they differ between any two
# builds, so they are left out of the comparison.
VOLATILE = {"computed_at", "scored_at", "recommended_at", "mlflow_run_id", "training_seconds",
            "loaded_at", "load_id", "ingested_at"}  # fmt: skip


def _gold_tables(manifest: dict) -> list[str]:
    return sorted(
        f"{n['schema']}.{n['alias']}"
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["fqn"][1] == "gold"
    )


def _checksums(connect_url: str, tables: list[str]) -> dict[str, dict]:
    """Per table: rows, an order-free checksum of every non-volatile column that is not a
    floating-point number, and the sum of each floating-point column. Floating-point values
    are compared by their sums within a tolerance (`_differences`): ALS solves its equations
    from sums whose order depends on how the shuffle delivers blocks, so its scores can differ
    in the last digits between any two runs."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = SparkSession.builder.remote(connect_url).create()
    try:
        out = {}
        for table in tables:
            df = spark.table(table)
            fields = [f for f in df.schema.fields if f.name not in VOLATILE]
            floats = [f.name for f in fields if f.dataType.typeName() in ("double", "float")]
            exact = [F.col(f.name) for f in fields if f.name not in floats]
            # a sum of 64-bit hashes overflows bigint (an error under ANSI): sum as decimal
            aggregates = [
                F.count("*").alias("rows"),
                F.sum(F.xxhash64(*exact).cast("decimal(38,0)")).alias("hash"),
            ]
            aggregates += [F.sum(F.col(c).cast("double")).alias(f"sum_{c}") for c in floats]
            row = df.select(*aggregates).first().asDict()  # fmt: skip
            out[table] = {
                "rows": row["rows"],
                "hash": row["hash"],
                "floats": {c: row[f"sum_{c}"] for c in floats},
            }
        return out
    finally:
        spark.stop()


# Model metrics of RandomForest: it sums weighted split statistics in the order the shuffle
# delivers them, so a near-tie split can go the other way and move a validation AUC in the third
# or fourth decimal between any two runs. Allowed: this much per row, on average. Everything
# discrete about the models (chosen parameters, champion, labels, ranks, products) is in the
# exact checksum.
PER_ROW_TOLERANCE = {
    ("gold.ml_propensity_candidates", column): 0.005
    for column in ("validation_auc_roc", "validation_auc_pr", "test_auc_roc", "test_auc_pr")
}


def _differences(local: dict, remote: dict, rel: float = 1e-6) -> list[str]:
    """What differs between two `_checksums` results: rows and the exact checksum must be
    equal, each float column's sum equal within `rel` (relative) or PER_ROW_TOLERANCE."""
    found = []
    for table, want in local.items():
        got = remote[table]
        if (got["rows"], got["hash"]) != (want["rows"], want["hash"]):
            found.append(f"{table}: rows/checksum {want['rows']}/{want['hash']} locally, "
                         f"{got['rows']}/{got['hash']} on the cluster")  # fmt: skip
        for column, total in want["floats"].items():
            other = got["floats"][column]
            if total is None or other is None:
                if (total is None) != (other is None):
                    found.append(f"{table}.{column}: sum {total} locally, {other} on the cluster")
                continue
            per_row = PER_ROW_TOLERANCE.get((table, column))
            allowed = per_row * want["rows"] if per_row else rel * max(1.0, abs(total))
            if abs(total - other) > allowed:
                found.append(f"{table}.{column}: sum {total} locally, {other} on the cluster")
    return found


def _phase(tmp_path, monkeypatch, name: str, landing, stream, on_cluster: bool) -> dict:
    """One full `dbt build` on a fresh warehouse, metastore and MLflow store over the shared
    landing and streaming folders: on a local[2] server or on a server driving a two-worker
    cluster. Returns the build's output, seconds, gold checksums and the executors' tasks."""
    state = tmp_path / f"{name}-state"
    with monkeypatch.context() as env:
        env.setenv("LAKEHOUSE_STATE_DIR", str(state))
        env.setenv("LAKEHOUSE_LANDING_DIR", str(landing))
        env.setenv("LAKEHOUSE_STREAM_DIR", str(stream))
        env.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{state}/mlflow/mlflow.db")
        env.delenv("LAKEHOUSE_MASTER", raising=False)
        for variable in ("LAKEHOUSE_SECRET", "LAKEHOUSE_TARGET"):
            env.delenv(variable, raising=False)
        cs = None
        if on_cluster:
            master, master_ui = server.free_ports(2)
            env.setenv("LAKEHOUSE_MASTER_PORT", str(master))
            env.setenv("LAKEHOUSE_MASTER_UI_PORT", str(master_ui))
            cs = cluster.up(Settings.from_env())
            env.setenv("LAKEHOUSE_MASTER", cs.master_url)
            # dbt reaches it the way a team reaches a real cluster: the `cluster` profile
            # target, its SPARK_* variables and the secret the server requires (the Thrift
            # password and the Spark Connect token).
            token = secrets.token_hex(16)
            env.setenv("LAKEHOUSE_SECRET", token)
            env.setenv("SPARK_THRIFT_AUTH", "CUSTOM")
            env.setenv("SPARK_THRIFT_USER", "lakehouse")
            env.setenv("SPARK_THRIFT_PASSWORD", token)
            env.setenv("LAKEHOUSE_TARGET", "cluster")
            env.setenv("LAKEHOUSE_THREADS", "2")  # as the dev target, for a fair comparison
            env.setenv("SPARK_THRIFT_HOST", os.environ.get("LAKEHOUSE_HOST", "127.0.0.1"))
            env.setenv("SPARK_THRIFT_PORT", os.environ["LAKEHOUSE_THRIFT_PORT"])
            env.setenv("SPARK_CONNECT_HOST", "localhost")
            env.setenv("SPARK_CONNECT_PORT", os.environ["LAKEHOUSE_CONNECT_PORT"])
            env.setenv("SPARK_CONNECT_TOKEN", token)
        settings = Settings.from_env()
        try:
            server.up(settings)
            started = time.perf_counter()
            build = run_dbt(["build"], PROJECT_DIR, tmp_path / name)
            seconds = time.perf_counter() - started
            manifest = json.loads((tmp_path / name / "target" / "manifest.json").read_text())
            out = {
                "output": build.output,
                "seconds": seconds,
                "tables": _gold_tables(manifest),
                "tasks": cluster.executor_tasks(settings),
                "apps": [a["name"] for a in cluster.master_state(cs)["activeapps"]] if cs else [],
            }
            out["sums"] = _checksums(settings.connect_url, out["tables"])
            if on_cluster:
                out["without_token"] = _refused_without_token(settings)
                out["debug"] = _dbt_debug(tmp_path / "debug")
                out["token"] = token
                out["token_in_logs"] = any(
                    token in p.read_text(errors="replace")
                    for p in (state / "logs").rglob("*") if p.is_file()
                )  # fmt: skip
            return out
        finally:
            server.down(settings)
            if on_cluster:
                cluster.down(settings)


def _dbt_debug(log_dir) -> str:
    """`dbt debug` (which takes no --target-path) against the current target; its output."""
    proc = subprocess.run(
        [str(BIN_DIR / "dbt"), "debug", "--project-dir", str(PROJECT_DIR),
         "--log-path", str(log_dir)],
        cwd=PROJECT_DIR, env=dict(os.environ), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def _refused_without_token(settings: Settings) -> str:
    """The error a Spark Connect client without the token gets (empty if it got in)."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.remote(f"sc://localhost:{settings.connect_port}").create()
    try:
        spark.sql("select 1").collect()
        return ""
    except Exception as exc:  # noqa: BLE001 - the refusal is what this looks for
        return f"{type(exc).__name__}: {exc}"
    finally:
        spark.stop()


def test_the_cluster_build_equals_the_local_build(settings, tmp_path, monkeypatch):
    rows = int(os.environ.get("LAKEHOUSE_CLUSTER_TEST_ROWS") or 0)
    if rows:  # the default size of `make run`, generated as the benchmark does
        landing = tmp_path / "landing"
        bench.generate_landing(landing, rows)
    else:  # the test session's 60,000 events
        landing = settings.landing_dir
    stream = tmp_path / "stream"
    bench.drop_stream_files(stream, tmp_path / "stream-staging", max(rows, 60_000))

    # One server at a time on this machine: the session's server (if another module started
    # it) stops for the two builds and comes back afterwards.
    session_server = server.port_open(settings.host, settings.connect_port)
    server.down(settings)
    try:
        local = _phase(tmp_path, monkeypatch, "local", landing, stream, on_cluster=False)
        remote = _phase(tmp_path, monkeypatch, "cluster", landing, stream, on_cluster=True)
    finally:
        if session_server:
            server.up(settings)

    size = f"{rows:,} events requested" if rows else "the test session's 60,000 events"
    print(
        f"\nfull build on {size}: local[2] {local['seconds']:.0f} s, "
        f"two-worker cluster {remote['seconds']:.0f} s; "
        f"executors' completed tasks on the cluster: {remote['tasks']}"
    )
    for table in local["tables"]:
        print(f"  {table}: local {local['sums'][table]}")
        print(f"  {' ' * len(table)}  cluster {remote['sums'][table]}")
    assert "Completed successfully" in local["output"]
    assert "Completed successfully" in remote["output"]
    dbt_log = (tmp_path / "cluster" / "logs" / "dbt.log").read_text()
    assert '"target_name": "cluster"' in dbt_log and '"target_name": "dev"' not in dbt_log
    assert remote["without_token"], "a Spark Connect client without the token was let in"
    assert not remote["token_in_logs"], "the Connect token was written to a server log"
    assert "connect_url: sc://localhost:" in remote["debug"] and "token=***" in remote["debug"]
    assert remote["token"] not in remote["debug"]
    assert local["tasks"] == {}, "a local[2] server has no executors besides the driver"
    assert remote["apps"] == ["ecom-lakehouse"]
    assert len(remote["tasks"]) == 2 and all(n > 0 for n in remote["tasks"].values())
    assert remote["tables"] == local["tables"]
    assert all(t["rows"] > 0 for t in local["sums"].values()), local["sums"]
    assert _differences(local["sums"], remote["sums"]) == []
