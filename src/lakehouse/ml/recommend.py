"""Product recommendations: implicit-feedback ALS, a popularity baseline, top-k per user.

The dbt Python models `ml_recommender_evaluation` and `ml_product_recommendations` call this
module. ALS (`implicitPrefs=True`) learns from the interaction strengths of
`slv_user_product_*` (the seed's event weights summed per user and product; the confidence is
1 + alpha * strength). Recommendations never repeat a product the user already interacted
with.

Cold start: users with fewer than `min_products` distinct products, and users or products
ALS never saw (`coldStartStrategy="drop"`), get the most popular products they have not
interacted with instead, marked `source = 'popular'`; ALS users whose filtered list is short
are topped up the same way. Popularity = distinct users who carted or bought the product.

Evaluation (time split): fit on interactions before `recommendation_cutoff`, recommend, and
compare with the new products each user carted or bought from the cutoff on: precision@k,
recall@k (averaged over users with at least one such product) and catalogue coverage (share
of the training catalogue recommended to anyone).
"""

from __future__ import annotations

import time

from lakehouse.ml.connect import progress, release

INT_MAX = 2**31 - 1


def check_ids_fit_int(interactions) -> None:
    """ALS needs int ids; the Kaggle ids fit, but say so clearly if some data's do not."""
    from pyspark.sql import functions as F

    row = interactions.agg(F.max("user_id").alias("u"), F.max("product_id").alias("p")).first()
    if row.u is not None and max(row.u, row.p) > INT_MAX:
        raise ValueError(f"ALS needs ids below 2^31; max user_id {row.u}, product_id {row.p}")


def fit_als(interactions, params: dict, seed: int):
    """(ALS model, seconds) fitted on user_id, product_id, interaction_strength."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    check_ids_fit_int(interactions)
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


def popular_products(interactions, limit: int):
    """The `limit` most popular products: (product_id, popularity, popularity_rank)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    converted = interactions.where((F.col("n_carts") > 0) | (F.col("n_purchases") > 0))
    counts = converted.groupBy("product_id").agg(F.countDistinct("user_id").alias("popularity"))
    order = Window.orderBy(F.desc("popularity"), F.asc("product_id"))
    return (
        counts.withColumn("popularity_rank", F.row_number().over(order))
        .where(F.col("popularity_rank") <= limit)
        .withColumn("popularity", F.col("popularity").cast("double"))
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


def recommend(model, interactions, users, popular, min_products: int, k: int):
    """Top-k new products per user of `users` (a DataFrame with user_id): ALS where the user
    has at least `min_products` products in `interactions`, popular products otherwise or to
    fill up (only popular products when `model` is None: the baseline). Columns: user_id,
    recommendation_rank, product_id, score, source.

    Candidates stay small: a user who has seen n products needs at most k + n of any ranked
    list to keep k unseen ones, so each user is paired only with that many popular products,
    and ALS lists are as deep as that only for the users who need it."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    seen = interactions.select("user_id", "product_id")
    history = interactions.groupBy("user_id").agg(F.countDistinct("product_id").alias("n"))
    users = users.select("user_id").join(history, "user_id", "left").fillna(0, ["n"])
    fill = users.join(
        F.broadcast(popular),
        F.col("popularity_rank") <= F.lit(k) + F.col("n"),
    ).select(
        "user_id",
        "product_id",
        F.col("popularity").alias("score"),
        F.lit("popular").alias("source"),
        F.col("popularity_rank").alias("priority"),
    )
    candidates = fill
    if model is not None:
        warm = users.where(F.col("n") >= min_products).select(
            F.col("user_id").cast("int").alias("user_id"), "n"
        )
        als = _als_candidates(model, warm, seen, k).select(
            "*", F.lit("als").alias("source"), F.lit(0).alias("priority")
        )
        candidates = als.unionByName(fill)
    candidates = candidates.join(seen, ["user_id", "product_id"], "left_anti")
    # One row per product (ALS first), then the best k: ALS by score, then popular by rank.
    best_source = Window.partitionBy("user_id", "product_id").orderBy("priority")
    ordering = Window.partitionBy("user_id").orderBy(
        F.asc("priority"), F.desc("score"), F.asc("product_id")
    )
    return (
        candidates.withColumn("dedupe", F.row_number().over(best_source))
        .where("dedupe = 1")
        .withColumn("recommendation_rank", F.row_number().over(ordering))
        .where(F.col("recommendation_rank") <= k)
        .select("user_id", "recommendation_rank", "product_id", "score", "source")
    )


def evaluate(recommendations, truth, catalogue_size: int, k: int) -> dict[str, float]:
    """precision@k, recall@k over users with at least one relevant product, and coverage."""
    from pyspark.sql import functions as F

    relevant = truth.groupBy("user_id").agg(F.count("*").alias("n_relevant"))
    hits = (
        recommendations.join(truth.select("user_id", "product_id"), ["user_id", "product_id"])
        .groupBy("user_id")
        .agg(F.count("*").alias("hits"))
    )
    per_user = relevant.join(hits, "user_id", "left").fillna(0, ["hits"])
    row = per_user.agg(
        F.avg(F.col("hits") / k).alias("precision"),
        F.avg(F.col("hits") / F.col("n_relevant")).alias("recall"),
        F.count("*").alias("users"),
    ).first()
    covered = recommendations.select("product_id").distinct().count()
    return {
        "precision_at_k": float(row.precision or 0.0),
        "recall_at_k": float(row.recall or 0.0),
        "coverage": covered / catalogue_size if catalogue_size else 0.0,
        "users_evaluated": float(row.users),
    }


__all__ = ["evaluate", "fit_als", "load", "popular_products", "recommend", "release"]
