"""The benchmark's pieces: the Spark-to-DuckDB translation of this project's SQL, the
attribution of node times to layers, and what the equivalent-work replay reads of a build.
(The benchmark itself runs with `make bench`; its timings are written down, never asserted.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import yaml

from lakehouse.bench import duck, equivalent
from lakehouse.bench import run as bench


def _duck(sql: str):
    return duckdb.sql(duck._translate(sql)).fetchall()


def test_split_with_a_limit_of_minus_one_keeps_every_field():
    assert _duck("select size(split('a,b,,c', ',', -1)) as n") == [(4,)]


def test_try_to_timestamp_with_a_java_pattern():
    sql = (
        "select try_to_timestamp(regexp_replace('2019-10-01 00:00:05 UTC', ' UTC$', 'Z'), "
        "'yyyy-MM-dd HH:mm:ssX') as ok, "
        "try_to_timestamp('2019-10-0x 00:00:05Z', 'yyyy-MM-dd HH:mm:ssX') as bad"
    )
    (ok, bad), = _duck(sql)  # fmt: skip
    assert str(ok) == "2019-10-01 00:00:05" and bad is None


def test_the_event_time_parser_reads_the_kaggle_shape_and_refuses_others_on_duckdb():
    """The var event_parse's event time (a cast for the Kaggle shape, else the pattern) runs
    on DuckDB too, so the bench compares bronze on both engines."""
    project = yaml.safe_load((Path(__file__).parents[1] / "dbt_project.yml").read_text())
    parser = project["vars"]["event_parse"]["fields"]["event_time"]
    texts = ["2019-10-01 00:00:05 UTC", "2019-10-01T00:00:05 UTC", "2019-13-01 00:00:05 UTC"]
    sql = " union all ".join(
        f"select {i} as i, {parser} as t from (select split('{text},view', ',', -1) as f)"
        for i, text in enumerate(texts)
    )
    parsed = dict(_duck(f"select i, cast(t as varchar) from ({sql})"))
    assert parsed[0].startswith("2019-10-01 00:00:05") and parsed[1] is None and parsed[2] is None


def test_unix_timestamp_of_a_timestamp_is_its_epoch_seconds():
    sql = (
        "select unix_timestamp(timestamp'2019-10-01 00:01:40') "
        "- unix_timestamp(timestamp'2019-10-01 00:00:00') as s"
    )
    assert _duck(sql) == [(100,)]


def test_node_times_are_summed_per_layer_tests_with_their_model():
    manifest = {
        "nodes": {
            "model.p.brz_a": {
                "resource_type": "model",
                "name": "brz_a",
                "fqn": ["p", "bronze", "brz_a"],
            },
            "model.p.slv_b": {
                "resource_type": "model",
                "name": "slv_b",
                "fqn": ["p", "silver", "slv_b"],
            },
            "seed.p.w": {"resource_type": "seed", "fqn": ["p", "w"]},
            "test.p.unique_b": {
                "resource_type": "test",
                "fqn": ["p", "unique_b"],
                "depends_on": {"nodes": ["model.p.slv_b"]},
            },  # fmt: skip
        }
    }
    results = {"results": [
        {"unique_id": uid, "execution_time": t, "status": "success"}
        for uid, t in [("model.p.brz_a", 2.0), ("model.p.slv_b", 3.0), ("seed.p.w", 1.0),
                       ("test.p.unique_b", 0.5), ("unit_test.p.slv_b.formula", 0.25)]
    ]}  # fmt: skip
    layers = bench._layers(bench._per_node(results, manifest))
    assert layers == {"bronze": 2.0, "seeds": 1.0, "silver": 3.75}


def test_headline_takes_bronze_as_the_wall_span_of_its_nodes():
    from lakehouse.bench.report import headline

    def node(layer, start, end, seconds, kind="model"):
        return {"layer": layer, "kind": kind, "seconds": seconds,
                "started_at": f"2026-01-01T00:00:{start:02d}Z",
                "completed_at": f"2026-01-01T00:00:{end:02d}Z"}  # fmt: skip

    size = {
        "input_rows": 1000,
        "full_build": {"seconds": 60.0, "server_peak_rss_bytes": 3 * 2**30, "nodes": {
            "model.p.brz_a": node("bronze", 0, 10, 10.0),
            "model.p.brz_b": node("bronze", 5, 25, 20.0),  # beside brz_a: the span is 25 s
            "model.p.slv_c": node("silver", 25, 40, 15.0),
        }},
        "duckdb": {"landing": {"seconds": 0.5}, "brz_a": {"seconds": 1.0},
                   "slv_c": {"seconds": 2.0}},
        "plain_pyspark": {"seconds": 50.0},
        "bare_copy": {"seconds": 5.0},
        "daily_run": {"seconds": 20.0},
    }  # fmt: skip
    assert headline(size) == {
        "events": 1000, "full_build_s": 60.0, "equivalent_s": None, "notebook_s": 50.0,
        "bare_copy_s": 5.0, "bronze_s": 25.0, "spark_sql_s": 25.0, "duckdb_sql_s": 3.5,
        "daily_run_s": 20.0, "server_peak_rss_gib": 3.0,
    }  # fmt: skip
    size["equivalent"] = {"seconds": 40.0}  # the replay ran
    assert headline(size)["equivalent_s"] == 40.0


def test_a_phase_left_out_with_skip_is_reported_as_not_measured(tmp_path):
    """`--skip plain_pyspark,bare_copy,duckdb` (a long size run without the references): the
    ratios, the headline, the table and the chart say n/a for them instead of failing at the
    end."""
    from lakehouse.bench.report import headline, ratios, write_report

    node = {
        "layer": "bronze",
        "kind": "model",
        "seconds": 10.0,
        "started_at": "2026-01-01T00:00:00Z",
        "completed_at": "2026-01-01T00:00:10Z",
    }
    size = {"input_rows": 1000, "rows_requested": 1000,
            "full_build": {"seconds": 60.0, "rows_per_second": 16.7, "layers": {"bronze": 10.0},
                           "server_peak_rss_bytes": None, "dbt_peak_rss_bytes": None,
                           "nodes": {"model.p.brz_a": node}},
            "daily_run": {"seconds": 20.0}, "equivalent": {"seconds": 50.0}}  # fmt: skip
    size["ratios"] = ratios(size)
    size.update(headline(size))
    assert size["ratios"]["pipeline_over_plain_pyspark"] is None
    assert size["ratios"]["bronze_over_bare_copy"] is None
    assert size["ratios"]["pipeline_over_equivalent"] == 60.0 / 50.0
    assert size["ratios"]["next_day_over_full"] is None  # no second daily day was run
    assert (size["notebook_s"], size["bare_copy_s"], size["daily_run_s"]) == (None, None, 20.0)
    assert (size["spark_sql_s"], size["duckdb_sql_s"]) == (None, None)
    assert size["ratios"]["duckdb_over_pipeline_sql"] is None
    write_report({"machine": {"cpus": 2, "cpu": "x", "memory_gib": 1}, "finished": "now",
                  "sizes": [size]}, tmp_path)  # fmt: skip
    table = (tmp_path / "results.md").read_text()
    assert "| plain PySpark script (s) | n/a |" in table
    assert "| measured on (processor, commit, finished) | not recorded |" in table
    assert (
        "| CPU check before the first phase / after the last (s; one core, fixed work) | "
        "not recorded |" in table
    )
    size["cpu_check_s"] = {"start": 0.5, "end": 0.704}
    write_report({"machine": {"cpus": 2, "cpu": "x", "memory_gib": 1}, "finished": "now",
                  "sizes": [size]}, tmp_path)  # fmt: skip
    table = (tmp_path / "results.md").read_text()
    assert (
        "| CPU check before the first phase / after the last (s; one core, fixed work) | "
        "0.50 / 0.70 |" in table
    )
    assert "| **ratio** bronze layer / bare copy | n/a |" in table
    assert "| **ratio** DuckDB / pipeline, same bronze+silver SQL | n/a |" in table
    assert (tmp_path / "benchmark.png").stat().st_size > 0


def test_the_equivalent_replay_reads_every_statement_the_build_ran(project_build):
    """The replay (`make bench`'s equivalent work) takes each model's and test's statement from
    the files dbt wrote for the session build, and adds the contract constraint dbt added,
    word for word: a replay that missed a statement would look faster than the build."""
    target = project_build["build"].target
    manifest = json.loads((target / "manifest.json").read_text())
    ran = [r["unique_id"] for r in json.loads((target / "run_results.json").read_text())["results"]
           if r["unique_id"].split(".")[0] in ("model", "test")]  # fmt: skip
    assert len(ran) > 50
    nodes = [manifest["nodes"][uid] for uid in ran]
    assert [n["unique_id"] for n in nodes if not equivalent._run_file(target, n).is_file()] == []
    constraints = [c for n in nodes if (c := equivalent._contract_constraint(n))]
    assert constraints
    assert [c for c in constraints if c not in project_build["build"].output] == []


def test_each_size_records_its_processor_commit_and_time():
    """A column of results.md says where it ran: columns from different processors differ by
    up to two times and must not be read as one run."""
    import subprocess

    from lakehouse.bench.report import machine, measured

    project = Path(__file__).resolve().parents[1]
    found = measured(project)
    head = subprocess.run(["git", "-C", str(project), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    assert found["commit"].split("+")[0] == head
    assert found["cpu"] == machine()["cpu"] and found["finished"].endswith(" UTC")


def test_the_cpu_check_is_the_best_of_its_repeats():
    """The check times one fixed piece of work several times and keeps the fastest: at most a
    third of the time three repeats took in all."""
    import time

    from lakehouse.bench.report import cpu_check

    started = time.perf_counter()
    best = cpu_check(repeats=3)
    assert 0 < best <= (time.perf_counter() - started) / 3


def test_a_reference_reads_its_own_mlflow_store(tmp_path, monkeypatch):
    """mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI, so once the bench process has
    configured the build's store, every later Settings would read it: the equivalent work's
    retraining decisions found the build's champions and stopped. A reference's environment
    points MLflow at its own state folder, and the build's comes back after it."""
    import mlflow

    from lakehouse.bench.run import reference_environment
    from lakehouse.ml import tracking
    from lakehouse.platform.config import Settings

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.setenv("LAKEHOUSE_STATE_DIR", str(tmp_path / "build"))
    build = Settings.from_env()
    tracking.configure(build, "bench_test")
    try:
        assert os.environ.get("MLFLOW_TRACKING_URI") == build.mlflow_tracking_uri  # exported
        with reference_environment(tmp_path / "reference", tmp_path / "stream"):
            reference = Settings.from_env()
            assert reference.mlflow_tracking_uri.endswith("/reference/mlflow/mlflow.db")
            tracking.configure(reference, "bench_test")
            assert (tmp_path / "reference" / "mlflow" / "mlflow.db").is_file()
        assert os.environ.get("MLFLOW_TRACKING_URI") == build.mlflow_tracking_uri
        assert Settings.from_env().state_dir == (tmp_path / "build").resolve()
    finally:
        mlflow.set_tracking_uri("")
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        os.environ.pop("MLFLOW_REGISTRY_URI", None)
