"""`make bench` / `lakehouse bench`: how fast the pipeline is, against reference points.

For each data size (default 1 M and 10 M events over October and November 2019), in a state
folder of its own and with a server of its own (free ports, stopped at the end):

1. generates the data and drops 3 day files into the streaming folder (as `make run` does);
2. the full build: `dbt build` from an empty state, wall time per model and layer from
   run_results.json, input rows per second, peak memory of the server JVM (sampled RSS) and
   of the dbt process;
3. caching: `ml_propensity_candidates` rebuilt with the assembled training data cached (the
   default) and uncached (`cache_training_data: false`);
4. the daily runs on the same server, each as the Dagster daily job runs a date (nothing when
   nothing changed since the date's last build, lakehouse.orchestration.reruns; else `dbt
   build --vars '{run_date: ...}'`): one more day file lands and 2019-12-01 runs (bronze loads
   only the new file), the same date again with no new file (it builds nothing), the same date
   built anyway (`--rebuild`: what redoing its work costs), the next new day (no retraining:
   what a scheduled job costs on a server that ran the day before), and a third new day
   forced to retrain (the recommender validates the baselines and the shipped method, and the
   propensity search refits its winner only: the full build compared every method and
   searched the whole grid three days before, within recommender_compare_every_days and
   propensity_search_every_days);
5. DuckDB running the same compiled bronze and silver SQL (`lakehouse.bench.duck`);
6. the references, each on a fresh server of its own over the full build's files: the
   equivalent work, the full build's own statements replayed without dbt
   (`lakehouse.bench.equivalent`), the bare CSV-to-Delta copy and the plain PySpark script
   (`lakehouse.bench.plain`).

Writes `docs/benchmark/results.json`, `docs/benchmark/results.md` and
`docs/benchmark/benchmark.png`. Not part of `make test`: timings are measured and written down
here, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from lakehouse.bench import duck, equivalent, plain
from lakehouse.bench.report import (
    CACHE_MAX_ROWS,
    cpu_check,
    headline,
    machine,
    measured,
    ratios,
    write_report,
)
from lakehouse.data import generate
from lakehouse.orchestration import reruns
from lakehouse.orchestration.selection import DAILY_ARGS
from lakehouse.platform import server
from lakehouse.platform.config import Settings, find_project_root
from lakehouse.streaming import arrivals

BIN = Path(sys.executable).parent
DAY_AFTER = date(2019, 12, 1)  # the daily run: a no-retrain day after the full build
NEXT_DAY = date(2019, 12, 2)  # the day after it on the same server, no retraining either
RETRAIN_DAY = date(2019, 12, 3)  # the next day, forced to retrain
BAD_RATE = 0.00002  # as `make run`: a few malformed lines for the quarantine


def generate_landing(landing: Path, rows: int) -> list[Path]:
    """The landing files of `make run` at `rows` events requested: two months, seed 42, a few
    malformed lines for the quarantine. Returns the files written."""
    return generate.generate(landing, rows=rows, start=date(2019, 10, 1), end=date(2019, 11, 30),
                             seed=42, bad_rate=BAD_RATE, progress=False)  # fmt: skip


def drop_stream_files(stream_dir: Path, staging_dir: Path, rows: int) -> None:
    """The streaming folder's files for a landing of `rows` events: three days' share of them,
    as the streaming models read in a full build."""
    arrivals.drop_files(stream_dir, staging_dir, rows=rows * 3 // 61, start=date(2019, 10, 1),
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
                    "status": result["status"], **_span(result)}  # fmt: skip
    return out


def _span(result: dict) -> dict:
    """When the node started and ended (ISO UTC), from run_results' timing of its phases."""
    timing = result.get("timing") or []
    starts = [t["started_at"] for t in timing if t.get("started_at")]
    ends = [t["completed_at"] for t in timing if t.get("completed_at")]
    return {"started_at": min(starts), "completed_at": max(ends)} if starts and ends else {}


def _layers(per_node: dict[str, dict]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for item in per_node.values():
        totals[item["layer"]] = totals.get(item["layer"], 0.0) + item["seconds"]
    return dict(sorted(totals.items()))


class SizeRun:
    """The phases of the benchmark at one size, in one state folder with a server of its own.

    Each finished phase is saved in `<state>/partial.json`; with `resume`, phases already there
    are not run again, so a failure late in a long run costs only the failed phase.
    """

    def __init__(self, rows: int, root: Path, project: Path, log: Path, resume: bool,
                 skip: frozenset[str] = frozenset()):  # fmt: skip
        self.rows, self.project, self.log, self.skip = rows, project, log, skip
        self.state = root / f"{rows}"
        self.partial = self.state / "partial.json"
        self.result: dict = (
            json.loads(self.partial.read_text()) if resume and self.partial.exists() else {}
        )
        if not self.result:
            shutil.rmtree(self.state, ignore_errors=True)
        self.landing = self.state / "landing"
        thrift, connect, ui = server.free_ports(3)
        os.environ.update({
            "LAKEHOUSE_STATE_DIR": str(self.state),
            "LAKEHOUSE_LANDING_DIR": str(self.landing),
            "LAKEHOUSE_THRIFT_PORT": str(thrift),
            "LAKEHOUSE_CONNECT_PORT": str(connect),
            "LAKEHOUSE_UI_PORT": str(ui),
            "DBT_PROFILES_DIR": str(project),
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        })  # fmt: skip
        self.settings = Settings.from_env()
        self.manifest_path = self.state / "dbt" / "full" / "manifest.json"
        self.daily_vars = json.dumps({"run_date": RETRAIN_DAY.isoformat()})

    def say(self, message: str) -> None:
        print(f"[bench {self.rows:,}] {message}", flush=True)

    def pending(self, phase: str) -> bool:
        """True when `phase` still has to run (else says it is kept, or skipped)."""
        if phase in self.result:
            self.say(f"{phase}: kept from the earlier run")
        elif phase in self.skip:
            self.say(f"{phase}: skipped (--skip), not measured")
            return False
        return phase not in self.result

    def save(self) -> None:
        self.partial.write_text(json.dumps(self.result, indent=1) + "\n")

    def dbt(self, args: list[str], name: str) -> tuple[float, dict]:
        return _dbt(args, self.project, self.state / "dbt" / name, self.log)

    def run(self) -> dict:
        # the machine's speed before the first phase (kept on --resume) and after the last
        checks = self.result.setdefault("cpu_check_s", {})
        checks.setdefault("start", cpu_check())
        self.say(f"CPU check {checks['start']:.2f} s (one core, fixed work; lower is faster)")
        if self.pending("input_rows"):
            self.generate()
        server.up(self.settings)
        try:
            if self.pending("full_build"):
                self.full_build()
            manifest = json.loads(self.manifest_path.read_text())
            if self.rows <= CACHE_MAX_ROWS and self.pending("propensity_training_cache"):
                self.training_cache()
            # The daily runs: one more day lands and is run (no retraining), then the same date
            # again with no new file, the next day (no retraining: a server that ran the day
            # before, as a scheduled job's), then a third day forced to retrain. The references
            # below read the full build's files only.
            if self.pending("daily_run"):
                self.daily_run(manifest)
            if self.pending("rerun"):
                self.rerun(manifest)
            if self.pending("rerun_rebuilt"):
                self.rerun_rebuilt(manifest)
            if self.pending("next_day"):
                self.next_day(manifest)
            if self.pending("retrain_day"):
                self.retrain_day(manifest)
            self.result["spark_rows"] = self.table_rows(manifest)
            if self.pending("duckdb"):
                self.duckdb()
        finally:
            server.down(self.settings)
        self.references()
        self.result["cpu_check_s"]["end"] = cpu_check()
        self.save()
        return self.result

    def generate(self) -> None:
        self.result["rows_requested"] = self.rows
        self.say(f"generating data into {self.landing}")
        started = time.perf_counter()
        files = generate_landing(self.landing, self.rows)
        self.result["generate_seconds"] = time.perf_counter() - started
        drop_stream_files(self.settings.stream_dir, self.settings.stream_staging_dir, self.rows)
        self.result["input_rows"] = sum(max(0, sum(1 for _ in f.open()) - 1) for f in files)
        self.save()

    def full_build(self) -> None:
        self.say("full build")
        with PeakRss(server.read_pid(self.settings)) as jvm:
            seconds, run_results = self.dbt(DAILY_ARGS, "full")
        per_node = _per_node(run_results, json.loads(self.manifest_path.read_text()))
        self.result["full_build"] = {
            "seconds": seconds,
            "rows_per_second": self.result["input_rows"] / seconds,
            "layers": _layers(per_node),
            "nodes": per_node,
            "server_peak_rss_bytes": jvm.peak,
            "dbt_peak_rss_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
        }
        self.save()
        self.say(f"full build {seconds:.0f} s")

    def training_cache(self) -> None:
        cache = {}
        for cached in (True, False):
            name = "cached" if cached else "uncached"
            # forced: the full build already trained for this run date, which would be skipped
            vars_ = json.dumps({"cache_training_data": cached, "force_retrain": True})
            _, rr = self.dbt(["run", "-s", "ml_propensity_candidates", "--vars", vars_],
                             f"propensity-{name}")  # fmt: skip
            cache[name] = next(r["execution_time"] for r in rr["results"]
                               if r["unique_id"].endswith(".ml_propensity_candidates"))  # fmt: skip
        self.result["propensity_training_cache"] = cache
        self.save()
        self.say(f"propensity training {cache}")

    def _next_day(self, day: date) -> str:
        """Lands the file of `day` continuing the data set (same users and products, the
        day's usual volume); returns its name."""
        path = generate.extend(self.landing, [day], rows=self.rows, seed=42,
                               bad_rate=BAD_RATE)[0]  # fmt: skip
        return path.name

    def _timed_build(self, name: str, manifest: dict, run_vars: dict, rebuild: bool = False,
                     **extra) -> None:  # fmt: skip
        """As the Dagster daily job builds a run date (the whole DAG): nothing when nothing
        changed since the date's last build (unless `rebuild`), else `dbt build`, recorded."""
        started = time.perf_counter()
        same, changed = reruns.unchanged(self.settings, run_vars["run_date"], reruns.WHOLE_DAG,
                                         run_vars)  # fmt: skip
        if same and not rebuild:
            seconds = time.perf_counter() - started
            self.result[name] = {"seconds": seconds, "run_vars": run_vars, "built": False,
                                 "layers": {}, "nodes": {}, "said": same, **extra}  # fmt: skip
            self.save()
            self.say(f"{name} {seconds:.0f} s: {same}")
            return
        before = reruns.inputs(self.settings, run_vars)
        reruns.forget(self.settings, run_vars["run_date"], reruns.WHOLE_DAG)
        _, rr = self.dbt([*DAILY_ARGS, "--vars", json.dumps(run_vars)], name)
        reruns.record(self.settings, run_vars["run_date"], reruns.WHOLE_DAG, before)
        seconds = time.perf_counter() - started
        per_node = _per_node(rr, manifest)
        self.result[name] = {"seconds": seconds, "run_vars": run_vars, "built": True,
                             "changed": changed, "layers": _layers(per_node), "nodes": per_node,
                             **extra}  # fmt: skip
        self.save()
        self.say(f"{name} {seconds:.0f} s")

    def daily_run(self, manifest: dict) -> None:
        """A day after the full build: one new file, the champions one day old."""
        new_file = self._next_day(DAY_AFTER)
        self._timed_build("daily_run", manifest, {"run_date": DAY_AFTER.isoformat()},
                          new_file=new_file)  # fmt: skip

    def rerun(self, manifest: dict) -> None:
        """The same date again, no new file: the job finds nothing changed."""
        self._timed_build("rerun", manifest, {"run_date": DAY_AFTER.isoformat()})

    def rerun_rebuilt(self, manifest: dict) -> None:
        """The same date again, no new file, built anyway (`lakehouse backfill --rebuild`):
        what redoing the date's work costs."""
        self._timed_build("rerun_rebuilt", manifest, {"run_date": DAY_AFTER.isoformat()},
                          rebuild=True)  # fmt: skip

    def next_day(self, manifest: dict) -> None:
        """The day after the daily run, no retraining: what a scheduled job costs on a server
        that ran the day before. The first daily run after a full build is the server's first
        run of the daily paths (scores from a loaded champion, lists kept from the day before),
        which its later days find compiled."""
        new_file = self._next_day(NEXT_DAY)
        self._timed_build("next_day", manifest, {"run_date": NEXT_DAY.isoformat()},
                          new_file=new_file)  # fmt: skip

    def retrain_day(self, manifest: dict) -> None:
        """The next day, forced to retrain both models (as a cadence or drift day would). The
        full build compared every recommender method and searched the whole propensity grid
        three days before, so the recommender validates the baselines and the shipped method
        and the propensity search refits its winner only, as three weekly retrainings in four
        do by default (recommender_compare_every_days, propensity_search_every_days 28)."""
        new_file = self._next_day(RETRAIN_DAY)
        self._timed_build("retrain_day", manifest,
                          {"run_date": RETRAIN_DAY.isoformat(), "force_retrain": True},
                          new_file=new_file)  # fmt: skip

    def table_rows(self, manifest: dict) -> dict[str, int]:
        """Row counts of the bronze and silver SQL tables the build made (DuckDB's must agree)."""
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.remote(self.settings.connect_url).create()
        try:
            return {
                n["name"]: spark.table(f"{n['schema']}.{n['alias']}").count()
                for n in manifest["nodes"].values()
                if n["resource_type"] == "model" and n["language"] == "sql"
                and n["fqn"][1] in duck.LAYERS
                and n["config"]["materialized"] in ("table", "incremental")
            }  # fmt: skip
        finally:
            spark.stop()

    def full_build_files(self) -> list[str]:
        """The landing files the full build loaded: those that had landed when it finished
        (its run_results.json is written last), not the daily runs' days."""
        finished = (self.state / "dbt" / "full" / "run_results.json").stat().st_mtime
        return sorted(p.name for p in self.landing.glob("*.csv*")
                      if p.stat().st_mtime <= finished)  # fmt: skip

    @contextmanager
    def fresh_server(self, name: str):
        """A server of its own for one reference: a new state folder (metastore, warehouse,
        MLflow, checkpoints) under this size's, the same landing and streaming files, started
        cold and stopped after; yields a Spark Connect session. The build's server is down."""
        from pyspark.sql import SparkSession

        state = self.state / "references" / name
        shutil.rmtree(state, ignore_errors=True)
        with reference_environment(state, self.settings.stream_dir):
            settings = Settings.from_env()
            try:
                server.up(settings)
                spark = SparkSession.builder.remote(settings.connect_url).create()
                try:
                    yield spark, state
                finally:
                    spark.stop()
            finally:
                server.down(settings)

    def references(self) -> None:
        """The equivalent work, the bare copy and the plain PySpark script, each on a fresh
        server of its own (never on the JVM the build warmed), over the full build's files."""
        files = self.full_build_files()
        paths = [str(self.landing / f) for f in files]
        if self.pending("equivalent"):
            self.say("equivalent work: the full build's statements without dbt")
            with self.fresh_server("equivalent") as (spark, state):
                self.result["equivalent"] = equivalent.replay(
                    spark, self.state / "dbt" / "full",
                    json.loads((self.state / "dbt" / "full" / "run_results.json").read_text()),
                    str(self.landing), files, self.project,
                    {f"{self.state}/checkpoints/": f"{state}/checkpoints/"},
                    int(os.environ.get("LAKEHOUSE_THREADS", "2")), say=self.say,
                )  # fmt: skip
            self.save()
        if self.pending("bare_copy"):
            self.say("bare copy")
            with self.fresh_server("bare_copy") as (spark, state):
                self.result["bare_copy"] = plain.bare_copy(spark, paths, state / "scratch")
            self.save()
        if self.pending("plain_pyspark"):
            self.say("plain PySpark")
            with self.fresh_server("plain_pyspark") as (spark, state):
                self.result["plain_pyspark"] = plain.plain_pyspark(spark, paths,
                                                                   state / "scratch")  # fmt: skip
            self.save()

    def duckdb(self) -> None:
        self.say("DuckDB on the compiled bronze and silver SQL")
        compiled = self.state / "dbt" / "compiled"
        # The SQL models only (path selectors): DuckDB runs SQL, not the streaming models.
        self.dbt(["compile", "--full-refresh", "--vars", self.daily_vars, "-s", "models/bronze",
                  "models/silver"], "compiled")  # fmt: skip
        seeds = {p.stem: p for p in (self.project / "seeds").glob("*.csv")}
        self.result["duckdb"] = duck.run(
            compiled / "manifest.json", compiled / "compiled", str(self.landing),
            self.state / "duckdb.db", seeds,
        )  # fmt: skip
        self.save()


@contextmanager
def reference_environment(state: Path, stream_dir: Path):
    """The environment of a reference's fresh server, restored after: its own state folder
    (metastore, warehouse, MLflow store), the build's streaming files, and no
    MLFLOW_TRACKING_URI or MLFLOW_REGISTRY_URI. mlflow.set_tracking_uri exports the URI it is
    given, so the build's own store, configured earlier in this process, would otherwise stay
    the one every later Settings reads: the equivalent work's retraining decisions found the
    build's champions, trained for a later run date, and stopped."""
    change = {"LAKEHOUSE_STATE_DIR": str(state), "LAKEHOUSE_STREAM_DIR": str(stream_dir),
              "MLFLOW_TRACKING_URI": None, "MLFLOW_REGISTRY_URI": None}  # fmt: skip
    saved = {k: os.environ.get(k) for k in change}
    try:
        for key, value in change.items():
            _set_env(key, value)
        yield
    finally:
        for key, value in saved.items():
            _set_env(key, value)


def _set_env(key: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = value


def bench_size(rows: int, root: Path, project: Path, log: Path, resume: bool = False,
               skip: frozenset[str] = frozenset()) -> dict:  # fmt: skip
    """All measurements at one size (see `SizeRun`)."""
    return SizeRun(rows, root, project, log, resume, skip).run()


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
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated phases not to measure, e.g. retrain_day (reported as n/a)",
    )
    args = parser.parse_args(argv)
    project = find_project_root()
    root = Path(os.environ.get("LAKEHOUSE_BENCH_DIR") or project / ".lakehouse-bench")
    root.mkdir(parents=True, exist_ok=True)
    log = root / "bench.log"
    print(f"benchmark state and log: {root}", flush=True)
    sizes = []
    for rows in (int(s) for s in args.sizes.split(",")):
        skip = frozenset(p for p in args.skip.split(",") if p)
        size = bench_size(rows, root, project, log, resume=args.resume, skip=skip)
        size["ratios"] = ratios(size)
        size.update(headline(size))
        size["measured"] = measured(project)
        sizes.append(size)
        results = {"machine": machine(), "finished": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
                   "sizes": sizes}  # fmt: skip
        write_report(results, Path(args.out) if args.out else project / "docs" / "benchmark")
        print(json.dumps(size["ratios"], indent=2), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
