"""The benchmark's reference points on the same server and data as the dbt build:

- `plain_pyspark`: the pipeline written the way the original notebooks do it, as one PySpark
  script: CSV read with schema inference, a Delta copy, dropDuplicates, per-user aggregates
  for October, a November purchase label, a random 80/20 split, one LogisticRegression and one
  RandomForest with fixed parameters evaluated by AUC, scores for every user, and ALS top-5
  recommendations. No quarantine, no tests, no registry, no search.
- `bare_copy`: the CSV files copied to a Delta table with an explicit schema: the lower bound
  of any bronze layer.

Both read the landing files they are given (the full build's) over Spark Connect, each on a
fresh server of its own (`SizeRun.references`), into a scratch folder.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

SCHEMA = (
    "event_time string, event_type string, product_id bigint, category_id bigint, "
    "category_code string, brand string, price double, user_id bigint, user_session string"
)


def bare_copy(spark, paths: list[str], scratch: Path) -> dict:
    """CSV to Delta with an explicit schema, nothing else."""
    target = scratch / "bare_copy"
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    df = spark.read.schema(SCHEMA).option("header", "true").csv(paths)
    df.write.format("delta").mode("overwrite").save(str(target))
    seconds = time.perf_counter() - started
    rows = spark.read.format("delta").load(str(target)).count()
    return {"seconds": seconds, "rows": rows}


def plain_pyspark(spark, paths: list[str], scratch: Path) -> dict:
    """The notebook-style pipeline; returns its wall time per step and the AUCs."""
    from pyspark.ml.classification import LogisticRegression, RandomForestClassifier
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    root = scratch / "plain"
    shutil.rmtree(root, ignore_errors=True)
    steps: dict[str, float] = {}
    started = last = time.perf_counter()

    def step(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        steps[name] = now - last
        last = now

    raw = spark.read.option("header", "true").option("inferSchema", "true").csv(paths)
    raw.write.format("delta").mode("overwrite").save(str(root / "bronze"))
    step("bronze")

    events = (
        spark.read.format("delta").load(str(root / "bronze"))
        .dropDuplicates()
        # The notebooks' `to_date(event_time)` stops the whole job under ANSI mode (Spark 4's
        # default) at the first malformed time in the files; this reference tolerates bad values
        # with try_casts (inference makes a column text when one of its values is bad).
        .withColumn("event_date", F.expr("try_cast(substr(event_time, 1, 10) as date)"))
        .withColumn("product_id", F.expr("try_cast(product_id as bigint)"))
        .withColumn("category_id", F.expr("try_cast(category_id as bigint)"))
        .withColumn("user_id", F.expr("try_cast(user_id as bigint)"))
        .withColumn("price", F.expr("try_cast(price as double)"))
        .dropna(subset=["user_id", "product_id", "event_date"])
    )  # fmt: skip
    october = events.where(F.col("event_date").between("2019-10-01", "2019-10-31"))
    is_type = {t: F.when(F.col("event_type") == t, 1).otherwise(0) for t in
               ("view", "cart", "purchase")}  # fmt: skip
    features = october.groupBy("user_id").agg(
        F.count("*").alias("events"),
        *[F.sum(flag).alias(f"{t}s") for t, flag in is_type.items()],
        F.countDistinct("product_id").alias("products"),
        F.countDistinct("category_id").alias("categories"),
        F.countDistinct("brand").alias("brands"),
        F.countDistinct("user_session").alias("sessions"),
        F.countDistinct("event_date").alias("active_days"),
        F.sum(F.when(F.col("event_type") == "purchase", F.col("price")).otherwise(0)).alias(
            "spent"
        ),
        F.avg("price").alias("avg_price"),
        F.max("price").alias("max_price"),
    )
    features.write.format("delta").mode("overwrite").save(str(root / "features"))
    step("silver_features")

    buyers = (
        events.where(F.col("event_date").between("2019-11-01", "2019-11-30"))
        .where(F.col("event_type") == "purchase")
        .select("user_id").distinct().withColumn("label", F.lit(1.0))
    )  # fmt: skip
    data = (
        spark.read.format("delta").load(str(root / "features"))
        .join(buyers, "user_id", "left").fillna(0.0, ["label"])
    )  # fmt: skip
    columns = [c for c in data.columns if c not in ("user_id", "label")]
    assembled = VectorAssembler(inputCols=columns, outputCol="features").transform(data.fillna(0.0))
    train, test = assembled.randomSplit([0.8, 0.2], seed=42)
    step("label_split")

    evaluator = BinaryClassificationEvaluator(labelCol="label", metricName="areaUnderROC")
    lr = LogisticRegression(labelCol="label", regParam=0.01).fit(train)
    lr_auc = evaluator.evaluate(lr.transform(test))
    step("logistic_regression")
    rf = RandomForestClassifier(labelCol="label", numTrees=40, maxDepth=5, seed=42).fit(train)
    rf_auc = evaluator.evaluate(rf.transform(test))
    step("random_forest")
    lr.transform(assembled).select("user_id", "probability").write.format("delta").mode(
        "overwrite"
    ).save(str(root / "scores"))
    step("scoring")

    weight = (
        F.when(F.col("event_type") == "purchase", 5.0)
        .when(F.col("event_type") == "cart", 3.0)
        .otherwise(1.0)
    )
    ratings = events.groupBy("user_id", "product_id").agg(F.sum(weight).alias("rating"))
    als = ALS(userCol="user_id", itemCol="product_id", ratingCol="rating", implicitPrefs=True,
              rank=64, maxIter=10, regParam=0.1, alpha=1.0, coldStartStrategy="drop",
              seed=42).fit(ratings)  # fmt: skip
    als.recommendForAllUsers(5).write.format("delta").mode("overwrite").save(
        str(root / "recommendations")
    )
    step("als")
    return {
        "seconds": time.perf_counter() - started,
        "steps": steps,
        "lr_auc_roc": lr_auc,
        "rf_auc_roc": rf_auc,
    }
