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
