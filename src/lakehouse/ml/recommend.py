"""Product recommendations: four methods compared, the best on validation shipped, top-k per
user.

The dbt Python models `ml_recommender_evaluation` and `ml_product_recommendations` call this
module. The methods (METHODS), simplest first:
- `popular`: the products most users carted or bought, the same for everyone;
- `category_popular`: no training; a user's share of interaction strength in a category times
  the product's share of the category's popularity;
- `item_knn`: products similar to the user's strongest products, by the cosine of the users
  who touched both, summed;
- `als`: implicit-feedback ALS (`implicitPrefs=True`) on the interaction strengths of
  `slv_user_product_*` (the seed's event weights summed per user and product; the confidence
  is 1 + alpha * strength).
Recommendations never repeat a product the user already interacted with. A user a method
cannot serve (no history; for ALS fewer than `min_products` products, or unseen by the fit)
gets the most popular products they have not touched, marked `source = 'popular'`, and short
lists are topped up the same way. Popularity = distinct users who carted or bought the product.

Evaluation (time splits, docs/ml.md): each method is fitted on the interactions before a
period and checked against the new products each user carted or bought in it: precision@k
(with a 95% bootstrap interval), recall@k (averaged over users with at least one such product)
and catalogue coverage. The validation period (the days before `recommendation_cutoff`) picks
ALS's settings and the method that ships; the holdout (from the cutoff to the run date) then
reports the shipped method and the baselines once (`reported_methods`), for all users, users
with history and cold-start users. The learned methods that lost are validated again when the
next comparison of every method is due (`methods_to_validate`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date

from lakehouse.ml import retraining
from lakehouse.ml.connect import progress, release

INT_MAX = 2**31 - 1


def check_ids_fit_int(interactions) -> None:
    """ALS needs int ids; the Kaggle ids fit, but say so clearly if some data's do not."""
    from pyspark.sql import functions as F

    row = interactions.agg(F.max("user_id").alias("u"), F.max("product_id").alias("p")).first()
    if row.u is not None and max(row.u, row.p) > INT_MAX:
        raise ValueError(f"ALS needs ids below 2^31; max user_id {row.u}, product_id {row.p}")


def als_blocks(spark) -> int:
    """ALS's user and item blocks: half the server's shuffle partitions (which it sets to four
    per core), so two per core. Spark's default of 10 splits each iteration into more tasks than
    2 cores run at once: on the 10 M benchmark's validation period (rank 16, 2026-12-05, AMD
    EPYC) three fits took 30.8, 32.8 and 31.9 s with 10 blocks and 27.1, 29.0 and 27.4 s with 4
    (one with 2: 26.7 s), precision@5 0.0189 with 10 blocks and 0.0200 with 4 (95% interval
    0.0192 to 0.0209)."""
    return max(2, int(spark.conf.get("spark.sql.shuffle.partitions")) // 2)


def fit_als(interactions, params: dict, seed: int):
    """(ALS model, seconds) fitted on user_id, product_id, interaction_strength, in als_blocks
    blocks unless `params` say otherwise."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    check_ids_fit_int(interactions)
    blocks = als_blocks(interactions.sparkSession)
    params = {"numUserBlocks": blocks, "numItemBlocks": blocks, **params}
    data = interactions.select(
        F.col("user_id").cast("int").alias("user_id"),
        F.col("product_id").cast("int").alias("product_id"),
        F.col("interaction_strength").cast("float").alias("strength"),
    )
    als = ALS(
        userCol="user_id", itemCol="product_id", ratingCol="strength", implicitPrefs=True,
        coldStartStrategy="drop", nonnegative=True, seed=seed, **params,
    )  # fmt: skip
    started = time.perf_counter()
    model = als.fit(data)
    seconds = time.perf_counter() - started
    progress("recommend", f"ALS fitted in {seconds:.1f} s ({params})")
    return model, seconds


def load(model_name: str, version: int | str):
    """A registered ALS version, loaded on the server from its MLflow artifacts."""
    from pyspark.ml.recommendation import ALSModel

    from lakehouse.ml import tracking

    return ALSModel.load(tracking.model_location(model_name, str(version)))


# What every method and the popular list read of the interactions, one row per user and
# product (the grain of every slv_user_product_interactions* model), so users are counted
# with count(*), not count(distinct).
INTERACTION_COLUMNS = ("user_id", "product_id", "interaction_strength", "n_carts", "n_purchases")


def interactions_once(interactions):
    """`interactions` (a view that aggregates the daily table) computed once and kept on the
    server for the queries that follow, with only the columns the methods read."""
    return interactions.select(*INTERACTION_COLUMNS).localCheckpoint(eager=True)


def popular_products(interactions, limit: int | None):
    """The `limit` most popular products: (product_id, popularity, popularity_rank); with no
    limit, every carted or bought product's (product_id, popularity). Reads only the pairs
    with a cart or a purchase, so `interactions` may be every pair or those alone
    (slv_user_product_conversions: the same popularity from a few percent of the rows)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    converted = interactions.where((F.col("n_carts") > 0) | (F.col("n_purchases") > 0))
    counts = converted.groupBy("product_id").agg(F.count("*").alias("popularity"))
    counts = counts.withColumn("popularity", F.col("popularity").cast("double"))
    if limit is None:
        return counts
    order = Window.orderBy(F.desc("popularity"), F.asc("product_id"))
    return counts.withColumn("popularity_rank", F.row_number().over(order)).where(
        F.col("popularity_rank") <= limit
    )


# ALS candidates per user in the first pass: k plus this many, enough for almost every user
# once the products they have seen are removed; the few left short get a second, deeper pass.
FIRST_PASS_MARGIN = 20
MAX_DEPTH = 200


def _als_candidates(model, warm, seen, k: int):
    """ALS's best products for the `warm` users (user_id int, n: products seen): a list of
    depth k + FIRST_PASS_MARGIN for everyone, then, only for the users it leaves with fewer
    than k unseen products, one of depth min(k + n, MAX_DEPTH). A prefix of the ranking that
    holds k unseen products holds the top k, so the result equals one deep pass for all."""
    from pyspark.sql import functions as F

    def ranked(users, depth: int):
        return (
            model.recommendForUserSubset(users.select("user_id"), depth)
            .select("user_id", F.explode("recommendations").alias("r"))
            .select(
                F.col("user_id").cast("bigint").alias("user_id"),
                F.col("r.product_id").cast("bigint").alias("product_id"),
                F.col("r.rating").cast("double").alias("score"),
            )
        )

    first = ranked(warm, k + FIRST_PASS_MARGIN).localCheckpoint(eager=True)
    unseen = (
        first.join(seen, ["user_id", "product_id"], "left_anti")
        .groupBy("user_id")
        .agg(F.count("*").alias("unseen"))
    )
    short = (
        warm.join(unseen, "user_id", "left")
        .where((F.col("n") > FIRST_PASS_MARGIN) & (F.coalesce("unseen", F.lit(0)) < k))
        .select("user_id", "n")
        .localCheckpoint(eager=True)
    )
    max_n = short.agg(F.max("n")).first()[0]
    if max_n is None:
        return first
    progress("recommend", f"{short.count():,} users need a list deeper than "
                          f"{k + FIRST_PASS_MARGIN}")  # fmt: skip
    deep = ranked(short, min(k + int(max_n), MAX_DEPTH))
    return first.join(short.select("user_id"), "user_id", "left_anti").unionByName(deep)


# The methods compared by ml_recommender_evaluation, simplest first; each can ship.
METHODS = ("popular", "category_popular", "item_knn", "als")
# The methods whose fit reads only popularity (popular_products): `fit` can take the carted or
# bought pairs (slv_user_product_conversions) instead of every pair. item_knn and ALS read
# every pair.
FITTED_ON_CONVERSIONS = ("popular", "category_popular")
# The baselines: they learn nothing ahead and cost seconds, so the holdout always reports them
# beside the shipped method; a learned method that lost on validation is not refitted there.
BASELINES = ("popular", "category_popular")
# category_popular: a user's strongest categories kept, and the best products of a category
# (at most 63: _category_lists keeps a user's seen products of a category as bits of a bigint).
CATEGORIES_PER_USER = 10
PRODUCTS_PER_CATEGORY = 25
# item_knn: a user's strongest products used (bounds the pairs a heavy user adds: n^2), and
# the most similar products kept per product. 20 and 20 against 50 and 50 on the 10 M
# benchmark's validation period: fit 34.7 s against 58.3 s, fit and evaluation 59 s against
# 113 s, precision@5 0.0381 against 0.0385 (95% interval 0.0379 to 0.0392), docs/ml.md.
KNN_HISTORY = 20
KNN_NEIGHBOURS = 20


def fit(method: str, interactions, products, params: dict, seed: int):
    """(fitted, seconds) for `method` on `interactions` (user_id, product_id,
    interaction_strength, n_carts, n_purchases; for FITTED_ON_CONVERSIONS the carted or bought
    pairs suffice); `products` (product_id, category_id) is read by category_popular, `params`
    by ALS. popular learns nothing (None); category_popular
    ranks products within their category; item_knn finds each product's most similar products
    (cosine of the users who touched them); ALS factorises the interactions."""
    if method == "popular":
        return None, 0.0
    started = time.perf_counter()
    if method == "category_popular":
        fitted = _category_popularity(interactions, products).localCheckpoint(eager=True)
    elif method == "item_knn":
        fitted = _item_neighbours(interactions).localCheckpoint(eager=True)
    elif method == "als":
        return fit_als(interactions, params, seed)
    else:
        raise ValueError(f"unknown recommender method {method!r}; one of {', '.join(METHODS)}")
    seconds = time.perf_counter() - started
    progress("recommend", f"{method} fitted in {seconds:.1f} s")
    return fitted, seconds


def _category_popularity(interactions, products):
    """Each product's share of its category's popularity (distinct users who carted or bought
    it), the best PRODUCTS_PER_CATEGORY per category: (category_id, product_id, product_share,
    category_rank)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    counts = popular_products(interactions, limit=None).join(
        products.select("product_id", "category_id"), "product_id"
    )
    category = Window.partitionBy("category_id")
    order = category.orderBy(F.desc("popularity"), F.asc("product_id"))
    return (
        counts.withColumn("product_share", F.col("popularity") / F.sum("popularity").over(category))
        .withColumn("category_rank", F.row_number().over(order))
        .where(F.col("category_rank") <= PRODUCTS_PER_CATEGORY)
        .select("category_id", "product_id", "product_share", "category_rank")
    )


def _strongest(interactions, limit: int):
    """Each user's `limit` strongest products: (user_id, product_id, interaction_strength)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = Window.partitionBy("user_id").orderBy(
        F.desc("interaction_strength"), F.asc("product_id")
    )
    return (
        interactions.select("user_id", "product_id", "interaction_strength")
        .withColumn("rank", F.row_number().over(order))
        .where(F.col("rank") <= limit)
        .drop("rank")
    )


# item_knn's similarity matrix is computed this many products (rows) at a time, which bounds
# the worker's memory whatever the catalogue's size.
KNN_BLOCK = 2048
NEIGHBOUR_SCHEMA = "product_id bigint, neighbour_id bigint, similarity double"


def _item_neighbours(interactions):
    """Cosine similarity of products over the users who touched them (each user's
    KNN_HISTORY strongest products), the KNN_NEIGHBOURS best per product:
    (product_id, neighbour_id, similarity), ties to the lower neighbour_id.

    Spark picks the baskets; one of the server's Python workers then multiplies the sparse
    user x product matrix by itself (neighbours_of_baskets). The same pairs as a self-join
    grouped by pair in Spark, in less than half the time: on the 10 M benchmark's validation
    period (2026-12-06, AMD EPYC, warm, three runs each, alternated) 7.8 to 8.8 s against 19.6
    to 21.6 s, and 9.6 to 10.5 task-seconds against 38 to 42, the same 674,057 rows to the
    last bit (docs/operations.md)."""
    basket = _strongest(interactions, KNN_HISTORY).select("user_id", "product_id")
    return basket.repartition(1).mapInPandas(neighbours_of_baskets, NEIGHBOUR_SCHEMA)


def neighbours_of_baskets(batches, block: int = KNN_BLOCK):
    """_item_neighbours' arithmetic on pandas batches of (user_id, product_id), one row per
    user and product: yields DataFrames of (product_id, neighbour_id, similarity). Users in
    common = the product of the 0/1 user x product matrix's transpose with itself (scipy),
    similarity = together / sqrt(users of each), both in float64 as Spark computes them."""
    import numpy as np
    import pandas as pd
    from scipy import sparse

    frames = [b for b in batches if len(b)]
    if not frames:
        return
    pairs = pd.concat(frames, ignore_index=True)
    users, user = np.unique(pairs["user_id"].to_numpy(), return_inverse=True)
    # sorted ids: a matrix column's index orders its products as their ids do
    products, product = np.unique(pairs["product_id"].to_numpy(), return_inverse=True)
    ones = np.ones(len(pairs), dtype=np.int32)
    matrix = sparse.csr_matrix((ones, (user, product)), shape=(len(users), len(products)))
    users_of = np.bincount(product, minlength=len(products)).astype(np.int64)
    by_product = matrix.T.tocsr()
    for start in range(0, len(products), block):
        together = by_product[start : start + block] @ matrix
        together.sort_indices()  # each row's neighbours in id order: ties go to the lower id
        together = together.tocoo()
        row, col = together.row.astype(np.int64) + start, together.col.astype(np.int64)
        other = row != col
        row, col, count = row[other], col[other], together.data[other]
        similarity = count.astype(np.float64) / np.sqrt(
            (users_of[row] * users_of[col]).astype(np.float64)
        )
        # by product, then similarity descending; lexsort is stable, so ties keep id order
        order = np.lexsort((-similarity, row))
        row, col, similarity = row[order], col[order], similarity[order]
        rank = np.arange(len(row)) - np.searchsorted(row, row, side="left")
        best = rank < KNN_NEIGHBOURS
        yield pd.DataFrame({
            "product_id": products[row[best]],
            "neighbour_id": products[col[best]],
            "similarity": similarity[best],
        })  # fmt: skip


def _category_lists(fitted, interactions, products, warm, k: int):
    """category_popular's lists for the `warm` users: (lists: user_id, recommendation_rank,
    product_id, score, source of the users with k unseen products; partial: user_id,
    product_id, score, the fewer than k of the others, to be topped up with popular products;
    covered: the user_id of the first). score = the user's share of strength in the category x
    the product's share of the category.

    One pass over the users' rows, grouped by user once. A user's strongest categories are one
    row each, with the category's listed products the user has seen as a bit mask (bit r - 1
    for the r-th listed), summed in the same aggregate as the strength. Each row meets its
    category's list (at most PRODUCTS_PER_CATEGORY products, broadcast) and keeps its first k
    unseen products: within a category every user's order is the category's own, so a deeper
    one can never reach the user's top k. The rows are then ranked per user where the grouping
    left them: the candidates are never shuffled and never meet the seen pairs in a join
    (tests compare the lists with lists ranked by hand from every candidate)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    def bit(rank):  # a category's rank-th listed product's bit
        return F.shiftleft(F.lit(1).cast("bigint"), rank - 1)

    listed = fitted.select("product_id", bit(F.col("category_rank")).alias("bit"))
    per_category = (
        interactions.join(warm.select("user_id"), "user_id")
        .join(products.select("product_id", "category_id"), "product_id")
        .join(F.broadcast(listed), "product_id", "left")
        .groupBy("user_id", "category_id")
        .agg(F.sum("interaction_strength").alias("strength"),
             F.coalesce(F.bit_or("bit"), F.lit(0).cast("bigint")).alias("seen"))
    )  # fmt: skip
    user = Window.partitionBy("user_id")
    strongest = user.orderBy(F.desc("strength"), F.asc("category_id"))
    chosen = (
        per_category.withColumn("user_share", F.col("strength") / F.sum("strength").over(user))
        .withColumn("rank", F.row_number().over(strongest))
        .where(F.col("rank") <= CATEGORIES_PER_USER)
    )
    # the category's r-th listed product, when the user has not seen it and fewer than k unseen
    # ones come before it (the seen bits below bit r - 1 counted); kept on the server, as the
    # full lists, the partial ones and the covered users all read it
    r = F.col("category_rank")
    before_r = F.col("seen").bitwiseAND(bit(r) - 1)
    candidates = (
        chosen.join(F.broadcast(fitted), "category_id")
        .where((F.shiftright("seen", r - 1).bitwiseAND(1) == 0)
               & (r - F.bit_count(before_r) <= k))
        .select("user_id", "product_id",
                (F.col("user_share") * F.col("product_share")).alias("score"))
        .withColumn("recommendation_rank", F.row_number().over(
            user.orderBy(F.desc("score"), F.asc("product_id"))))
        .withColumn("found", F.count("*").over(user))
        .where(F.col("recommendation_rank") <= k)
        .localCheckpoint(eager=True)
    )  # fmt: skip
    lists = candidates.where(F.col("found") >= k).select(
        "user_id", "recommendation_rank", "product_id", "score",
        F.lit("category_popular").alias("source"),
    )  # fmt: skip
    partial = candidates.where(F.col("found") < k).select("user_id", "product_id", "score")
    covered = candidates.where(F.col("recommendation_rank") == k).select("user_id")
    return lists, partial, covered


def _knn_candidates(fitted, interactions, warm):
    """item_knn's products for the `warm` users: (user_id, product_id, score), score = the
    summed similarity to the user's KNN_HISTORY strongest products."""
    from pyspark.sql import functions as F

    history = _strongest(interactions.join(warm.select("user_id"), "user_id"), KNN_HISTORY)
    return (
        history.join(fitted, "product_id")
        .groupBy("user_id", F.col("neighbour_id").alias("product_id"))
        .agg(F.sum("similarity").alias("score"))
    )


def _seen_of_candidates(seen, method, fitted, popular):
    """The pairs of `seen` (user_id, product_id) that can meet a candidate. popular and
    category_popular draw candidates from a fixed list of products (the popular pool, the
    products each category lists), so only the pairs of those products are kept. On the 10 M
    benchmark's daily run (2019-12-01, 650 categories) the stage that ranks the lists read 12.9
    million shuffled rows instead of 17.6 million; its time moved within the noise of a
    shared 2-core server. ALS and item_knn can propose any product: every pair."""
    from pyspark.sql import functions as F

    if method == "popular":
        listed = popular.select("product_id")
    elif method == "category_popular":
        listed = fitted.select("product_id").union(popular.select("product_id")).distinct()
    else:
        return seen
    return seen.join(F.broadcast(listed), "product_id")


def recommend(method, fitted, interactions, products, users, popular, min_products, k):
    """Top-k new products per user of `users` (a DataFrame with user_id) by `method` (fitted by
    `fit`): its products for the users it can serve, popular products for the others and to
    fill short lists (only popular products for `popular`, the baseline). ALS serves users with
    at least `min_products` products in `interactions`, the baselines users with one. Columns:
    user_id, recommendation_rank, product_id, score, source (the method, or `popular`).
    For the baselines (FITTED_ON_CONVERSIONS) `interactions` may hold a pair in several rows
    (slv_user_product_daily's): they read only sums of strength, which products were seen,
    and a count that only sets how deep into the popular list a user's fill looks.

    Candidates stay small: a user who has seen n products of a ranked list needs at most k + n
    of it to keep k unseen ones, so each user is paired only with that many popular products
    (n: the popular products they have seen), ALS lists are as deep as that only for the
    users who need it, and category_popular ranks every user it can list in full without a
    table of candidates (_category_lists)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    seen = interactions.select("user_id", "product_id")
    history = interactions.groupBy("user_id").agg(F.count("*").alias("n"))
    seen_popular = (
        seen.join(F.broadcast(popular.select("product_id")), "product_id")
        .groupBy("user_id")
        .agg(F.count("*").alias("n_popular"))
    )
    users = (
        users.select("user_id")
        .join(history, "user_id", "left")
        .join(seen_popular, "user_id", "left")
        .fillna(0, ["n", "n_popular"])
    )
    found, covered, lists = None, None, None
    if method != "popular":
        needed = min_products if method == "als" else 1
        warm = users.where(F.col("n") >= needed)
        if method == "als":
            found = _als_candidates(
                fitted, warm.select(F.col("user_id").cast("int").alias("user_id"), "n"), seen, k
            )
        elif method == "category_popular":
            lists, found, covered = _category_lists(fitted, interactions, products, warm, k)
        else:
            found = _knn_candidates(fitted, interactions, warm)
    # popular products for the users the method may leave short: all but those category_popular
    # listed in full, whose seen pairs are then not read again
    short = users
    if covered is not None:
        short = users.join(covered, "user_id", "left_anti")
        seen = seen.join(short.select("user_id"), "user_id", "left_semi")
    candidates = short.join(
        F.broadcast(popular),
        F.col("popularity_rank") <= F.lit(k) + F.col("n_popular"),
    ).select(
        "user_id",
        "product_id",
        F.col("popularity").alias("score"),
        F.lit("popular").alias("source"),
        F.col("popularity_rank").alias("priority"),
    )
    if found is not None:
        candidates = found.select(
            "user_id", "product_id", F.col("score").cast("double").alias("score"),
            F.lit(method).alias("source"), F.lit(0).alias("priority"),
        ).unionByName(candidates)  # fmt: skip
    candidates = candidates.join(_seen_of_candidates(seen, method, fitted, popular),
                                 ["user_id", "product_id"], "left_anti")  # fmt: skip
    # One row per product (the method's first), then the best k: the method's by score, then
    # popular by rank.
    best_source = Window.partitionBy("user_id", "product_id").orderBy("priority")
    ordering = Window.partitionBy("user_id").orderBy(
        F.asc("priority"), F.desc("score"), F.asc("product_id")
    )
    ranked = (
        candidates.withColumn("dedupe", F.row_number().over(best_source))
        .where("dedupe = 1")
        .withColumn("recommendation_rank", F.row_number().over(ordering))
        .where(F.col("recommendation_rank") <= k)
        .select("user_id", "recommendation_rank", "product_id", "score", "source")
    )
    return ranked if lists is None else lists.unionByName(ranked)


def for_users(interactions, users):
    """The rows of `interactions` of the users in `users` (user_id), kept on the server: all
    that `recommend` reads of them besides what was fitted and the popular list, which are
    learned from everyone's. An evaluation recommends to a sample of 20,000 users, a few
    percent of those with interactions: on the 10 M benchmark's validation period the four
    methods recommended in 25 s from the cut rows (0.9 s to cut) against 37 s from all of
    them, the same lists. The users are broadcast: over a view that sums the daily table
    (slv_user_product_interactions), Spark then keeps their daily rows before summing, which
    is how a day without retraining reads the history of only the users who acted (10 M
    benchmark, 2019-12-01: 28,058 users' 822,988 pairs in 2.3 to 3.2 s, where summing every
    pair took 7.4 to 8.0 s). For every scoring user, most of the users, sum every pair
    instead (interactions_once)."""
    from pyspark.sql import functions as F

    ids = users.select("user_id").distinct()
    return interactions.join(F.broadcast(ids), "user_id", "left_semi").localCheckpoint(eager=True)


def lists_to_keep(recommendations, daily, users, run_date, version: int, k: int):
    """The lists of the run date before `run_date` in `recommendations` (the rows of
    ml_product_recommendations) that still hold on `run_date`, or (None, why not). A list
    holds when the same recommender version made it with the same k, its user is in `users`
    (today's scoring snapshot), and nothing the user did reached `daily`
    (slv_user_product_daily) since: no row dated after that run date, and no row loaded after
    it was written (a late file of an older date). Such a user's products, history and seen
    set are unchanged, so only the popularity behind the fill and category_popular's shares
    may have moved: the list is kept until the user acts or the recommender is retrained.
    Returns (rows of the earlier run date, with `listed_on` filled, or None; a line saying
    what was kept or why nothing was)."""
    from pyspark.sql import functions as F

    last = recommendations.where(F.col("run_date") < F.lit(run_date)).agg(F.max("run_date"))
    last = last.first()[0]
    if last is None:
        return None, "no earlier run date to keep lists from"
    previous = recommendations.where(F.col("run_date") == F.lit(last))
    made = previous.agg(F.min("model_version"), F.max("model_version"),
                        F.max("recommendation_rank"), F.min("recommended_at")).first()  # fmt: skip
    if (made[0], made[1]) != (version, version):
        return None, f"the lists of {last} are not all from v{version}"
    if made[2] != k:
        return None, f"the lists of {last} are {made[2]} long, not k = {k}"
    # Two reads, each cut before the scan: the dates after `last` by partition, the rows
    # loaded since by the files' source_loaded_at statistics. One filter with an OR of the two
    # read every row of every date (10 M benchmark: 7.2 million rows for 2019-12-01).
    up_to_today = daily.where(F.col("event_date") <= F.lit(run_date))
    acted = (
        up_to_today.where(F.col("event_date") > F.lit(last)).select("user_id")
        .union(up_to_today.where(F.col("source_loaded_at") > F.lit(made[3])).select("user_id"))
    )  # fmt: skip
    listed_on = F.col("listed_on") if "listed_on" in previous.columns else F.lit(None)
    kept = (
        previous.join(users.select("user_id"), "user_id", "left_semi")
        .join(acted, "user_id", "left_anti")
        .withColumn("listed_on", F.coalesce(listed_on, F.lit(last)))
    )
    return kept, f"kept the lists of the users who did nothing since {last}"


SEGMENTS = ("all", "with_history", "cold_start")


def label_segments(truth, before):
    """`truth` (user_id, product_id: the relevant products) with each user's `user_segment`:
    `with_history` when the user has an interaction in `before` (the training interactions,
    or the rows of them of truth's users), else `cold_start`."""
    from pyspark.sql import functions as F

    known = before.select("user_id").distinct().withColumn("known", F.lit(True))
    return truth.select("user_id", "product_id").join(known, "user_id", "left").select(
        "user_id", "product_id",
        F.when(F.col("known"), "with_history").otherwise("cold_start").alias("user_segment"),
    )  # fmt: skip


def evaluate(recommendations, truth, catalogue_size: int, k: int, seed: int = 0) -> dict:
    """{segment: figures} for each of SEGMENTS, over the users of `truth` (label_segments):
    precision@k and recall@k with a 95% interval of precision@k
    (lakehouse.ml.evaluation.ranking_metrics), the users evaluated, and coverage: the share of
    the catalogue recommended to them. Two queries, whatever the number of segments."""
    from pyspark.sql import functions as F

    from lakehouse.ml import evaluation

    relevant = truth.groupBy("user_id", "user_segment").agg(F.count("*").alias("relevant"))
    hits = (
        recommendations.join(truth.select("user_id", "product_id"), ["user_id", "product_id"])
        .groupBy("user_id")
        .agg(F.count("*").alias("hits"))
    )
    groups = (
        relevant.join(hits, "user_id", "left")
        .fillna(0, ["hits"])
        .groupBy("user_segment", "hits", "relevant")
        .count()
        .collect()
    )
    covered = {
        r.user_segment or "all": r.products
        for r in recommendations.join(relevant.select("user_id", "user_segment"), "user_id")
        .rollup("user_segment")
        .agg(F.countDistinct("product_id").alias("products"))
        .collect()
    }  # fmt: skip
    found = {}
    for segment in SEGMENTS:
        rows = [(g.hits, g.relevant, g["count"]) for g in groups
                if segment == "all" or g.user_segment == segment]  # fmt: skip
        found[segment] = evaluation.ranking_metrics(rows, k, seed=seed)
        share = covered.get(segment, 0) / catalogue_size if catalogue_size else 0.0
        found[segment]["coverage"] = share
    return found


# Popular products each user list may be filled from (a user needs at most k + n of them).
POPULAR_POOL = 100


def sample_users(truth, max_users: int | None, seed: int):
    """(`truth` restricted to at most `max_users` of its users, the number of users it had):
    the users with the smallest hash of (user_id, seed), the same sample on every run of the
    same data. No limit (None or 0) keeps every user."""
    from pyspark.sql import functions as F

    users = truth.select("user_id").distinct()
    total = users.count()
    if not max_users or total <= max_users:
        return truth, total
    chosen = users.orderBy(F.xxhash64("user_id", F.lit(seed)), "user_id").limit(max_users)
    return truth.join(chosen, "user_id"), total


class Period:
    """What every method of one evaluation period shares, computed once: the training
    interactions (`before`, a view over the daily aggregates), the users' products to find
    (`truth`, with user_segment; a seeded sample of `max_users` users when the period has more:
    every method is fitted on all the interactions and recommends to those users, from
    `recommended`, their rows of `before`), the popular fill and the catalogue size.

    `truth` is read once: its view anti-joins every earlier pair, and sampling it, labelling
    its segments and counting its users read it three times before. `before` is materialised
    once for the methods that read every pair (item_knn, ALS). Given `conversions` (the carted
    or bought pairs of `before`), the period is for FITTED_ON_CONVERSIONS methods only: they
    learn popularity from those alone, so every pair is never summed (the users' rows come
    from the view, cut to the sampled users before the sum)."""

    def __init__(self, before, truth, max_users: int | None = None, seed: int = 0,
                 conversions=None):  # fmt: skip
        truth = truth.localCheckpoint(eager=True)
        truth, self.users_in_period = sample_users(truth, max_users, seed)
        if conversions is None:
            self.before = interactions_once(before)
            self.recommended = for_users(self.before, truth)
        else:
            self.before = conversions.select(
                "user_id", "product_id", "n_carts", "n_purchases"
            ).localCheckpoint(eager=True)
            self.recommended = for_users(before.select(*INTERACTION_COLUMNS), truth)
        # a user of the sample has history when they have rows before the period
        self.truth = label_segments(truth, self.recommended).localCheckpoint(eager=True)
        if max_users and self.users_in_period > max_users:
            progress("recommend", f"evaluated on a sample of {max_users:,} of the period's "
                                  f"{self.users_in_period:,} users (var "
                                  "recommender_eval_max_users)")  # fmt: skip
        self.popular = popular_products(self.before, limit=POPULAR_POOL).localCheckpoint(
            eager=True)  # fmt: skip
        every_product = self.before if conversions is None else before
        self.catalogue = every_product.select("product_id").distinct().count()


def _evaluate_method(method, params, period: Period, products, min_products, k,
                     seed) -> tuple[dict, float]:  # fmt: skip
    """Fits `method` on the period's interactions, recommends to the users of its truth and
    scores it: ({segment: figures}, fit seconds)."""
    fitted, seconds = fit(method, period.before, products, params, seed)
    users = period.truth.select("user_id").distinct()
    recs = recommend(method, fitted, period.recommended, products, users, period.popular,
                     min_products, k)  # fmt: skip
    recs = recs.localCheckpoint(eager=True)
    if method == "als":
        release(fitted)
    found = evaluate(recs, period.truth, period.catalogue, k, seed)
    progress("recommend", f"{method}: precision@{k} {found['all']['precision_at_k']:.4f} over "
                          f"{found['all']['users_evaluated']:,} users")  # fmt: skip
    return found, seconds


def validate(before, truth, products, als_grid: list[dict], min_products: int, k: int,
             seed: int, max_users: int | None = None,
             methods: tuple[str, ...] = METHODS) -> dict:  # fmt: skip
    """`methods` (by default every one) on the validation period (`before`: its training
    interactions, `truth`: its new conversions), ALS at every point of `als_grid`. Returns
    {"figures": {method: {segment: figures}}, "params": {method: its parameters, ALS's best
    grid point}, "als_search": [every point's figures, empty without ALS], "shipped": the method
    with the best precision@k over all users (the simplest on a tie), "users_in_period": its
    users before any sample (Period)}."""
    period = Period(before, truth, max_users, seed)
    figures, params_of, search = {}, {}, []
    for method in methods:
        tried = []
        for params in als_grid if method == "als" else [{}]:
            found = _evaluate_method(method, params, period, products, min_products, k, seed)
            tried.append((params, found[0]))
        if method == "als":
            search = [{**params, **found["all"]} for params, found in tried]
        params_of[method], figures[method] = best_point(tried)
    return {
        "figures": figures,
        "params": params_of,
        "als_search": search,
        "shipped": best_method(figures),
        "users_in_period": period.users_in_period,
    }


def best_point(tried: list[tuple[dict, dict]]) -> tuple[dict, dict]:
    """(params, figures) of the grid point with the best precision@k over all users, the
    earliest on a tie: `tried` is [(params, {segment: figures})] in grid order."""
    best = max(range(len(tried)), key=lambda i: (tried[i][1]["all"]["precision_at_k"], -i))
    return tried[best]


def best_method(figures: dict[str, dict]) -> str:
    """The method with the best precision@k over all users, the simplest (first of METHODS) on
    a tie."""
    return max(figures, key=lambda m: (figures[m]["all"]["precision_at_k"], -METHODS.index(m)))


def reported_methods(shipped: str) -> tuple[str, ...]:
    """The methods the holdout reports: the baselines and the shipped method, in METHODS order.
    Refitting a learned method that lost on validation would report a figure that chooses
    nothing; at 10 M events item_knn and ALS cost 150 s of the holdout's 250 s."""
    if shipped not in METHODS:
        raise ValueError(f"unknown recommender method {shipped!r}; one of {', '.join(METHODS)}")
    return tuple(m for m in METHODS if m in BASELINES or m == shipped)


@dataclass
class Comparison:
    """The methods a retraining validates, and why in one line."""

    methods: tuple[str, ...]
    reason: str


def methods_to_validate(earlier, run_date: date, every_days: int) -> Comparison:
    """Which methods a retraining on `run_date` validates. `earlier`: the validation rows of
    every user (`all`) of earlier run dates, as (run_date, method, precision_at_k, is_shipped).

    Every method (a full comparison) when no earlier run date compared them all, when the latest
    that did is `every_days` or more before `run_date`, or when `every_days` is 0. Otherwise the
    baselines and the method shipped on the latest retraining: the learned methods that lost
    are fitted again only when the next comparison is due, as each costs a fit on every pair
    (at 42.4 M events, item_knn and ALS took 171 s of the validation's 209 s)."""
    by_date: dict[date, dict[str, tuple[float, bool]]] = {}
    for r in earlier:
        if r.run_date < run_date:
            by_date.setdefault(r.run_date, {})[r.method] = (r.precision_at_k, r.is_shipped)
    compared = [d for d, found in by_date.items() if set(METHODS) <= set(found)]
    cadence = retraining.full_work(compared, run_date, every_days,
                                   "recommender_compare_every_days", "every method",
                                   "compared them all")  # fmt: skip
    if cadence.due:
        return Comparison(METHODS, cadence.due)
    latest, age = cadence.latest, cadence.age
    last = by_date[max(by_date)]
    shipped = next((m for m, (_, is_shipped) in last.items() if is_shipped), None)
    methods = tuple(m for m in METHODS if m in BASELINES or m == shipped)
    then = by_date[latest]
    winner = next(m for m, (_, is_shipped) in then.items() if is_shipped)
    lost = ", ".join(f"{m} {then[m][0]:.4f}" for m in METHODS if m not in methods)
    return Comparison(
        methods,
        (
            f"{', '.join(methods)} only: every method was compared on {latest}, {age} days before "
            f"(recommender_compare_every_days {every_days}), where {winner} "
            f"({then[winner][0]:.4f}) beat {lost}"
        ),
    )


def report(before, truth, products, methods: tuple[str, ...], als_params: dict,
           min_products: int, k: int, seed: int, max_users: int | None = None,
           conversions=None) -> dict:  # fmt: skip
    """Each of `methods` once on the holdout (its users sampled as in Period), ALS with the
    settings chosen on validation: {"figures": {method: ({segment: figures}, fit seconds)},
    "users_in_period": its users before any sample}. When every method is a baseline, they
    learn from `conversions` (the carted or bought pairs of `before`) if given."""
    on_conversions = conversions is not None and set(methods) <= set(FITTED_ON_CONVERSIONS)
    period = Period(before, truth, max_users, seed, conversions if on_conversions else None)
    figures = {
        method: _evaluate_method(method, als_params if method == "als" else {}, period,
                                 products, min_products, k, seed)
        for method in methods
    }  # fmt: skip
    return {"figures": figures, "users_in_period": period.users_in_period}


__all__ = [
    "BASELINES", "FITTED_ON_CONVERSIONS", "METHODS", "POPULAR_POOL", "SEGMENTS", "Comparison",
    "Period", "als_blocks", "best_method", "best_point", "evaluate", "fit", "fit_als",
    "for_users", "label_segments", "load", "methods_to_validate", "popular_products",
    "recommend", "release", "report", "reported_methods", "sample_users", "validate",
]  # fmt: skip
