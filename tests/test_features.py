"""Features, labels and the split through dbt, checked against independent computations.

Runs in its own schemas (prefix `ft_`) over its own landing folder. It first builds the
silver and gold tables with only the observation window's files landed, then lands the
prediction window's files and builds again: the features must not change (no feature reads
the label window) while the labels appear. Labels, a sample of features and the split are
recomputed with DuckDB and Python's hashlib straight from the CSV files.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import date

import duckdb
import pytest

from conftest import PROJECT_DIR, run_dbt
from lakehouse import generate

PREFIX = "ft_"


@pytest.fixture(scope="module")
def builds(lakehouse, spark, tmp_path_factory):
    generated = tmp_path_factory.mktemp("ft-generated")
    landing = tmp_path_factory.mktemp("ft-landing")
    out = tmp_path_factory.mktemp("ft-dbt")
    generate.generate(
        generated, rows=20_000, start=date(2019, 10, 1), end=date(2019, 11, 30), seed=23,
        bad_rate=0.0, progress=False,
    )  # fmt: skip
    mp = pytest.MonkeyPatch()
    mp.setenv("LAKEHOUSE_SCHEMA_PREFIX", PREFIX)
    mp.setenv("LAKEHOUSE_LANDING_DIR", str(landing))

    def land(month: str):
        for f in sorted(generated.glob(f"events_2019-{month}-*.csv")):
            shutil.copy(f, landing / f.name)

    def snapshot() -> dict[str, list]:
        return {
            name: [r.asDict() for r in spark.table(f"{PREFIX}{table}").orderBy("user_id").collect()]
            for name, table in [
                ("features", "silver.slv_user_features"),
                ("labels", "silver.slv_user_labels"),
                ("training", "gold.ml_user_training_set"),
            ]
        }

    land("10")
    run_dbt(["run", "-s", "+ml_class_balance", "--full-refresh"], PROJECT_DIR, out)
    before = snapshot()
    land("11")
    run_dbt(["run", "-s", "+ml_class_balance"], PROJECT_DIR, out)
    after = snapshot()
    yield {"generated": generated, "before": before, "after": after}
    mp.undo()


def _events(generated, month: str) -> duckdb.DuckDBPyConnection:
    """The events of one month as bronze keeps them: exact duplicate lines within a file
    counted once."""
    con = duckdb.connect()
    con.sql(
        f"""
        create table events as
        select distinct * from read_csv('{generated}/events_2019-{month}-*.csv',
            filename = true, header = true, all_varchar = true)
        """
    )
    return con


def test_features_do_not_change_when_the_label_window_lands(builds):
    before, after = builds["before"], builds["after"]
    assert len(before["features"]) > 100
    assert before["features"] == after["features"]


def test_labels_appear_only_with_the_prediction_window(builds):
    before, after = builds["before"], builds["after"]
    assert sum(r["label"] for r in before["labels"]) == 0
    positives = sum(r["label"] for r in after["labels"])
    assert 0 < positives < len(after["labels"])


def test_labels_match_purchases_recomputed_from_the_files(builds):
    con = _events(builds["generated"], "11")
    buyers = {
        int(uid)
        for (uid,) in con.sql(
            "select distinct user_id from events where event_type = 'purchase'"
        ).fetchall()
    }
    labels = {r["user_id"]: r["label"] for r in builds["after"]["labels"]}
    assert labels == {uid: int(uid in buyers) for uid in labels}


def test_features_match_counts_recomputed_from_the_files(builds):
    con = _events(builds["generated"], "10")
    expected = {
        int(uid): (n, purchases, round(spend, 2))
        for uid, n, purchases, spend in con.sql(
            """
            select user_id, count(*),
                count(*) filter (where event_type = 'purchase'),
                coalesce(sum(cast(price as double)) filter (where event_type = 'purchase'), 0)
            from events group by user_id
            """
        ).fetchall()
    }
    features = builds["after"]["features"]
    assert len(features) == len(expected)
    for row in features:
        got = (row["n_events"], row["n_purchases"], round(row["purchase_spend"], 2))
        assert got == expected[row["user_id"]], row["user_id"]


def _bucket(user_id: int) -> int:
    return int(hashlib.md5(str(user_id).encode()).hexdigest()[:8], 16) % 10000


def test_split_is_a_hash_of_the_user_the_same_in_every_engine_and_rerun(builds):
    before, after = builds["before"]["training"], builds["after"]["training"]
    assert [(r["user_id"], r["split"]) for r in before] == [
        (r["user_id"], r["split"]) for r in after
    ]
    users = [r["user_id"] for r in after]
    in_duckdb = dict(
        duckdb.sql(
            "select u, ('0x' || substr(md5(cast(u as varchar)), 1, 8))::bigint % 10000 "
            f"from unnest({users}) as t(u)"
        ).fetchall()
    )
    for row in after:
        assert row["split_bucket"] == _bucket(row["user_id"]) == in_duckdb[row["user_id"]]
        assert row["split"] == ("train" if row["split_bucket"] < 8000 else "test")
    share = sum(r["split"] == "train" for r in after) / len(after)
    assert 0.7 < share < 0.9, share


def test_class_weights_balance_the_training_split(builds):
    train = [r for r in builds["after"]["training"] if r["split"] == "train"]
    weight = {
        label: sum(r["class_weight"] for r in train if r["label"] == label) for label in (0, 1)
    }
    # Balanced weights give each class half of the total weight, n_train / 2.
    assert weight[0] == pytest.approx(len(train) / 2)
    assert weight[1] == pytest.approx(len(train) / 2)
