"""The Delta log read from a table's folder (lakehouse.platform.delta_log), on commit files
written the way Delta writes them: one JSON action per line, `commitInfo` and `add` among them.
The server-tier test that a build's key test reads only the partitions it rewrote
(tests/test_daily.py) reads the log of a real table."""

import json
from pathlib import Path

from lakehouse.platform import delta_log


def _commit(table: Path, version: int, at_ms: int, partitions: list[dict]) -> None:
    log = table / "_delta_log"
    log.mkdir(parents=True, exist_ok=True)
    actions = [{"commitInfo": {"timestamp": at_ms, "operation": "WRITE"}}]
    actions += [
        {"add": {"path": f"part-{version}-{i}.parquet", "partitionValues": values}}
        for i, values in enumerate(partitions)
    ]
    (log / f"{version:020d}.json").write_text("".join(json.dumps(a) + "\n" for a in actions))


def test_the_partitions_of_the_files_added_since_a_time(tmp_path):
    _commit(tmp_path, 0, 1_000, [{"event_date": "2019-10-01"}, {"event_date": "2019-10-02"}])
    _commit(tmp_path, 1, 2_000, [{"event_date": "2019-10-03"}])
    _commit(tmp_path, 2, 3_000, [{"event_date": "2019-10-03"}, {"event_date": None}])
    assert delta_log.partitions_added_since(tmp_path, 2_000, "event_date") == {
        "2019-10-03",
        None,
    }
    assert delta_log.partitions_added_since(tmp_path, 500, "event_date") == {
        "2019-10-01", "2019-10-02", "2019-10-03", None,
    }  # fmt: skip
    assert delta_log.partitions_added_since(tmp_path, 3_001, "event_date") == set()


def test_without_a_log_or_the_partition_column_the_server_is_asked(tmp_path):
    assert delta_log.partitions_added_since(tmp_path, 0, "event_date") is None
    _commit(tmp_path, 0, 1_000, [{}])  # an unpartitioned table
    assert delta_log.partitions_added_since(tmp_path, 0, "event_date") is None


def _stats(latest: str) -> str:
    """An `add` action's statistics as Delta writes them: timestamps cut to the millisecond."""
    return json.dumps({"numRecords": 1, "maxValues": {"loaded_at": latest}})


def _write(table: Path, version: int, at_ms: int, added=(), removed=()) -> None:
    """A commit adding files (partition value, loaded_at maximum, dataChange) and removing
    files (partition value, dataChange)."""
    log = table / "_delta_log"
    log.mkdir(parents=True, exist_ok=True)
    actions = [{"commitInfo": {"timestamp": at_ms}}]
    actions += [
        {"add": {"path": f"a-{version}-{i}", "partitionValues": {"event_date": day},
                 "dataChange": change, "stats": _stats(latest)}}
        for i, (day, latest, change) in enumerate(added)
    ]  # fmt: skip
    actions += [
        {"remove": {"path": f"r-{version}-{i}", "partitionValues": {"event_date": day},
                    "dataChange": change}}
        for i, (day, change) in enumerate(removed)
    ]  # fmt: skip
    (log / f"{version:020d}.json").write_text("".join(json.dumps(a) + "\n" for a in actions))


# 2026-12-04 21:39:00.843 UTC, in ms and in µs: the loaded_at of the load a build last read
LOADED_MS = 1_796_420_340_843
LOADED_US = LOADED_MS * 1000 + 417


def test_the_dates_loaded_or_deleted_after_a_time(tmp_path):
    that_load, next_load = "2026-12-04T21:39:00.843Z", "2026-12-04T21:40:30.001Z"
    _write(tmp_path, 0, LOADED_MS + 900, added=[("2019-11-30", that_load, True)])
    # compacted later: the same rows, no data change
    _write(tmp_path, 1, LOADED_MS + 5_000, added=[("2019-11-30", that_load, False)],
           removed=[("2019-11-30", False)])  # fmt: skip
    # the next day's load, and a forgotten file's rows deleted
    _write(tmp_path, 2, LOADED_MS + 90_000, added=[("2019-12-01", next_load, True)])
    _write(tmp_path, 3, LOADED_MS + 95_000, removed=[("2019-10-03", True)])
    changed = delta_log.partitions_changed_after
    # the load the aggregate last read (its own millisecond, cut) is not later than itself
    assert changed(tmp_path, LOADED_US, "event_date", "loaded_at") == {"2019-12-01", "2019-10-03"}
    assert changed(tmp_path, LOADED_US - 1_000, "event_date", "loaded_at") == {
        "2019-11-30", "2019-12-01", "2019-10-03",
    }  # fmt: skip
    assert changed(tmp_path, (LOADED_MS + 96_000) * 1000, "event_date", "loaded_at") == set()


def test_when_the_log_cannot_tell_the_dates_the_server_is_asked(tmp_path):
    changed = delta_log.partitions_changed_after
    assert changed(tmp_path, LOADED_US, "event_date", "loaded_at") is None  # no log
    next_load = "2026-12-04T21:40:30.001Z"
    _write(tmp_path, 5, LOADED_MS + 9_000, added=[("2019-12-01", next_load, True)])
    # versions 0 to 4 cleaned up: commits made after the time may be gone
    assert changed(tmp_path, LOADED_US, "event_date", "loaded_at") is None
    _write(tmp_path, 4, LOADED_MS - 9_000, added=[("2019-11-30", "2026-12-04T21:39:00.843Z", True)])
    assert changed(tmp_path, LOADED_US, "event_date", "loaded_at") == {"2019-12-01"}
    # a file without the statistic
    assert changed(tmp_path, LOADED_US, "event_date", "updated_at") is None


def test_the_dates_rewritten_since_a_commit_and_when_the_table_committed_last(tmp_path):
    """What the scoring snapshot asks before carrying itself forward: every date a commit
    since its own added or removed rows of, old rows brought back by a restore included, a
    compaction left out; and the time of a table's latest commit."""
    assert delta_log.latest_commit_ms(tmp_path) is None
    assert delta_log.partitions_rewritten_since(tmp_path, 0, "event_date") is None  # no log
    old = "2026-12-04T21:39:00.843Z"
    _write(tmp_path, 0, LOADED_MS, added=[("2019-11-20", old, True), ("2019-11-30", old, True)])
    _write(tmp_path, 1, LOADED_MS + 5_000, added=[("2019-11-30", old, False)],
           removed=[("2019-11-30", False)])  # a compaction  # fmt: skip
    assert delta_log.latest_commit_ms(tmp_path) == LOADED_MS + 5_000
    rewritten = delta_log.partitions_rewritten_since
    assert rewritten(tmp_path, LOADED_MS + 1, "event_date") == set()
    _write(tmp_path, 2, LOADED_MS + 9_000, added=[("2019-12-01", old, True)])
    _write(tmp_path, 3, LOADED_MS + 10_000, added=[("2019-11-20", old, True)])  # a restore
    assert rewritten(tmp_path, LOADED_MS + 1, "event_date") == {"2019-12-01", "2019-11-20"}
    _write(tmp_path, 4, LOADED_MS + 11_000, removed=[("2019-11-30", True)])  # a delete
    assert rewritten(tmp_path, LOADED_MS + 9_500, "event_date") == {"2019-11-20", "2019-11-30"}
    assert rewritten(tmp_path, LOADED_MS + 11_001, "event_date") == set()
