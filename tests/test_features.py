"""Features, labels and the split, checked against independent computations on the session's
build (run date 2019-11-30).

- Two paths agree: the scoring set's features, summed from the silver daily aggregates by the
  snapshot macro, equal the same features computed straight from brz_events.
- The data half of the leakage proof: with October and November landed, the snapshot that ends
  on 2019-10-31 (the training snapshot of run date 2019-11-30) equals October's features
  recomputed with DuckDB from the October files alone, so no later event reaches it.
- Labels are November's purchases; the split is a hash of the user, the same in every engine.
"""

from __future__ import annotations

import hashlib

import duckdb
import pytest

from lakehouse.ml.propensity import FEATURES

# The scoring snapshot of run date 2019-11-30, straight from the events: the definitions of the
# snapshot macro (macros/user_features.sql), written again without the daily aggregates.
DIRECT = """
with events as (
    select * from bronze.brz_events
    where event_date between date'2019-10-31' and date'2019-11-30'
),
per_user as (
    select user_id, count(*) as n_events,
        sum(case when event_type = 'view' then 1 else 0 end) as n_views,
        sum(case when event_type = 'cart' then 1 else 0 end) as n_carts,
        sum(case when event_type = 'remove_from_cart' then 1 else 0 end) as n_removes_from_cart,
        sum(case when event_type = 'purchase' then 1 else 0 end) as n_purchases,
        count(distinct product_id) as n_products, count(distinct category_id) as n_categories,
        count(distinct brand) as n_brands, count(distinct event_date) as n_active_days,
        cast(coalesce(sum(case when event_type = 'purchase' then price end), 0) as double)
            as purchase_spend,
        coalesce(cast(sum(case when event_type = 'view' then price end) as double)
            / nullif(sum(case when event_type = 'view' then 1 else 0 end), 0), 0)
            as avg_viewed_price,
        cast(coalesce(max(case when event_type = 'view' then price end), 0) as double)
            as max_viewed_price,
        datediff(date'2019-11-30', to_date(max(event_time))) as days_since_last_event,
        datediff(date'2019-11-30', to_date(min(event_time))) as days_since_first_event
    from events group by user_id
),
favourite as (
    select user_id, max_by(n, struct(n, -category_id)) as favourite_events from (
        select user_id, category_id, count(*) as n from events group by user_id, category_id
    ) group by user_id
),
sessions as (
    select user_id, count(*) as n_sessions, avg(n) as avg_session_events,
        max(n) as max_session_events, avg(d) as avg_session_duration_s,
        max(d) as max_session_duration_s
    from (
        select user_id, count(*) as n,
            unix_timestamp(max(event_time)) - unix_timestamp(min(event_time)) as d
        from events group by user_id, coalesce(user_session, '(none)')
    ) group by user_id
)
select per_user.*, sessions.*, per_user.n_carts / per_user.n_events as cart_rate,
    per_user.n_purchases / per_user.n_events as purchase_rate,
    favourite.favourite_events / per_user.n_events as favourite_category_share
from per_user join favourite using (user_id) join sessions using (user_id)
"""


@pytest.fixture(scope="module")
def snapshots(project_build, spark):
    direct = {r.user_id: r.asDict() for r in spark.sql(DIRECT).collect()}
    built = {r.user_id: r.asDict() for r in spark.table("gold.ml_user_scoring_set").collect()}
    # the training snapshot of run date 2019-11-30 (features ending 2019-10-31), as trained on
    training = spark.table("gold.ml_user_training_set").where("run_date = date'2019-11-30'")
    october = {r.user_id: r.asDict() for r in training.collect()}
    return {"direct": direct, "built": built, "october": october}


def test_features_from_the_daily_aggregates_equal_features_from_the_events(snapshots):
    direct, built = snapshots["direct"], snapshots["built"]
    assert len(built) > 1000 and set(built) == set(direct)
    for user_id, row in built.items():
        for feature in FEATURES:
            assert row[feature] == pytest.approx(direct[user_id][feature], rel=1e-9), (
                user_id, feature)  # fmt: skip


def _events(landing, month: str) -> duckdb.DuckDBPyConnection:
    """The valid events of one month read by DuckDB from the files, as bronze keeps them: exact
    duplicate lines within a file counted once, malformed lines left out."""
    con = duckdb.connect()
    con.sql(
        f"""
        create table events as
        select distinct * from read_csv('{landing}/events_2019-{month}-*.csv',
            filename = true, header = true, all_varchar = true, ignore_errors = true)
        where try_strptime(event_time, '%Y-%m-%d %H:%M:%S UTC') is not null
            and event_type in ('view', 'cart', 'remove_from_cart', 'purchase')
            and try_cast(product_id as bigint) is not null
            and try_cast(category_id as bigint) is not null
            and try_cast(user_id as bigint) is not null
            and try_cast(price as decimal(10, 2)) >= 0
        """
    )
    return con


def test_a_snapshot_reads_nothing_after_its_last_day(snapshots, settings):
    """November is landed, yet the training snapshot (ending on 2019-10-31) equals October's
    features recomputed from the October files alone."""
    con = _events(settings.landing_dir, "10")
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
    october = snapshots["october"]
    assert len(october) == len(expected) > 1000
    for user_id, row in october.items():
        got = (row["n_events"], row["n_purchases"], round(row["purchase_spend"], 2))
        assert got == expected[user_id], user_id


def test_labels_are_the_purchases_of_the_label_window(project_build, spark, settings):
    con = _events(settings.landing_dir, "11")
    buyers = {
        int(uid)
        for (uid,) in con.sql(
            "select distinct user_id from events where event_type = 'purchase'"
        ).fetchall()
    }
    training = spark.table("gold.ml_user_training_set").where("run_date = date'2019-11-30'")
    labels = {r.user_id: r.label for r in training.select("user_id", "label").collect()}
    assert labels == {uid: int(uid in buyers) for uid in labels}
    assert 0 < sum(labels.values()) < len(labels)


def _bucket(user_id: int, buckets: int = 10000) -> int:
    return int(hashlib.md5(str(user_id).encode()).hexdigest()[:8], 16) % buckets


def test_split_is_a_hash_of_the_user_the_same_in_every_engine(project_build, spark):
    rows = spark.table("gold.ml_user_training_set").where("run_date = date'2019-11-30'").collect()
    users = [r.user_id for r in rows]
    in_duckdb = dict(
        duckdb.sql(
            "select u, ('0x' || substr(md5(cast(u as varchar)), 1, 8))::bigint % 10000 "
            f"from unnest({users}) as t(u)"
        ).fetchall()
    )
    for row in rows:
        assert row.split_bucket == _bucket(row.user_id) == in_duckdb[row.user_id]
        assert row.split == ("train" if row.split_bucket < 8000 else "test")
    share = sum(r.split == "train" for r in rows) / len(rows)
    assert 0.7 < share < 0.9, share


def test_class_weights_balance_the_training_split(project_build, spark):
    train = spark.table("gold.ml_user_training_set").where("split = 'train'").collect()
    weight = {label: sum(r.class_weight for r in train if r.label == label) for label in (0, 1)}
    # Balanced weights give each class half of the total weight, n_train / 2.
    assert weight[0] == pytest.approx(len(train) / 2)
    assert weight[1] == pytest.approx(len(train) / 2)
