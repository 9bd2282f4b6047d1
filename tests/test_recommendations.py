"""Recommendations end to end on the session's build (run date 2019-11-30): four methods
compared on a validation period and reported on the holdout, the best on validation shipped
and registered, k new products for every user of the scoring snapshot, and the baselines on a
hand-worked example."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from itertools import product
from pathlib import Path

import pytest

from conftest import TEST_VARS
from lakehouse.ml import recommend, retraining, tracking

MODEL = "ecom_product_recommender"
K = 5  # var recommendations_per_user
ALS_RANKS = set(TEST_VARS["als_grid"]["rank"])  # the session's grid (one point: see conftest)


@pytest.fixture(scope="module")
def client(project_build, settings):
    from mlflow import MlflowClient

    tracking.configure(settings, "ecom_lakehouse")
    return MlflowClient()


@pytest.fixture(scope="module")
def evaluation(project_build, spark) -> dict:
    rows = spark.table("gold.ml_recommender_evaluation").where("run_date = date'2019-11-30'")
    return {(r.evaluation_period, r.method, r.user_segment): r for r in rows.collect()}


def shipped_method(evaluation) -> str:
    return next(r.method for r in evaluation.values() if r.is_shipped)


def test_every_method_is_chosen_on_validation_and_the_shipped_one_reported_on_the_holdout(
    evaluation, spark
):
    """Validation compares every method; the holdout reports the shipped method and the
    baselines only (a learned method that lost on validation is not refitted)."""
    reported = set(recommend.BASELINES) | {shipped_method(evaluation)}
    validation = product(["validation"], recommend.METHODS, recommend.SEGMENTS)
    holdout = product(["holdout"], reported, recommend.SEGMENTS)
    assert set(evaluation) == set(validation) | set(holdout)
    assert {r.k for r in evaluation.values()} == {K}
    # the holdout's users are those who carted or bought something new after the cutoff,
    # recounted here from the daily aggregate; the segments split them
    truth = spark.sql(
        "select count(distinct d.user_id) from silver.slv_user_product_daily as d "
        "left anti join silver.slv_user_product_interactions_before_cutoff as b "
        "on d.user_id = b.user_id and d.product_id = b.product_id "
        "where d.event_date between date'2019-11-16' and date'2019-11-30' "
        "and (d.n_carts > 0 or d.n_purchases > 0)"
    ).first()[0]
    for method in reported:
        users = {s: evaluation["holdout", method, s].users_evaluated for s in recommend.SEGMENTS}
        assert users["all"] == truth > 0
        assert users["with_history"] + users["cold_start"] == truth
        assert users["with_history"] > 0
    # the validation period is the 15 days before the cutoff: other users, fewer of them new
    assert evaluation["validation", "popular", "all"].users_evaluated != truth
    # cold-start users can only get popular products: every method scores them the same
    cold = {evaluation["holdout", m, "cold_start"].precision_at_k for m in reported}
    assert len(cold) == 1
    cold = {evaluation["validation", m, "cold_start"].precision_at_k for m in recommend.METHODS}
    assert len(cold) == 1
    # popularity recommends (nearly) the same products to everyone; the others personalise
    for method in reported - {"popular"}:
        assert (evaluation["holdout", method, "all"].coverage
                > evaluation["holdout", "popular", "all"].coverage)  # fmt: skip
    assert evaluation["holdout", "popular", "all"].training_seconds == 0
    for row in evaluation.values():
        assert row.precision_at_k_ci_low <= row.precision_at_k <= row.precision_at_k_ci_high


def test_the_method_best_on_validation_ships_and_beats_popularity_on_the_holdout(evaluation):
    validation = {m: evaluation["validation", m, "all"] for m in recommend.METHODS}
    shipped = {m for m, r in validation.items() if r.is_shipped}
    assert len(shipped) == 1
    (best,) = shipped
    assert validation[best].precision_at_k == max(r.precision_at_k for r in validation.values())
    assert all(r.is_shipped == (r.method == best) for r in evaluation.values())
    assert holdout_of(evaluation)[best] >= 1.5 * holdout_of(evaluation)["popular"]


def holdout_of(evaluation) -> dict[str, float]:
    return {m: r.precision_at_k for (period, m, segment), r in evaluation.items()
            if period == "holdout" and segment == "all"}  # fmt: skip


def test_the_als_search_is_recorded_and_the_shipped_settings_reported_on_the_holdout(
    evaluation, client
):
    """The session searches one ALS point (the choice among several is tested without a server:
    tests/test_evaluation.py); what the build must show is the search in MLflow, the chosen
    settings logged and the holdout reporting the shipped method with its validation settings
    (ALS's chosen point when ALS ships)."""
    import mlflow

    als = evaluation["validation", "als", "all"]
    run = client.get_run(als.mlflow_run_id)
    searched = mlflow.artifacts.load_dict(f"runs:/{als.mlflow_run_id}/als_search.json")
    points = searched["als_search"]
    assert {p["rank"] for p in points} == ALS_RANKS
    best = max(points, key=lambda p: p["precision_at_k"])
    assert als.precision_at_k == pytest.approx(best["precision_at_k"])
    chosen = json.loads(als.parameters)
    assert chosen["rank"] == best["rank"] == int(run.data.params["rank"])
    # the holdout reports the shipped method with the settings chosen on validation (ALS's
    # when ALS ships), and logs which methods it reports
    shipped = shipped_method(evaluation)
    assert (evaluation["holdout", shipped, "all"].parameters
            == evaluation["validation", shipped, "all"].parameters)  # fmt: skip
    assert run.data.params["holdout_methods"] == ",".join(recommend.reported_methods(shipped))
    # the period's users and the sample limit it was scored under (var, dbt_project.yml: the
    # session's periods have fewer users, so every one is evaluated)
    assert run.data.params["eval_max_users"] == "20000"
    users = int(run.data.params["validation_users_in_period"])
    assert users == evaluation["validation", "als", "all"].users_evaluated > 0
    users = int(run.data.params["holdout_users_in_period"])
    assert users == evaluation["holdout", "popular", "all"].users_evaluated > 0


def test_the_shipped_method_is_registered_as_the_champion_and_recommends(evaluation, spark, client):
    shipped = next(r for r in evaluation.values() if r.is_shipped)
    run = client.get_run(shipped.mlflow_run_id)
    assert {"rank", "maxIter", "regParam", "alpha", "min_products", "k"} <= set(run.data.params)
    assert run.data.params["shipped_method"] == shipped.method
    for method in recommend.METHODS:
        reported = method in recommend.reported_methods(shipped.method)
        assert (f"holdout_{method}_all_precision_at_k" in run.data.metrics) == reported
        assert f"validation_{method}_all_precision_at_k" in run.data.metrics
    versions = spark.sql(
        "select distinct model_version from gold.ml_product_recommendations "
        "where run_date = date'2019-11-30'"
    ).collect()
    assert len(versions) == 1
    registered = client.get_model_version(MODEL, str(versions[0].model_version))
    # the version has its own run, a child of the evaluation run, holding what it needs
    assert registered.run_id != shipped.mlflow_run_id
    own = client.get_run(registered.run_id)
    assert own.data.tags["mlflow.parentRunId"] == shipped.mlflow_run_id
    assert own.data.params["method"] == shipped.method
    artifacts = {a.path for a in client.list_artifacts(registered.run_id)}
    assert tracking.FEATURE_REFERENCE in artifacts
    # referenced on the run date's scoring snapshot: a drift is never held for newer data
    reference = tracking.feature_reference(MODEL, registered.version)
    assert retraining.data_lag_days(reference, date(2019, 11, 30)) == 0
    assert (tracking.MODEL_ARTIFACT if shipped.method == "als"
            else tracking.RECOMMENDER_ARTIFACT) in artifacts  # fmt: skip
    assert registered.source.startswith(own.info.artifact_uri)
    assert registered.tags["algorithm"] == shipped.method
    assert registered.tags["run_date"] == "2019-11-30"
    assert client.get_model_version_by_alias(MODEL, "champion").version == registered.version
    sources = spark.sql(
        "select distinct source from gold.ml_product_recommendations "
        "where run_date = date'2019-11-30'"
    ).collect()
    assert {r.source for r in sources} <= {shipped.method, "popular"}
    assert shipped.method in {r.source for r in sources}


def test_every_scored_user_gets_k_new_products(project_build, spark):
    recs = spark.table("gold.ml_product_recommendations").where("run_date = date'2019-11-30'")
    users = spark.table("gold.ml_user_scoring_set").select("user_id")
    assert recs.select("user_id").distinct().count() == users.count() > 1000
    per_user = recs.groupBy("user_id").count().select("count").distinct().collect()
    assert [r["count"] for r in per_user] == [K]
    seen = spark.table("silver.slv_user_product_daily").where(
        f"event_date <= '{date(2019, 11, 30)}'"
    )
    assert recs.join(seen, ["user_id", "product_id"]).count() == 0


def test_popularity_from_the_carted_or_bought_pairs_equals_popularity_from_every_pair(
    project_build, spark
):
    """A day without retraining counts popularity from slv_user_product_conversions (the
    daily rows with a cart or a purchase); it must rank the products as every pair does."""
    every = spark.table("silver.slv_user_product_interactions")
    converted = spark.table("silver.slv_user_product_conversions")
    assert converted.count() == every.where("n_carts > 0 or n_purchases > 0").count() > 100
    for limit in (None, recommend.POPULAR_POOL):
        want = recommend.popular_products(every, limit=limit)
        got = recommend.popular_products(converted, limit=limit)
        assert got.count() == want.count() > 0
        assert got.exceptAll(want).count() == 0


def test_the_baselines_holdout_learns_from_the_carted_or_bought_pairs_as_from_every_pair(
    project_build, spark
):
    """When only the baselines are reported on the holdout, its period learns popularity from
    slv_user_product_conversions_before_cutoff and never sums every pair; its figures must be
    those of every pair."""
    before = spark.table("silver.slv_user_product_interactions_before_cutoff")
    converted = spark.table("silver.slv_user_product_conversions_before_cutoff")
    assert converted.count() == before.where("n_carts > 0 or n_purchases > 0").count() > 100
    truth = spark.table("silver.slv_user_product_conversions_after_cutoff")
    args = (before, truth, spark.table("silver.slv_products"), recommend.BASELINES, {}, 2, K, 42)
    every = recommend.report(*args)
    cut = recommend.report(*args, conversions=converted)
    assert cut["users_in_period"] == every["users_in_period"] > 30
    for method in recommend.BASELINES:
        for segment in recommend.SEGMENTS:
            want, got = every["figures"][method][0][segment], cut["figures"][method][0][segment]
            assert got["users_evaluated"] == want["users_evaluated"]
            for figure in ("precision_at_k", "recall_at_k", "coverage"):
                assert got[figure] == pytest.approx(want[figure], rel=1e-12), (method, segment)
        assert every["figures"][method][0]["all"]["precision_at_k"] > 0


def test_a_period_with_more_users_than_the_limit_is_scored_on_a_seeded_sample(project_build, spark):
    truth = spark.table("silver.slv_user_product_conversions_after_cutoff")
    kept, total = recommend.sample_users(truth, 0, 42)  # 0: every user
    assert kept is truth and total > 30

    def users(df):
        return {r.user_id for r in df.select("user_id").distinct().collect()}

    limit = total // 3
    sample, counted = recommend.sample_users(truth, limit, 42)
    chosen = users(sample)
    assert counted == total and len(chosen) == limit and chosen < users(truth)
    # a chosen user keeps every product they converted on
    assert sample.count() == truth.where(truth.user_id.isin(list(chosen))).count()
    # the same seed draws the same users; another seed others
    assert users(recommend.sample_users(truth, limit, 42)[0]) == chosen
    assert users(recommend.sample_users(truth, limit, 7)[0]) != chosen


# A hand-worked example. Categories: A holds products 1, 2 and 5 (5 never touched), B holds
# 3 and 4. Carts or purchases by user: 1 {1}, 2 {1, 2, 3}, 3 {2, 3, 4}, 4 {4}, 5 {2};
# user 9 has no history. Popularity (users who carted or bought): 2 -> 3, then 1, 3, 4 -> 2
# each (ties by id). Category shares: A: 1 -> 2/5, 2 -> 3/5; B: 3 and 4 -> 1/2.
# Cosine similarity (users in common / sqrt(users of each)): 2~3 = 2/sqrt(6), 1~3 = 3~4 = 1/2,
# 1~2 = 2~4 = 1/sqrt(6).
BASKETS = {1: [1], 2: [1, 2, 3], 3: [2, 3, 4], 4: [4], 5: [2]}
CATEGORY = {1: 100, 2: 100, 3: 200, 4: 200, 5: 100}
EXPECTED = {
    # the user's category's best unseen product, then the most popular unseen one
    "category_popular": {1: [(2, "category_popular"), (3, "popular")],
                         4: [(3, "category_popular"), (2, "popular")],
                         9: [(2, "popular"), (1, "popular")]},
    # the products most similar to the user's; 5's tie at 1/sqrt(6) goes to the lower id
    "item_knn": {1: [(3, "item_knn"), (2, "item_knn")],
                 4: [(3, "item_knn"), (2, "item_knn")],
                 5: [(3, "item_knn"), (1, "item_knn")],
                 9: [(2, "popular"), (1, "popular")]},
}  # fmt: skip


@pytest.mark.parametrize("method", sorted(EXPECTED))
def test_the_baselines_recommend_as_worked_by_hand(spark, method):
    interactions = spark.createDataFrame(
        [(u, p, 4.0, 1, 0) for u, basket in BASKETS.items() for p in basket],
        "user_id bigint, product_id bigint, interaction_strength double, n_carts bigint, "
        "n_purchases bigint",
    )
    products = spark.createDataFrame(
        list(CATEGORY.items()), "product_id bigint, category_id bigint"
    )
    users = spark.createDataFrame([(u,) for u in EXPECTED[method]], "user_id bigint")
    popular = recommend.popular_products(interactions, limit=100)
    fitted, _ = recommend.fit(method, interactions, products, {}, 0)
    recs = recommend.recommend(method, fitted, interactions, products, users, popular, 2, 2)
    got = {}
    for r in recs.orderBy("user_id", "recommendation_rank").collect():
        got.setdefault(r.user_id, []).append((r.product_id, r.source))
    assert got == EXPECTED[method]


def test_item_knn_similarity_is_the_cosine_of_the_users_both_ways(spark):
    """Each pair is counted once and listed both ways: every neighbour of the hand-worked
    baskets with its cosine, computed here pair by pair."""
    from itertools import permutations
    from math import sqrt

    interactions = spark.createDataFrame(
        [(u, p, 4.0, 1, 0) for u, basket in BASKETS.items() for p in basket],
        "user_id bigint, product_id bigint, interaction_strength double, n_carts bigint, "
        "n_purchases bigint",
    )
    fitted, _ = recommend.fit("item_knn", interactions, None, {}, 0)
    got = {(r.product_id, r.neighbour_id): r.similarity for r in fitted.collect()}
    users_of = {p: {u for u, basket in BASKETS.items() if p in basket} for p in range(1, 5)}
    want = {
        (a, b): len(users_of[a] & users_of[b]) / sqrt(len(users_of[a]) * len(users_of[b]))
        for a, b in permutations(users_of, 2)
        if users_of[a] & users_of[b]
    }
    assert got.keys() == want.keys() and len(want) == 10
    assert got == pytest.approx(want)
    assert got[(2, 3)] == got[(3, 2)] == pytest.approx(2 / sqrt(6))


def test_item_knn_keeps_each_products_best_neighbours_block_by_block():
    """The sparse product, cut into blocks of 7 products and fed two batches, finds what
    counting the users of every pair by hand finds: each product's KNN_NEIGHBOURS most similar
    products, ties to the lower id, the same floats. 39 products, baskets of up to 12: popular
    products have more neighbours than are kept, and many similarities tie."""
    import random
    from math import sqrt

    import pandas as pd

    rng = random.Random(7)
    baskets = {u: rng.sample(range(1, 40), rng.randint(1, 12)) for u in range(1, 121)}
    pairs = pd.DataFrame([(u, p) for u, basket in baskets.items() for p in basket],
                         columns=["user_id", "product_id"])  # fmt: skip
    halves = iter([pairs.iloc[:300], pairs.iloc[300:]])
    found = pd.concat(recommend.neighbours_of_baskets(halves, block=7))
    got = {}
    for r in found.itertuples():
        got.setdefault(r.product_id, []).append((r.neighbour_id, r.similarity))
    users_of = {}
    for u, basket in baskets.items():
        for p in basket:
            users_of.setdefault(p, set()).add(u)
    want = {}
    for a in users_of:
        near = [(b, len(users_of[a] & users_of[b]) / sqrt(len(users_of[a]) * len(users_of[b])))
                for b in users_of if b != a and users_of[a] & users_of[b]]  # fmt: skip
        near.sort(key=lambda n: (-n[1], n[0]))
        want[a] = near[: recommend.KNN_NEIGHBOURS]
    assert {a: sorted(n, key=lambda n: (-n[1], n[0])) for a, n in got.items()} == want
    assert max(len(n) for n in want.values()) == recommend.KNN_NEIGHBOURS
    assert list(recommend.neighbours_of_baskets(iter([pairs.iloc[:0]]))) == []


def _validated(ship_by_date: dict[date, str], methods_by_date: dict[date, tuple] | None = None):
    """Validation rows (`all`) of earlier run dates: every method on each date unless
    `methods_by_date` says otherwise, the named one shipped, precision falling in METHODS
    order from 0.05."""
    from types import SimpleNamespace

    methods_by_date = methods_by_date or {}
    return [SimpleNamespace(run_date=day, method=m, precision_at_k=0.05 - 0.01 * i,
                            is_shipped=m == shipped)
            for day, shipped in ship_by_date.items()
            for i, m in enumerate(methods_by_date.get(day, recommend.METHODS))]  # fmt: skip


def test_a_retraining_compares_every_method_only_when_the_comparison_is_due():
    """The learned methods that lost are validated again once the latest comparison of every
    method is recommender_compare_every_days old; in between, the baselines and the method the
    latest retraining shipped."""
    first, today = date(2019, 11, 30), date(2019, 12, 8)
    compared = _validated({first: "category_popular"})
    every = recommend.methods_to_validate
    assert every([], today, 28).methods == recommend.METHODS
    assert "no earlier retraining" in every([], today, 28).reason
    kept = every(compared, today, 28)
    assert kept.methods == recommend.BASELINES
    assert kept.reason == (
        "popular, category_popular only: every method was compared on 2019-11-30, 8 days "
        "before (recommender_compare_every_days 28), where category_popular (0.0400) beat "
        "item_knn 0.0300, als 0.0200"
    )
    assert every(compared, today, 8).methods == recommend.METHODS
    assert "is 8 days old" in every(compared, today, 8).reason
    assert every(compared, today, 0).methods == recommend.METHODS
    # the latest retraining's shipped method is validated with the baselines, not a loser
    shipped_knn = _validated(
        {first: "category_popular", date(2019, 12, 7): "item_knn"},
        {date(2019, 12, 7): ("popular", "category_popular", "item_knn")},
    )
    assert every(shipped_knn, today, 28).methods == ("popular", "category_popular", "item_knn")
    # a comparison of a subset is no comparison of every method; the run date's own rows
    # (a forced rerun of it) are not earlier
    assert every(shipped_knn, date(2019, 12, 29), 28).methods == recommend.METHODS
    assert every(_validated({today: "als"}), today, 28).methods == recommend.METHODS


def test_a_list_is_kept_only_while_its_user_does_nothing(spark):
    """The lists of the run date before are kept for the users of today's snapshot with no
    day after it and no late-loaded day before it; never across versions or a change of k."""
    from pyspark.sql import functions as F

    written = "2019-11-30 23:00:00"  # when the run of 2019-11-30 wrote its lists
    recommendations = spark.createDataFrame(
        [(date(2019, 11, d), u, rank, 10 * rank, 1, None) for d in (29, 30)
         for u in (1, 2, 3, 4, 5) for rank in (1, 2)],
        "run_date date, user_id bigint, recommendation_rank int, product_id bigint, "
        "model_version int, listed_on date",
    ).withColumn("recommended_at", F.when(F.col("run_date") == date(2019, 11, 30),
                                          F.lit(written).cast("timestamp")))  # fmt: skip
    daily = spark.createDataFrame(
        [  # user 1 acts on the day; user 2 only on the day after it (not yet this run's)
            (1, date(2019, 12, 1), "2019-12-01 22:00:00"),
            (2, date(2019, 12, 2), "2019-12-02 22:00:00"),
            # user 3's late file: a day before the lists, loaded after them; user 4: on time
            (3, date(2019, 11, 20), "2019-12-01 22:00:00"),
            (4, date(2019, 11, 30), "2019-11-30 22:00:00"),
        ],
        "user_id bigint, event_date date, source_loaded_at string",
    ).withColumn("source_loaded_at", F.col("source_loaded_at").cast("timestamp"))
    users = spark.createDataFrame([(u,) for u in (1, 2, 3, 4, 6)], "user_id bigint")  # 5 left

    def kept(version=1, k=2, run_date=date(2019, 12, 1)):
        rows, why = recommend.lists_to_keep(recommendations, daily, users, run_date, version, k)
        return why if rows is None else sorted(
            (r.user_id, r.recommendation_rank, r.listed_on) for r in rows.collect())  # fmt: skip

    assert kept() == [(u, rank, date(2019, 11, 30)) for u in (2, 4) for rank in (1, 2)]
    assert kept(version=2) == "the lists of 2019-11-30 are not all from v2"
    assert kept(k=3) == "the lists of 2019-11-30 are 2 long, not k = 3"
    assert kept(run_date=date(2019, 11, 29)) == "no earlier run date to keep lists from"


def _category_popular_by_hand(baskets, category, users, k):
    """category_popular's lists worked out in plain Python, without the cuts the Spark code
    makes to keep its candidates few: {user: [(product_id, source)]}. `baskets` is {user:
    {product: (strength, carted)}}."""
    popularity = {}
    for basket in baskets.values():
        for product_id, (_, carted) in basket.items():
            popularity[product_id] = popularity.get(product_id, 0) + (1 if carted else 0)
    popularity = {p: float(n) for p, n in popularity.items() if n}
    popular = sorted(popularity, key=lambda p: (-popularity[p], p))[: recommend.POPULAR_POOL]
    listed = {}  # category -> [(product, share)], the category's best first
    for c in set(category.values()):
        members = sorted((p for p in popularity if category[p] == c),
                         key=lambda p: (-popularity[p], p))  # fmt: skip
        total = sum(popularity[p] for p in members)
        listed[c] = [(p, popularity[p] / total)
                     for p in members[: recommend.PRODUCTS_PER_CATEGORY]]  # fmt: skip
    lists = {}
    for user in users:
        basket = baskets.get(user, {})
        strength = {}
        for product_id, (weight, _) in basket.items():
            strength[category[product_id]] = strength.get(category[product_id], 0.0) + weight
        total = sum(strength.values())
        chosen = sorted(strength, key=lambda c: (-strength[c], c))[
            : recommend.CATEGORIES_PER_USER]  # fmt: skip
        found = sorted(((strength[c] / total) * share, p)
                       for c in chosen for p, share in listed.get(c, [])
                       if p not in basket)  # fmt: skip
        ranked = [(p, "category_popular") for _, p in sorted(found, key=lambda x: (-x[0], x[1]))]
        ranked += [(p, "popular") for p in popular
                   if p not in basket and p not in {q for q, _ in ranked}]  # fmt: skip
        lists[user] = ranked[:k]
    return lists


@pytest.mark.parametrize(("k", "every", "daily"), [(2, 1, False), (5, 3, False), (5, 1, True)])
def test_category_popular_keeps_the_top_k_of_every_candidate(spark, k, every, daily):
    """Random baskets over categories of 2 to 60 products (so some list fewer products than a
    user needs, and popularity ties are common), some users in more categories than are kept:
    the Spark lists, which keep only each category's first k products unseen by the user,
    equal the lists ranked from every candidate by hand. With `every` 3, only every third
    user is recommended to, from their rows of the interactions only (`for_users`, as an
    evaluation does): the popularity still counts everyone, and cutting the others' rows
    changes no list. With `daily`, every pair is given as two rows (as slv_user_product_daily
    holds a pair seen on two days), which a baseline reads as well as the pair."""
    import random

    rng = random.Random(k)
    category, next_product = {}, 1
    for c, size in enumerate([2, 3, 5, 8, 12, 20, 26, 30, 40, 60, 4, 7, 15, 33, 50], start=1):
        for _ in range(size):
            category[next_product], next_product = c * 10, next_product + 1
    catalogue = sorted(category)
    baskets = {
        user: {p: (float(rng.randint(1, 9)), rng.random() < 0.4)
               for p in rng.sample(catalogue, rng.choice([1, 2, 4, 8, 20, 60]))}
        for user in range(1, 301)
    }  # fmt: skip
    users = [*list(baskets)[::every], 9001, 9002]  # two users with no history
    interactions = spark.createDataFrame(
        [(u, p, w, int(carted), 0) for u, basket in baskets.items()
         for p, (w, carted) in basket.items()],
        "user_id bigint, product_id bigint, interaction_strength double, n_carts bigint, "
        "n_purchases bigint",
    )  # fmt: skip
    products = spark.createDataFrame(list(category.items()),
                                     "product_id bigint, category_id bigint")  # fmt: skip
    scored = spark.createDataFrame([(u,) for u in users], "user_id bigint")
    popular = recommend.popular_products(interactions, limit=recommend.POPULAR_POOL)
    fitted, _ = recommend.fit("category_popular", interactions, products, {}, 0)
    # cut to the users recommended to, as an evaluation does: the fit and the popular list
    # above learned from everyone
    rows = interactions if every == 1 else recommend.for_users(interactions, scored)
    if daily:
        rows = spark.createDataFrame(
            [row for u, basket in baskets.items() for p, (w, carted) in basket.items()
             for row in [(u, p, w - 1.0, int(carted), 0), (u, p, 1.0, 0, 0)]],
            interactions.schema,
        )  # fmt: skip
    recs = recommend.recommend("category_popular", fitted, rows, products, scored, popular, 2,
                               k)  # fmt: skip
    got = {u: [] for u in users}
    for r in recs.orderBy("user_id", "recommendation_rank").collect():
        got[r.user_id].append((r.product_id, r.source))
    expected = _category_popular_by_hand(baskets, category, users, k)
    assert got == expected
    # the example exercises what it is for: lists of the method alone and lists topped up
    sources = {source for ranked in got.values() for _, source in ranked}
    assert sources == {"category_popular", "popular"}


def _files(source: str) -> dict[str, tuple[str, int]]:
    """Every file under a version's local source folder: its digest and modification time."""
    root = Path(source.removeprefix("file://"))
    return {str(f.relative_to(root)): (hashlib.sha256(f.read_bytes()).hexdigest(),
                                       f.stat().st_mtime_ns)
            for f in sorted(root.rglob("*")) if f.is_file()}  # fmt: skip


@pytest.mark.slow  # a re-registration story: `make test-all` and CI run it
def test_registering_a_date_again_leaves_the_earlier_versions_files_alone(evaluation, client,
                                                                          dbt):  # fmt: skip
    """A forced retraining of the session's run date registers a second recommender for it:
    a new version in a new run, and the first version's files stay as they were."""
    earlier = tracking.versions_for_run_date(MODEL, "2019-11-30")
    first = earlier[-1]
    before = _files(first.source)
    assert before
    dbt(["run", "-s", "ml_retraining_decisions", "ml_product_recommendations",
         "--vars", "{force_retrain: true}"])  # fmt: skip
    *_, first_again, second = tracking.versions_for_run_date(MODEL, "2019-11-30")
    assert first_again.version == first.version
    assert second.run_id != first.run_id
    assert not second.source.startswith(first.source)
    assert _files(first.source) == before
    shipped = next(r for r in evaluation.values() if r.is_shipped)
    assert client.get_run(second.run_id).data.tags["mlflow.parentRunId"] == shipped.mlflow_run_id
    assert client.get_model_version_by_alias(MODEL, "champion").version == second.version
