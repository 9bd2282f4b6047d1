"""`make bench` / `lakehouse bench`: how fast the pipeline is, against reference points.

For each data size (default 1 M and 10 M events over October and November 2019), in a state
folder of its own and with a server of its own (free ports, stopped at the end):

1. generates the data and drops 3 day files into the streaming folder (as `make run` does);
2. the full build: `dbt build` from an empty state, wall time per model and layer from
   run_results.json, input rows per second, peak memory of the server JVM (sampled RSS) and
   of the dbt process;
3. caching: `ml_propensity_candidates` rebuilt with the assembled training data cached (the
   default) and uncached (`cache_training_data: false`);
4. the daily run: one more day file lands and `dbt build --vars '{run_date: "2019-12-01"}'`
   runs (bronze loads only the new file) against the full build;
5. references on the same data and server: the plain PySpark script and the bare CSV-to-Delta
   copy (`lakehouse.bench_plain`), and DuckDB running the same compiled bronze and silver SQL
   (`lakehouse.bench_duckdb`).

Writes `docs/benchmark/results.json`, `docs/benchmark/results.md` and
`docs/benchmark/benchmark.png`. Not part of `make test`: timings are measured and written down
here, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

from lakehouse import bench_duckdb, bench_plain, generate, server, streaming
from lakehouse.config import Settings, find_project_root

BIN = Path(sys.executable).parent
DAY_AFTER = date(2019, 12, 1)
BAD_RATE = 0.00002  # as `make run`: a few malformed lines for the quarantine
# The caching comparison retrains the whole propensity search twice; it is measured up to this
# size (the default one), not repeated at every larger size.
CACHE_MAX_ROWS = 1_000_000


def generate_landing(landing: Path, rows: int) -> list[Path]:
    """The landing files of `make run` at `rows` events requested: two months, seed 42, a few
    malformed lines for the quarantine. Returns the files written."""
    return generate.generate(landing, rows=rows, start=date(2019, 10, 1), end=date(2019, 11, 30),
                             seed=42, bad_rate=BAD_RATE, progress=False)  # fmt: skip


def drop_stream_files(stream_dir: Path, staging_dir: Path, rows: int) -> None:
    """The streaming folder's files for a landing of `rows` events: three days' share of them,
    as the streaming models read in a full build."""
    streaming.drop_files(stream_dir, staging_dir, rows=rows * 3 // 61, start=date(2019, 10, 1),
                         end=date(2019, 10, 3), seed=42, interval=0, progress=False)  # fmt: skip


class PeakRss:
    """Samples a process's resident memory once a second; `peak` in bytes."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.peak = max(self.peak, int(line.split()[1]) * 1024)
            except OSError:
                pass
            self._stop.wait(1.0)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _dbt(args: list[str], project: Path, target: Path, log: Path) -> tuple[float, dict]:
    """Runs dbt; returns (wall seconds, run_results)."""
    started = time.perf_counter()
    with log.open("a") as out:
        out.write(f"\n$ dbt {' '.join(args)}\n")
        out.flush()
        proc = subprocess.run(
            [str(BIN / "dbt"), *args, "--project-dir", str(project), "--target-path",
             str(target), "--log-path", str(target)],
            cwd=project, stdout=out, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed; see {log}")
    return seconds, json.loads((target / "run_results.json").read_text())


def _per_node(run_results: dict, manifest: dict) -> dict[str, dict]:
    """Seconds per model/seed/test, with the layer each belongs to (a test: its model's)."""
    nodes = manifest["nodes"]
    out = {}
    for result in run_results["results"]:
        uid = result["unique_id"]
        node = nodes.get(uid) or {}
        kind = node.get("resource_type", uid.split(".")[0])
        owner = node
        if kind in ("test", "unit_test") or uid.startswith("unit_test."):
            parents = [p for p in node.get("depends_on", {}).get("nodes", []) if p in nodes]
            owner = nodes[parents[0]] if parents else {}
        if not owner and uid.startswith("unit_test."):
            model = uid.split(".")[2]
            owner = next((n for n in nodes.values() if n.get("name") == model), {})
        fqn = owner.get("fqn", ["", "other"])
        layer = "seeds" if owner.get("resource_type") == "seed" else fqn[1]
        out[uid] = {"seconds": result["execution_time"], "layer": layer, "kind": kind,
                    "status": result["status"]}  # fmt: skip
    return out


def _layers(per_node: dict[str, dict]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for item in per_node.values():
        totals[item["layer"]] = totals.get(item["layer"], 0.0) + item["seconds"]
    return dict(sorted(totals.items()))


def bench_size(rows: int, root: Path, project: Path, log: Path, resume: bool = False) -> dict:
    """All measurements at one size. Each finished phase is saved in `<state>/partial.json`;
    with `resume`, phases already there are not run again (a failure late in a long run costs
    only the failed phase)."""
    state = root / f"{rows}"
    partial = state / "partial.json"
    result: dict = json.loads(partial.read_text()) if resume and partial.exists() else {}
    if not result:
        shutil.rmtree(state, ignore_errors=True)
    landing = state / "landing"
    env = {
        "LAKEHOUSE_STATE_DIR": str(state),
        "LAKEHOUSE_LANDING_DIR": str(landing),
        "LAKEHOUSE_THRIFT_PORT": str(server.free_port()),
        "LAKEHOUSE_CONNECT_PORT": str(server.free_port()),
        "LAKEHOUSE_UI_PORT": str(server.free_port()),
        "DBT_PROFILES_DIR": str(project),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    os.environ.update(env)
    settings = Settings.from_env()

    def done(phase: str) -> bool:
        if phase in result:
            print(f"[bench {rows:,}] {phase}: kept from the earlier run", flush=True)
        return phase in result

    def save() -> None:
        partial.write_text(json.dumps(result, indent=1) + "\n")

    if not done("input_rows"):
        result["rows_requested"] = rows
        print(f"[bench {rows:,}] generating data into {landing}", flush=True)
        started = time.perf_counter()
        files = generate_landing(landing, rows)
        result["generate_seconds"] = time.perf_counter() - started
        drop_stream_files(settings.stream_dir, settings.stream_staging_dir, rows)
        result["input_rows"] = sum(max(0, sum(1 for _ in f.open()) - 1) for f in files)
        save()
    lines = result["input_rows"]
    manifest_path = state / "dbt" / "full" / "manifest.json"
    server.up(settings)
    try:
        if not done("full_build"):
            print(f"[bench {rows:,}] full build", flush=True)
            with PeakRss(server.read_pid(settings)) as jvm:
                seconds, run_results = _dbt(["build"], project, state / "dbt" / "full", log)
            per_node = _per_node(run_results, json.loads(manifest_path.read_text()))
            result["full_build"] = {
                "seconds": seconds,
                "rows_per_second": lines / seconds,
                "layers": _layers(per_node),
                "nodes": per_node,
                "server_peak_rss_bytes": jvm.peak,
                "dbt_peak_rss_bytes":
                    resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
            }  # fmt: skip
            save()
            print(f"[bench {rows:,}] full build {seconds:.0f} s", flush=True)
        manifest = json.loads(manifest_path.read_text())

        if rows <= CACHE_MAX_ROWS and not done("propensity_training_cache"):
            cache = {}
            for cached in (True, False):
                name = "cached" if cached else "uncached"
                vars_ = json.dumps({"cache_training_data": cached})
                _, rr = _dbt(["run", "-s", "ml_propensity_candidates", "--vars", vars_],
                             project, state / "dbt" / f"propensity-{name}", log)  # fmt: skip
                model = ".ml_propensity_candidates"
                cache[name] = next(r["execution_time"] for r in rr["results"]
                                   if r["unique_id"].endswith(model))  # fmt: skip
            result["propensity_training_cache"] = cache
            save()
            print(f"[bench {rows:,}] propensity training {cache}", flush=True)

        # The daily run: one more day lands. It stays for the references below, which all read
        # the same files as this run (compiled SQL with the same run date).
        daily_vars = json.dumps({"run_date": DAY_AFTER.isoformat()})
        if not done("daily_run"):
            day = generate.generate(landing, rows=max(rows // 61, 1000), start=DAY_AFTER,
                                    end=DAY_AFTER, seed=43, progress=False)  # fmt: skip
            seconds, rr = _dbt(["build", "--vars", daily_vars], project,
                               state / "dbt" / "daily", log)  # fmt: skip
            result["daily_run"] = {"seconds": seconds, "new_file": day[0].name,
                                   "layers": _layers(_per_node(rr, manifest))}  # fmt: skip
            save()
            print(f"[bench {rows:,}] daily run {seconds:.0f} s", flush=True)

        from pyspark.sql import SparkSession

        spark = SparkSession.builder.remote(settings.connect_url).create()
        scratch = state / "scratch"
        try:
            result["spark_rows"] = {
                n["name"]: spark.table(f"{n['schema']}.{n['alias']}").count()
                for n in manifest["nodes"].values()
                if n["resource_type"] == "model" and n["language"] == "sql"
                and n["fqn"][1] in bench_duckdb.LAYERS
                and n["config"]["materialized"] in ("table", "incremental")
            }  # fmt: skip
            if not done("bare_copy"):
                print(f"[bench {rows:,}] bare copy", flush=True)
                result["bare_copy"] = bench_plain.bare_copy(spark, str(landing), scratch)
                save()
            if not done("plain_pyspark"):
                print(f"[bench {rows:,}] plain PySpark", flush=True)
                result["plain_pyspark"] = bench_plain.plain_pyspark(spark, str(landing), scratch)
                save()
        finally:
            spark.stop()

        if not done("duckdb"):
            print(f"[bench {rows:,}] DuckDB on the compiled bronze and silver SQL", flush=True)
            compiled = state / "dbt" / "compiled"
            _dbt(["compile", "--full-refresh", "--vars", daily_vars, "-s", "models/bronze",
                  "models/silver"], project, compiled, log)  # fmt: skip
            seeds = {p.stem: p for p in (project / "seeds").glob("*.csv")}
            result["duckdb"] = bench_duckdb.run(compiled / "manifest.json",
                                                compiled / "compiled", str(landing),
                                                state / "duckdb.db", seeds)  # fmt: skip
            save()
    finally:
        server.down(settings)
    return result


def _ratios(size: dict) -> dict:
    full = size["full_build"]
    nodes = full["nodes"]
    sql_models = {k.split(".")[-1]: v for k, v in nodes.items() if v["kind"] == "model"}
    duck = {k: v for k, v in size["duckdb"].items() if "seconds" in v and k in sql_models}
    spark_sql = sum(sql_models[k]["seconds"] for k in duck)
    duck_sql = sum(v["seconds"] for v in duck.values()) + size["duckdb"]["landing"]["seconds"]
    bronze = full["layers"].get("bronze", 0.0)
    cache = size.get("propensity_training_cache")  # measured up to CACHE_MAX_ROWS
    return {
        "pipeline_over_plain_pyspark": full["seconds"] / size["plain_pyspark"]["seconds"],
        "pipeline_over_bare_copy": full["seconds"] / size["bare_copy"]["seconds"],
        "bronze_over_bare_copy": bronze / size["bare_copy"]["seconds"],
        "duckdb_over_pipeline_sql": duck_sql / spark_sql if spark_sql else None,
        "duckdb_models_compared": sorted(duck),
        "duckdb_models_failed": sorted(k for k, v in size["duckdb"].items() if "error" in v),
        # the same SQL must give the same tables: row counts of DuckDB against Spark
        "duckdb_rows_differ": sorted(
            k
            for k, n in size.get("spark_rows", {}).items()
            if k in size["duckdb"] and size["duckdb"][k].get("rows") != n
        ),  # fmt: skip
        "incremental_over_full": size["daily_run"]["seconds"] / full["seconds"],
        "uncached_over_cached_training": cache["uncached"] / cache["cached"] if cache else None,
    }


def machine() -> dict:
    mem = next(
        int(line.split()[1]) * 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor(),
    )  # fmt: skip
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gib": round(mem / 2**30, 1),
            "python": platform.python_version(), "os": platform.platform()}  # fmt: skip


def write_report(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    m = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Measured {results['finished']} by `make bench` on {m['cpus']} cores ({m['cpu']}), "
        f"{m['memory_gib']} GiB memory. Raw figures: `results.json`; chart: `benchmark.png`.",
        "",
        "| | " + " | ".join(f"{s['input_rows']:,} rows" for s in results["sizes"]) + " |",
        "| --- | " + " | ".join("---" for _ in results["sizes"]) + " |",
    ]

    def row(label, fn):
        lines.append(f"| {label} | " + " | ".join(fn(s) for s in results["sizes"]) + " |")

    row("full `dbt build` (s)", lambda s: f"{s['full_build']['seconds']:.0f}")
    for layer in ("seeds", "bronze", "silver", "gold"):
        row(f"&nbsp;&nbsp;{layer}, summed node time (s)",
            lambda s, la=layer: f"{s['full_build']['layers'].get(la, 0):.0f}")  # fmt: skip
    row("input rows per second (full build)",
        lambda s: f"{s['full_build']['rows_per_second']:,.0f}")  # fmt: skip

    def gib(value) -> str:
        return "not recorded" if value is None else f"{value / 2**30:.2f}"

    row("peak RSS server JVM / dbt (GiB)", lambda s: (
        f"{gib(s['full_build']['server_peak_rss_bytes'])} / "
        f"{gib(s['full_build']['dbt_peak_rss_bytes'])}"))  # fmt: skip
    row("daily run, one new day (s)", lambda s: f"{s['daily_run']['seconds']:.0f}")
    row("plain PySpark script (s)", lambda s: f"{s['plain_pyspark']['seconds']:.0f}")
    row("bare CSV-to-Delta copy (s)", lambda s: f"{s['bare_copy']['seconds']:.0f}")
    row("propensity training cached / uncached (s)", lambda s: (
        f"{c['cached']:.0f} / {c['uncached']:.0f}" if (c := s.get("propensity_training_cache"))
        else f"measured up to {CACHE_MAX_ROWS:,} only"))  # fmt: skip
    for key, label in [
        ("pipeline_over_plain_pyspark", "**ratio** pipeline / plain PySpark"),
        ("pipeline_over_bare_copy", "**ratio** pipeline / bare copy"),
        ("bronze_over_bare_copy", "**ratio** bronze layer / bare copy"),
        ("duckdb_over_pipeline_sql", "**ratio** DuckDB / pipeline, same bronze+silver SQL"),
        ("incremental_over_full", "**ratio** daily run / full build"),
        ("uncached_over_cached_training", "**ratio** uncached / cached training"),
    ]:
        row(label, lambda s, k=key: "n/a" if s["ratios"][k] is None else f"{s['ratios'][k]:.2f}")
    failed = sorted({m for s in results["sizes"] for m in s["ratios"]["duckdb_models_failed"]})
    lines += [
        "",
        "DuckDB ran the compiled SQL of "
        + ", ".join(results["sizes"][0]["ratios"]["duckdb_models_compared"])
        + ".",
    ]
    differ = sorted({m for s in results["sizes"] for m in s["ratios"]["duckdb_rows_differ"]})
    lines.append(
        "Row counts of every bronze and silver table agree between DuckDB and Spark."
        if not differ else "Row counts differ between DuckDB and Spark for: " + ", ".join(differ)
    )  # fmt: skip
    if failed:
        lines.append("DuckDB could not run (translated Spark SQL it does not support): "
                     + ", ".join(failed) + "; those are left out of the ratio.")  # fmt: skip
    (out / "results.md").write_text("\n".join(lines) + "\n")
    _chart(results, out / "benchmark.png")


def _chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["bare copy", "plain PySpark", "dbt: bronze", "dbt: silver", "dbt: gold",
              "dbt: full build", "daily run"]  # fmt: skip
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(results["sizes"])
    for i, s in enumerate(results["sizes"]):
        layers = s["full_build"]["layers"]
        values = [s["bare_copy"]["seconds"], s["plain_pyspark"]["seconds"],
                  layers.get("bronze", 0), layers.get("silver", 0), layers.get("gold", 0),
                  s["full_build"]["seconds"], s["daily_run"]["seconds"]]  # fmt: skip
        xs = [x + i * width for x in range(len(labels))]
        ax.bar(xs, values, width, label=f"{s['input_rows']:,} rows")
    ax.set_xticks([x + width * (len(results["sizes"]) - 1) / 2 for x in range(len(labels))])
    ax.set_xticklabels(labels, rotation=20, ha="right")
    ax.set_ylabel("seconds (wall; layers: summed node time)")
    ax.set_title(f"ecom lakehouse benchmark, {results['machine']['cpus']} cores")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lakehouse bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        default="1000000,10000000",
        help="comma-separated event counts (default: 1000000,10000000)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the phases an interrupted run finished (state/partial.json)",
    )
    parser.add_argument("--out", default=None, help="results folder (default docs/benchmark)")
    args = parser.parse_args(argv)
    project = find_project_root()
    root = Path(os.environ.get("LAKEHOUSE_BENCH_DIR") or project / ".lakehouse-bench")
    root.mkdir(parents=True, exist_ok=True)
    log = root / "bench.log"
    print(f"benchmark state and log: {root}", flush=True)
    sizes = []
    for rows in (int(s) for s in args.sizes.split(",")):
        size = bench_size(rows, root, project, log, resume=args.resume)
        size["ratios"] = _ratios(size)
        sizes.append(size)
        results = {"machine": machine(), "finished": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
                   "sizes": sizes}  # fmt: skip
        write_report(results, Path(args.out) if args.out else project / "docs" / "benchmark")
        print(json.dumps(size["ratios"], indent=2), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
