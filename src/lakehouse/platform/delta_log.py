"""A Delta table's transaction log read straight from its folder in the warehouse, with no
query: the server keeps every table the project builds as a managed table,
`<warehouse>/<schema>.db/<table>/_delta_log/<version>.json`, one JSON action per line.

The rerun check asks each table's latest version, the run-end record the commits each node
made, the key tests of the daily aggregates the partitions a build rewrote, and the daily
aggregates the dates bronze loaded since they were built; through the server that was a
`DESCRIBE HISTORY` per table or a scan of every file's metadata or of the loaded rows
(docs/operations.md, "Cost decisions")."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path


def schema_folder(warehouse_dir: Path, schema: str) -> Path:
    """The folder of the managed tables of `schema` in the warehouse folder."""
    return warehouse_dir / f"{schema.lower()}.db"


def table_folder(warehouse_dir: Path, schema: str, table: str) -> Path:
    """The managed folder of `schema.table` in the warehouse folder."""
    return schema_folder(warehouse_dir, schema) / table.lower()


def versions(table_dir: Path) -> list[int]:
    """The versions of the commit files of the Delta table in `table_dir`, newest first (log
    cleanup never removes the latest); empty when the folder holds no Delta log."""
    found = (int(p.stem) for p in (table_dir / "_delta_log").glob("*.json") if p.stem.isdigit())
    return sorted(found, reverse=True)


def latest_version(table_dir: Path) -> int | None:
    """The latest version of the Delta table in `table_dir`, None when there is none."""
    found = versions(table_dir)
    return found[0] if found else None


def latest_commit_ms(table_dir: Path) -> int | None:
    """When the latest commit of the Delta table in `table_dir` was made (milliseconds since the
    epoch); None when the folder holds no Delta log or the commit says no time."""
    found = latest_version(table_dir)
    if found is None:
        return None
    commit, _, _ = _actions(table_dir / "_delta_log" / f"{found:020d}.json")
    stamp = commit.get("inCommitTimestamp") or commit.get("timestamp")
    return int(stamp) if stamp else None


def commits_since(table_dir: Path, since_ms: float) -> list[dict] | None:
    """The `commitInfo` of every commit made at or after `since_ms` (milliseconds since the
    epoch), newest first; None when the folder holds no Delta log."""
    found = _commits_since(table_dir, since_ms)
    return None if found is None else [commit for commit, _, _ in found]


def partitions_added_since(table_dir: Path, since_ms: float, column: str) -> set[str | None] | None:
    """The values of the partition column `column` (strings; None for the null partition) of
    every file added by a commit made at or after `since_ms` (milliseconds since the epoch): a
    write, a rewrite by partition, a compaction. None when the folder holds no Delta log or
    the table is not partitioned by `column`: the caller asks the server then."""
    found = _commits_since(table_dir, since_ms)
    if found is None:
        return None
    values = [(action.get("partitionValues") or {}) for _, added, _ in found for action in added]
    if any(column not in v for v in values):
        return None
    return {v[column] for v in values}


def partitions_rewritten_since(
    table_dir: Path, since_ms: float, column: str
) -> set[str | None] | None:
    """The values of the partition column `column` where a commit made at or after `since_ms`
    (milliseconds since the epoch) added or removed rows: every `add` and `remove` action
    with a data change (a write, a delete, a restore, also one that brings back older rows;
    not a compaction). None when that cannot be known from the log: no log, commits since
    then already cleaned up, a file without partition values."""
    found = _commits_since(table_dir, since_ms)
    if found is None or not _reaches_back(table_dir, found):
        return None
    values: set[str | None] = set()
    for _, added, removed in found:
        for action in [*added, *removed]:
            if not action.get("dataChange", True):
                continue  # a compaction moves rows without changing them
            if column not in (action.get("partitionValues") or {}):
                return None
            values.add(action["partitionValues"][column])
    return values


def partitions_changed_after(
    table_dir: Path, after_us: int, column: str, stat: str
) -> set[str | None] | None:
    """The values of the partition column `column` that hold rows written after `after_us`
    (microseconds since the epoch) by the table's timestamp column `stat`, or rows removed
    since then: of every commit made after that time, the files it added whose `stat` maximum
    is later, and the files it removed with a data change (a delete, a restore; not a
    compaction). None when that cannot be known from the log: no log, commits since then
    already cleaned up, a file without partition values or without a `stat` statistic.

    Delta keeps timestamp statistics to the millisecond, cut down: a file whose rows were
    written later than `after_us` in the same millisecond counts as not later. Loads are
    separate statements, seconds apart, so the load that set `after_us` (its files' maximum
    is `after_us` cut to the millisecond) is left out and every later one counted."""
    after_ms = after_us // 1000
    found = _commits_since(table_dir, after_ms)
    if found is None or not _reaches_back(table_dir, found):
        return None
    values: set[str | None] = set()
    for _, added, removed in found:
        for action in added:
            latest = _max_stat(action, stat)
            if latest is None or column not in (action.get("partitionValues") or {}):
                return None
            if latest > after_ms:
                values.add(action["partitionValues"][column])
        for action in removed:
            if not action.get("dataChange", True):
                continue  # a compaction moves rows without changing them
            if column not in (action.get("partitionValues") or {}):
                return None
            values.add(action["partitionValues"][column])
    return values


def _reaches_back(table_dir: Path, found: list) -> bool:
    """Whether the commits `found` by _commits_since are every commit made since its time:
    the log still holds a commit made before then, or version 0."""
    kept = versions(table_dir)
    return len(found) < len(kept) or (bool(kept) and kept[-1] == 0)


def _max_stat(action: dict, stat: str) -> int | None:
    """The maximum of the timestamp column `stat` in an `add` action's statistics, in
    milliseconds since the epoch; None when the file has no such statistic."""
    try:
        value = json.loads(action.get("stats") or "{}").get("maxValues", {}).get(stat)
        return round(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except (AttributeError, TypeError, ValueError):
        return None


def _commits_since(
    table_dir: Path, since_ms: float
) -> list[tuple[dict, list[dict], list[dict]]] | None:
    """(`commitInfo`, its `add` actions, its `remove` actions) of every commit made at or after
    `since_ms`, newest first; None when the folder holds no Delta log."""
    newest_first = versions(table_dir)
    if not newest_first:
        return None
    found = []
    for version in newest_first:
        commit, added, removed = _actions(table_dir / "_delta_log" / f"{version:020d}.json")
        if (commit.get("inCommitTimestamp") or commit.get("timestamp") or 0) < since_ms:
            break  # versions are in commit order: the older ones are older still
        found.append((commit, added, removed))
    return found


def _actions(commit_file: Path) -> tuple[dict, list[dict], list[dict]]:
    """The `commitInfo` of one commit file (empty when it has none), its `add` actions and
    its `remove` actions."""
    commit, added, removed = {}, [], []
    with commit_file.open() as lines:
        for line in lines:
            if line.startswith('{"commitInfo"'):
                commit = json.loads(line)["commitInfo"]
            elif line.startswith('{"add"'):
                added.append(json.loads(line)["add"])
            elif line.startswith('{"remove"'):
                removed.append(json.loads(line)["remove"])
    return commit, added, removed
