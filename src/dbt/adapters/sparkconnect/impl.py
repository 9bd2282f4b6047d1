"""The `sparkconnect` adapter: dbt-spark's adapter with a Spark Connect Python submission method.

Everything SQL is inherited from `SparkAdapter`. Python models default to the `spark_connect`
submission method (see `python_submissions.py`); dbt-spark's Databricks methods stay available
by name for a team that also runs on Databricks.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from dbt.adapters.base import PythonJobHelper, available
from dbt.adapters.contracts.connection import AdapterResponse
from dbt.adapters.spark.impl import SparkAdapter
from dbt.adapters.sparkconnect.connections import SparkConnectConnectionManager
from dbt.adapters.sparkconnect.line_scan import long_lines
from dbt.adapters.sparkconnect.python_submissions import SparkConnectPythonJobHelper
from dbt_common.exceptions import DbtRuntimeError

# How Spark reports a path that does not exist (error class, and the older message).
_MISSING_PATH = ("PATH_NOT_FOUND", "Path does not exist")


class SparkConnectAdapter(SparkAdapter):
    ConnectionManager = SparkConnectConnectionManager

    @property
    def default_python_submission_method(self) -> str:
        return "spark_connect"

    @property
    def python_submission_helpers(self) -> dict[str, type[PythonJobHelper]]:
        return {**super().python_submission_helpers, "spark_connect": SparkConnectPythonJobHelper}

    def generate_python_submission_response(self, submission_result: Any) -> AdapterResponse:
        return AdapterResponse(_message=f"OK ({submission_result})")

    @available
    def path_exists(self, path: str) -> bool:
        """Whether the server can read `path` (a folder or file on any file system it reaches:
        local, HDFS, object storage). Asked of the server, not of the dbt machine."""
        quoted = path.replace("`", "``")
        try:
            self.execute(f"select 1 from text.`{quoted}` limit 0")
        except DbtRuntimeError as error:
            if any(marker in str(error) for marker in _MISSING_PATH):
                return False
            raise
        return True

    @available
    def read_error(self, path: str) -> str:
        """Why the server cannot read the text file at `path` to its end (a corrupt or
        truncated gzip, no permission), in one line; empty when it can."""
        quoted = path.replace("`", "``")
        try:
            self.execute(f"select count(*) from text.`{quoted}`", fetch=True)
        except DbtRuntimeError as error:
            return read_error_summary(str(error))
        return ""

    @available
    def long_lines(self, path: str) -> list[dict] | None:
        """The lines of the landing file at `path` that the server's reader skips as longer
        than its bound (LAKEHOUSE_MAX_LINE_BYTES): `line_number`, `line_bytes` and `start` (the
        first bytes) of each. Scanned here, in blocks, never holding a line whole. None when
        the file is not on this machine's file system or the server sets no bound."""
        bound = self._max_line_bound()
        parsed = urlparse(path)
        if bound is None or parsed.scheme not in ("", "file"):
            return None
        found = long_lines(Path(unquote(parsed.path)), bound)
        return [
            {"line_number": f.line_number, "line_bytes": f.line_bytes, "start": f.start}
            for f in found
        ]

    @available
    def orphan_candidate(self, warehouse: str, schema: str, identifier: str) -> dict | None:
        """The managed folder of `schema.identifier` in the `warehouse` (the server's
        spark.sql.warehouse.dir) when it exists and is not empty: {path, is_delta} (is_delta:
        it holds a committed Delta log). None otherwise, and for a warehouse not on this
        machine's file system."""
        folder = _table_folder(warehouse, schema, identifier)
        if folder is None or not folder.is_dir() or not any(folder.iterdir()):
            return None
        is_delta = any((folder / "_delta_log").glob("*.json"))
        return {"path": str(folder), "is_delta": is_delta}

    @available
    def delta_commits_since(
        self, warehouse: str, schema: str, identifier: str, since: datetime
    ) -> list[dict] | None:
        """The `operationMetrics` of every commit to the Delta table `schema.identifier` made
        at or after `since` (a naive time is UTC, as dbt's node timings are), newest first,
        read from the table's transaction log in the `warehouse` (the server's
        spark.sql.warehouse.dir). None when the warehouse is not on this machine's file system
        or the folder holds no Delta log: ask `describe history` then. One log read instead of
        one query per table (the run-end record of a daily run: 25 tables, 5 s of queries)."""
        from lakehouse.platform import delta_log

        folder = _table_folder(warehouse, schema, identifier)
        commits = delta_log.commits_since(folder, _epoch_ms(since)) if folder else None
        return None if commits is None else [c.get("operationMetrics") or {} for c in commits]

    @available
    def delta_partitions_written_since(
        self, warehouse: str, schema: str, identifier: str, since: datetime, column: str
    ) -> list[str | None] | None:
        """The values of the partition column `column` (strings, sorted; None for the null
        partition) of the files that commits made at or after `since` (naive: UTC) added to the
        Delta table `schema.identifier`, read from its transaction log in the `warehouse`.
        None when the warehouse is not on this machine's file system, the folder holds no Delta
        log or the table is not partitioned by `column`: ask the server then. A key test of a
        daily aggregate asked this with a scan of every file's metadata (6.3 s for
        slv_product_daily on the 10 M benchmark's daily run)."""
        from lakehouse.platform import delta_log

        folder = _table_folder(warehouse, schema, identifier)
        found = (
            delta_log.partitions_added_since(folder, _epoch_ms(since), column) if folder else None
        )
        return None if found is None else sorted(found, key=lambda v: (v is None, v or ""))

    @available
    def delta_partitions_changed_after(
        self, warehouse: str, schema: str, identifier: str, after_us: int, column: str,
        stat: str,
    ) -> list[str] | None:  # fmt: skip
        """The values of the partition column `column` (strings, sorted; the null partition
        left out) where the Delta table `schema.identifier` gained rows whose timestamp column
        `stat` is later than `after_us` (microseconds since the epoch), or lost rows since
        then (a delete, a restore), read from its transaction log in the `warehouse`
        (lakehouse.platform.delta_log.partitions_changed_after). None when the log cannot
        tell: ask the server then. The silver daily aggregates asked the loaded rows for their
        dates, 1.3 s per aggregate in the 10 M benchmark's daily run."""
        from lakehouse.platform import delta_log

        folder = _table_folder(warehouse, schema, identifier)
        found = (
            delta_log.partitions_changed_after(folder, int(after_us), column, stat)
            if folder
            else None
        )
        return None if found is None else sorted(v for v in found if v is not None)

    @available
    def delta_last_commit_ms(self, warehouse: str, schema: str, identifier: str) -> int | None:
        """When the latest commit of the Delta table `schema.identifier` was made
        (milliseconds since the epoch), read from its transaction log in the `warehouse`; None
        when the log cannot tell (no table, a warehouse not on this machine's file system)."""
        from lakehouse.platform import delta_log

        folder = _table_folder(warehouse, schema, identifier)
        return delta_log.latest_commit_ms(folder) if folder else None

    @available
    def delta_partitions_rewritten_since(
        self, warehouse: str, schema: str, identifier: str, since_ms: int, column: str
    ) -> list[str | None] | None:
        """The values of the partition column `column` (strings, sorted; None for the null
        partition) where a commit to the Delta table `schema.identifier` made at or after
        `since_ms` added or removed rows (not a compaction), read from its transaction log in
        the `warehouse`; None when the log cannot tell."""
        from lakehouse.platform import delta_log

        folder = _table_folder(warehouse, schema, identifier)
        found = delta_log.partitions_rewritten_since(folder, since_ms, column) if folder else None
        return None if found is None else sorted(found, key=lambda v: (v is None, v or ""))

    @available
    def warehouse_dir(self) -> str:
        """The server's spark.sql.warehouse.dir, asked once per invocation."""
        if not hasattr(self, "_warehouse"):
            _, table = self.execute("set spark.sql.warehouse.dir", fetch=True)
            self._warehouse = str(table.rows[0][1])
        return self._warehouse

    @available
    def move_aside(self, path: str) -> str:
        """Moves the folder `path` (a table folder in the warehouse) to `orphaned/` beside the
        warehouse, under its table name and the time; returns the new path."""
        folder = Path(path)
        target_dir = folder.parent.parent.parent / "orphaned"
        target_dir.mkdir(mode=0o700, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S") + f".{time.time_ns() % 10**9:09d}"
        target = target_dir / f"{folder.parent.name.removesuffix('.db')}.{folder.name}-{stamp}"
        folder.rename(target)
        return str(target)

    def _max_line_bound(self) -> int | None:
        """The server's line bound (Hadoop's line.maxlength), None when it has none. Asked
        once per invocation (a server setting: a build checking 61 new files asked it 61
        times, 5 s)."""
        from lakehouse.platform.server import MAX_LINE_CONF

        if not hasattr(self, "_line_bound"):
            _, table = self.execute(f"set {MAX_LINE_CONF}", fetch=True)
            value = table.rows[0][1] if table.rows else ""
            self._line_bound = int(value) if str(value).isdigit() else None
        return self._line_bound


def _epoch_ms(since: datetime) -> float:
    """`since` in milliseconds since the epoch, a naive time taken as UTC (dbt's timings and
    run_started_at are UTC), as the Delta log stamps its commits."""
    bound = since if since.tzinfo else since.replace(tzinfo=UTC)
    return bound.timestamp() * 1000


def _table_folder(warehouse: str, schema: str, identifier: str) -> Path | None:
    """The managed folder of `schema.identifier` in `warehouse`; None for a warehouse that is
    not on this machine's file system."""
    from lakehouse.platform import delta_log

    parsed = urlparse(warehouse)
    if parsed.scheme not in ("", "file"):
        return None
    return delta_log.table_folder(Path(unquote(parsed.path)), schema, identifier)


def read_error_summary(message: str, limit: int = 300) -> str:
    """The cause of a failed read in one line: the last Java exception the server names and
    its message (`java.io.EOFException: Unexpected end of input stream`), else the message's
    start."""
    flat = " ".join(message.split())
    names = list(re.finditer(r"(?:[a-z]\w*\.)+\w*(?:Exception|Error):", flat))
    if not names:
        return flat[:limit]
    cause = flat[names[-1].start() :]
    return re.split(r" at [\w$.]+\(", cause, maxsplit=1)[0][:limit]
