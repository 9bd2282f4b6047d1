"""A rerun of a run date that would change nothing builds nothing.

What a daily build of a run date reads: the landing and streaming files, the project's code
(the dbt files and the `lakehouse` package), the run's vars, the champions in the MLflow
registry, and the tables it builds on. After a successful build the daily job records all of
them for the run date and the selection it built (`record`); before the next build of the same
date and selection it compares them with what it finds (`unchanged`). When every part is the
same, the tables already hold what the build would write (every model is deterministic given
these), so the job says so in one line and builds nothing.

Any difference means a build: a new, changed or removed file, an edit of a model, macro, test
or of this package, other vars, a champion promoted or rolled back, a table written since (a
restore, another date's run, a by-hand fix). The files are listed before the build (a file
landing during it is new to the next run); the tables and champions are read after it. A
failed build leaves no record. `lakehouse backfill --rebuild` (Dagster run tag
`lakehouse/rebuild: true`) builds anyway.

The tables are compared by their latest Delta version (the newest commit of each table's log
in the warehouse folder, for the data schemas, LAKEHOUSE_SCHEMA_PREFIX applied); views and the
ops schema (written by every run's own hooks) are left out: a view has no data of its own, and
the run history is not an input. Finding no table at all is never read as "unchanged".
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from lakehouse.platform import delta_log
from lakehouse.platform.config import Settings, schema_name

REBUILD_TAG = "lakehouse/rebuild"  # a Dagster run tag: "true" builds even when unchanged
WHOLE_DAG = "all"  # the selection key of a run that builds every asset
DATA_SCHEMAS = ("seeds", "bronze", "silver", "gold")
# What the dbt project is made of, besides the `lakehouse` package under src/.
CODE_PATHS = ("dbt_project.yml", "packages.yml", "models", "macros", "python_models", "seeds",
              "tests/dbt", "src")  # fmt: skip
PARTS = ("files", "code", "vars", "champions", "tables")


def selection_key(selected: list[str], every: list[str]) -> str:
    """`all` when `selected` (asset names) is every asset, else a short hash of the names."""
    if sorted(selected) == sorted(every):
        return WHOLE_DAG
    return hashlib.sha256("\n".join(sorted(selected)).encode()).hexdigest()[:12]


def record_path(settings: Settings, run_date: str, selection: str) -> Path:
    return settings.state_dir / "runs" / f"{run_date}-{selection}.json"


def _files(folder: Path, kind: str) -> dict[str, list[int]]:
    """Every file under `folder`: "kind/relative path" -> [size, modification time in ns]."""
    if not folder.is_dir():
        return {}
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            stat = path.stat()
            found[f"{kind}/{path.relative_to(folder)}"] = [stat.st_size, stat.st_mtime_ns]
    return found


def code_hash(project_dir: Path) -> str:
    """A hash of the project's code: the dbt files and the package's sources (no caches)."""
    digest = hashlib.sha256()
    for name in CODE_PATHS:
        top = project_dir / name
        paths = [top] if top.is_file() else sorted(top.rglob("*")) if top.is_dir() else []
        for path in paths:
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(str(path.relative_to(project_dir)).encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def inputs(settings: Settings, run_vars: dict) -> dict:
    """What the build reads that is not a table: taken before it starts."""
    return {
        "files": {
            **_files(settings.landing_dir, "landing"),
            **_files(settings.stream_dir, "stream"),
        },
        "code": code_hash(settings.project_dir),
        "vars": json.loads(json.dumps(run_vars, sort_keys=True, default=str)),
    }


# The champions of the project's SQLite store, read from MLflow's own tables (MLflow 3 schema).
CHAMPIONS_SQL = """
    select models.name, aliases.version
    from registered_models as models
    left join registered_model_aliases as aliases
        on aliases.workspace = models.workspace
        and aliases.name = models.name
        and aliases.alias = ?
    where models.workspace = 'default'
"""


def champions(settings: Settings) -> dict[str, int | None]:
    """Every registered model's champion version (None when it has none).

    With the project's SQLite store this is one read-only query of the store's tables:
    importing MLflow and opening its store took 1.8 s of a check in a fresh process (the 10 M
    benchmark's state), the query 5 ms. A tracking server (MLFLOW_TRACKING_URI), or a store
    whose tables this query does not fit (another MLflow schema), goes through MLflow's client,
    which gives the same answer (tests/test_rollback.py compares the two)."""
    import sqlite3
    from contextlib import closing

    from lakehouse.ml import tracking

    uri = settings.mlflow_tracking_uri
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///")).resolve()
        if not path.is_file():
            return {}  # no store yet: no registered model
        try:
            with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as store:
                return dict(store.execute(CHAMPIONS_SQL, (tracking.CHAMPION,)).fetchall())
        except sqlite3.Error:
            pass
    return champions_from_mlflow(settings)


def champions_from_mlflow(settings: Settings) -> dict[str, int | None]:
    """`champions` through MLflow's client: any store."""
    from mlflow import MlflowClient

    from lakehouse.ml import tracking

    tracking.use_registry(settings)
    return {m.name: m.aliases.get(tracking.CHAMPION)
            for m in MlflowClient().search_registered_models()}  # fmt: skip


def table_versions(settings: Settings) -> dict[str, int]:
    """The latest Delta version of every table of the data schemas (views have no folder).

    Read from each table's transaction log in the warehouse folder, where the server keeps
    every table the project builds (managed tables, no location of their own): a directory
    listing per table. A `DESCRIBE HISTORY` query per table through the server gave the same
    numbers in 5 to 20 s per check on 24 tables, twice in every daily run (docs/operations.md,
    "Cost decisions")."""
    found = {}
    for layer in DATA_SCHEMAS:
        schema = schema_name(layer)
        folder = delta_log.schema_folder(settings.warehouse_dir, schema)
        for table_dir in sorted(folder.iterdir()) if folder.is_dir() else []:
            version = delta_log.latest_version(table_dir)
            if version is not None:
                found[f"{schema}.{table_dir.name}"] = version
    return found


def state(settings: Settings, run_vars: dict) -> dict:
    """Every part, now."""
    return {**inputs(settings, run_vars), "champions": champions(settings),
            "tables": table_versions(settings)}  # fmt: skip


def changes(last: dict | None, now: dict) -> list[str]:
    """What differs between the recorded build `last` and `now`, one phrase per part; empty when
    nothing does."""
    if last is None:
        return ["no earlier build of this run date is recorded"]
    if not now.get("tables"):
        return ["no table of the data schemas found to compare"]
    found = []
    for part in PARTS:
        before, after = last.get(part), now.get(part)
        if before == after:
            continue
        if part in ("files", "tables"):
            names = sorted(n for n in set(before or {}) | set(after)
                           if (before or {}).get(n) != after.get(n))  # fmt: skip
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            what = "files changed" if part == "files" else "tables written since"
            found.append(f"{what}: {', '.join(names[:3])}{more}")
        elif part == "champions":
            found.append(f"champions changed: {before} -> {after}")
        else:
            found.append(f"{part} changed")
    return found


def last_build(settings: Settings, run_date: str, selection: str) -> dict | None:
    path = record_path(settings, run_date, selection)
    return json.loads(path.read_text()) if path.is_file() else None


def unchanged(settings: Settings, run_date: str, selection: str,
              run_vars: dict) -> tuple[str | None, list[str]]:  # fmt: skip
    """(the one line to say when nothing changed since the recorded build, else None; what
    changed)."""
    last = last_build(settings, run_date, selection)
    found = changes(last, state(settings, run_vars))
    if found:
        return None, found
    what = "every model" if selection == WHOLE_DAG else "the selected models"
    return (f"run date {run_date}: nothing changed since its build at {last['built_at']} (the same "
            f"files, code, vars, champions and {len(last['tables'])} tables), so {what} would "
            "write the same rows: built nothing. To build anyway: lakehouse backfill "
            f"{run_date} --rebuild"), []  # fmt: skip


def forget(settings: Settings, run_date: str, selection: str) -> None:
    """Drops the record before a build: a build that fails leaves none."""
    record_path(settings, run_date, selection).unlink(missing_ok=True)


def record(settings: Settings, run_date: str, selection: str, before: dict) -> None:
    """Records a successful build: `before` (from `inputs`, taken before it started) with the
    champions and table versions it left."""
    path = record_path(settings, run_date, selection)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = {**before, "champions": champions(settings), "tables": table_versions(settings),
            "built_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")}  # fmt: skip
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(done, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
