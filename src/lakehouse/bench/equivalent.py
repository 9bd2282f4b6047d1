"""The equivalent-work reference: the work of the full build, without dbt.

One PySpark program replays what the full build ran, from the build's own target folder, over
Spark Connect, on a fresh server with a state folder of its own (`SizeRun.references`):

- the on-run-start work the models need: the schemas and the landing table over the build's
  landing files;
- every seed, model and data test of the build's `run_results.json`, in the order the build
  finished them, each starting when the nodes it reads have finished, on as many threads as
  the build had (`LAKEHOUSE_THREADS`, default 2):
  - a seed: its CSV written as a Delta table with the seed's column types;
  - a SQL model: its compiled statement from `run/` (`create or replace table ... as ...` or
    the view), then what the build adds after it: a contract's `not null` check constraint
    (compaction is the server's, after each write, as in the build);
  - a Python model: its compiled script from `run/` (the same `propensity`, `recommend` and
    streaming calls, the MLflow runs and the registry), executed with `spark` bound;
  - a data test: one query (`run/`), after writing its failures table when it stores them.

What it leaves out is what dbt adds: parsing and compiling, Jinja, the Thrift sessions and
their polling, metadata queries (`describe`, `show`), the build lock, and the run-end hook that
records every node's result. Full build / equivalent is the price of those.
"""

from __future__ import annotations

import csv
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

# The run-start work of the project the models read: the landing table (macros/landing.sql).
LANDING_TABLE = "landing.event_files"


def _run_file(target: Path, node: dict) -> Path:
    """Where dbt wrote the statement or script it ran for `node`."""
    if node["resource_type"] == "test" and node.get("original_file_path", "").endswith(".yml"):
        return target / "run" / node["package_name"] / node["original_file_path"] / node["path"]
    return target / "run" / node["package_name"] / node["original_file_path"]


def _contract_constraint(node: dict) -> str | None:
    """The one check constraint the adapter adds for a contract's `not_null` columns
    (src/dbt/include/sparkconnect/macros/constraints.sql)."""
    if not node["config"].get("contract", {}).get("enforced"):
        return None
    columns = [
        name
        for name, column in node.get("columns", {}).items()
        if any(c["type"] == "not_null" for c in column.get("constraints") or [])
    ]
    if not columns:
        return None
    check = " and ".join(f"{c} is not null" for c in columns)
    return f"alter table {node['relation_name']} add constraint contract_not_null check ({check})"


class Replay:
    """The replay of one build's target folder on one Spark Connect session."""

    def __init__(self, spark, target: Path, manifest: dict, project: Path,
                 rewrite: dict[str, str]):  # fmt: skip
        self.spark, self.target, self.manifest, self.project = spark, target, manifest, project
        self.rewrite = rewrite
        self.seconds: dict[str, float] = {}
        self.test_failures: dict[str, int] = {}
        self.statements = 0
        self._count = threading.Lock()

    def _text(self, path: Path) -> str:
        text = path.read_text()
        for old, new in self.rewrite.items():
            text = text.replace(old, new)
        return text

    def _sql(self, statement: str):
        with self._count:
            self.statements += 1
        return self.spark.sql(statement)

    def prepare(self, landing: str, files: list[str]) -> None:
        """The schemas and the landing table over exactly `files` (the build's files)."""
        schemas = {n["schema"] for n in self.manifest["nodes"].values()}
        for schema in sorted(schemas | {LANDING_TABLE.split(".")[0]}):
            self._sql(f"create schema if not exists {schema}")
        names = ",".join(files)
        self._sql(f"create table {LANDING_TABLE} using binaryFile options "
                  f"(pathGlobFilter '{{{names}}}') location '{landing}'")  # fmt: skip

    def seed(self, node: dict) -> None:
        types = node["config"].get("column_types") or {}
        with (self.project / node["original_file_path"]).open(newline="") as f:
            rows = list(csv.DictReader(f))
        columns = list(rows[0]) if rows else list(types)
        schema = ", ".join(f"`{c}` string" for c in columns)
        frame = self.spark.createDataFrame([[r[c] for c in columns] for r in rows], schema)
        frame = frame.selectExpr(*[f"cast(`{c}` as {types.get(c, 'string')}) as `{c}`"
                                   for c in columns])  # fmt: skip
        frame.write.format("delta").mode("overwrite").saveAsTable(node["relation_name"])
        with self._count:
            self.statements += 1

    def model(self, node: dict) -> None:
        path = _run_file(self.target, node)
        if node["language"] == "python":
            self._python(node, self._text(path))
            with self._count:
                self.statements += 1
        else:
            self._sql(self._text(path))
        if constraint := _contract_constraint(node):
            self._sql(constraint)

    def _python(self, node: dict, script: str) -> None:
        # pyspark.ml over Connect looks up the thread's active session (as the adapter does).
        type(self.spark)._set_default_and_active_session(self.spark)
        code = compile(script, f"<replay {node['original_file_path']}>", "exec")
        exec(code, {"spark": self.spark, "__name__": f"replay_{node['name']}"})  # noqa: S102

    def test(self, node: dict) -> None:
        row = self._sql(self._text(_run_file(self.target, node))).first()
        self.test_failures[node["unique_id"]] = int(row["failures"])

    def node(self, uid: str) -> None:
        node = self.manifest["nodes"][uid]
        started = time.perf_counter()
        getattr(self, node["resource_type"])(node)
        self.seconds[uid] = time.perf_counter() - started


def replay(spark, target: Path, run_results: dict, landing: str, files: list[str],
           project: Path, rewrite: dict[str, str], threads: int,
           say: Callable[[str], None] = print) -> dict:  # fmt: skip
    """Replays the build in `target` (its manifest, run_results and run/ folder); returns the
    wall seconds, per-node seconds, statement count and each test's failures."""
    manifest = json.loads((target / "manifest.json").read_text())
    order = [r["unique_id"] for r in run_results["results"]
             if r["unique_id"].split(".")[0] in ("seed", "model", "test")]  # fmt: skip
    work = Replay(spark, target, manifest, project, rewrite)
    replayed = set(order)
    parents = {uid: [p for p in manifest["nodes"][uid].get("depends_on", {}).get("nodes", [])
                     if p in replayed] for uid in order}  # fmt: skip
    children: dict[str, list[str]] = {uid: [] for uid in order}
    for uid, ups in parents.items():
        for parent in ups:
            children[parent].append(uid)
    waiting = {uid: len(ups) for uid, ups in parents.items()}
    started = time.perf_counter()
    work.prepare(landing, files)
    # As dbt does: a node is queued once every node it reads has finished, and the threads
    # take queued nodes in turn (never one that would wait for its parents).
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="replay") as pool:
        running: dict[Future, str] = {}
        for uid in order:
            if waiting[uid] == 0:
                running[pool.submit(work.node, uid)] = uid
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                uid = running.pop(future)
                if future.exception() is not None:
                    for other in running:
                        other.cancel()
                    wait(running)
                    raise RuntimeError(f"the equivalent-work replay failed at {uid}: "
                                       f"{future.exception()}") from future.exception()  # fmt: skip
                for child in children[uid]:
                    waiting[child] -= 1
                    if waiting[child] == 0:
                        running[pool.submit(work.node, child)] = child
    seconds = time.perf_counter() - started
    failing = sorted(uid for uid, n in work.test_failures.items() if n)
    say(f"equivalent work: {len(order)} nodes, {work.statements} statements in {seconds:.0f} s"
        + (f"; tests with failures: {failing}" if failing else ""))  # fmt: skip
    return {"seconds": seconds, "nodes": work.seconds, "statements": work.statements,
            "tests_failing": failing}  # fmt: skip
