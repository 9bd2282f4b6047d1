"""What the daily job compares before it rebuilds a run date (lakehouse.orchestration.reruns):
each part of a build's inputs, and how a change in one is named. The job skipping an unchanged
date for real is in tests/test_orchestration.py."""

from __future__ import annotations

import copy
import os

from lakehouse.orchestration import reruns


def _state() -> dict:
    return {
        "files": {"landing/events_2019-10-01.csv": [100, 1], "stream/a.csv": [5, 2]},
        "code": "c0de",
        "vars": {"run_date": "2019-11-30"},
        "champions": {"ecom_purchase_propensity": 1, "ecom_product_recommender": None},
        "tables": {"bronze.brz_event_lines": 3, "gold.ml_user_purchase_scores": 7},
    }


def test_nothing_differs_when_every_part_is_the_same():
    assert reruns.changes(_state(), _state()) == []


def test_with_no_record_the_date_is_built():
    assert reruns.changes(None, _state()) == ["no earlier build of this run date is recorded"]


def test_each_part_that_differs_is_named():
    now = _state()
    cases = {
        "files": lambda s: s["files"].update({"landing/events_2019-10-01.csv": [100, 9]}),
        "code": lambda s: s.update(code="0ther"),
        "vars": lambda s: s["vars"].update(prediction_days=7),
        "champions": lambda s: s["champions"].update(ecom_purchase_propensity=2),
        "tables": lambda s: s["tables"].update({"gold.ml_user_purchase_scores": 8}),
    }
    found = {}
    for part, change in cases.items():
        last = copy.deepcopy(now)
        change(last)
        found[part] = reruns.changes(last, now)
    assert found == {
        "files": ["files changed: landing/events_2019-10-01.csv"],
        "code": ["code changed"],
        "vars": ["vars changed"],
        "champions": ["champions changed: {'ecom_purchase_propensity': 2, "
                      "'ecom_product_recommender': None} -> {'ecom_purchase_propensity': 1, "
                      "'ecom_product_recommender': None}"],
        "tables": ["tables written since: gold.ml_user_purchase_scores"],
    }  # fmt: skip


def test_with_no_table_to_compare_the_date_is_built():
    """A schema prefix the check did not apply, or a dropped warehouse: never a skip."""
    now = _state()
    now["tables"] = {}
    last = copy.deepcopy(now)
    assert reruns.changes(last, now) == ["no table of the data schemas found to compare"]


def test_the_tables_compared_are_those_of_the_schema_prefix(monkeypatch):
    from lakehouse.platform.config import schema_name

    monkeypatch.setenv("LAKEHOUSE_SCHEMA_PREFIX", "ci_")
    assert [schema_name(layer) for layer in reruns.DATA_SCHEMAS] == [
        "ci_seeds", "ci_bronze", "ci_silver", "ci_gold"]  # fmt: skip


def test_a_new_file_and_a_new_table_are_changes_too():
    last, now = _state(), _state()
    now["files"]["landing/events_2019-12-01.csv"] = [50, 3]
    now["tables"]["gold.ml_new"] = 0
    assert reruns.changes(last, now) == [
        "files changed: landing/events_2019-12-01.csv",
        "tables written since: gold.ml_new",
    ]


def test_a_file_is_known_by_its_path_size_and_time(tmp_path):
    (tmp_path / "day").mkdir()
    path = tmp_path / "day" / "events.csv"
    path.write_text("a,b\n")
    before = reruns._files(tmp_path, "landing")
    assert list(before) == ["landing/day/events.csv"]
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # the same bytes, touched
    assert reruns._files(tmp_path, "landing") != before
    assert reruns._files(tmp_path / "absent", "landing") == {}


def test_the_code_hash_follows_the_project_files_but_not_caches(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "src" / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "dbt_project.yml").write_text("name: p\n")
    (tmp_path / "models" / "a.sql").write_text("select 1 as x\n")
    (tmp_path / "src" / "pkg" / "m.py").write_text("X = 1\n")
    first = reruns.code_hash(tmp_path)
    (tmp_path / "src" / "pkg" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "notes.txt").write_text("not code\n")
    assert reruns.code_hash(tmp_path) == first
    (tmp_path / "models" / "a.sql").write_text("select 2 as x\n")
    assert reruns.code_hash(tmp_path) != first


def test_a_run_of_every_asset_has_its_own_selection_key():
    every = ["bronze/a", "silver/b", "gold/c"]
    assert reruns.selection_key(list(reversed(every)), every) == reruns.WHOLE_DAG
    part = reruns.selection_key(["bronze/a"], every)
    assert part != reruns.WHOLE_DAG and part == reruns.selection_key(["bronze/a"], every)
    assert part != reruns.selection_key(["silver/b"], every)
