"""A Delta table's transaction log read straight from its folder in the warehouse, with no
query: the server keeps every table the project builds as a managed table,
`<warehouse>/<schema>.db/<table>/_delta_log/<version>.json`, one JSON action per line.

The rerun check asks each table's latest version, the run-end record the commits each node
made, and the key tests of the daily aggregates the partitions a build rewrote; through the
server that was a `DESCRIBE HISTORY` per table or a scan of every file's metadata
(docs/operations.md, "Cost decisions")."""

from __future__ import annotations

import json
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


def commits_since(table_dir: Path, since_ms: float) -> list[dict] | None:
    """The `commitInfo` of every commit made at or after `since_ms` (milliseconds since the
    epoch), newest first; None when the folder holds no Delta log."""
    found = _commits_since(table_dir, since_ms)
    return None if found is None else [commit for commit, _ in found]


def partitions_added_since(table_dir: Path, since_ms: float, column: str) -> set[str | None] | None:
    """The values of the partition column `column` (strings; None for the null partition) of
    every file added by a commit made at or after `since_ms` (milliseconds since the epoch): a
    write, a rewrite by partition, a compaction. None when the folder holds no Delta log or
    the table is not partitioned by `column`: the caller asks the server then."""
    found = _commits_since(table_dir, since_ms)
    if found is None:
        return None
    values = [(action.get("partitionValues") or {}) for _, added in found for action in added]
    if any(column not in v for v in values):
        return None
    return {v[column] for v in values}


def _commits_since(table_dir: Path, since_ms: float) -> list[tuple[dict, list[dict]]] | None:
    """(`commitInfo`, its `add` actions) of every commit made at or after `since_ms`, newest
    first; None when the folder holds no Delta log."""
    newest_first = versions(table_dir)
    if not newest_first:
        return None
    found = []
    for version in newest_first:
        commit, added = _actions(table_dir / "_delta_log" / f"{version:020d}.json")
        if (commit.get("inCommitTimestamp") or commit.get("timestamp") or 0) < since_ms:
            break  # versions are in commit order: the older ones are older still
        found.append((commit, added))
    return found


def _actions(commit_file: Path) -> tuple[dict, list[dict]]:
    """The `commitInfo` of one commit file (empty when it has none) and its `add` actions."""
    commit, added = {}, []
    with commit_file.open() as lines:
        for line in lines:
            if line.startswith('{"commitInfo"'):
                commit = json.loads(line)["commitInfo"]
            elif line.startswith('{"add"'):
                added.append(json.loads(line)["add"])
    return commit, added
