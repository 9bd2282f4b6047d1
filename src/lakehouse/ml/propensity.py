"""Purchase propensity: tune, fit, evaluate, register and score, over Spark Connect.

The dbt Python models `ml_propensity_candidates` and `ml_user_purchase_scores` are thin: they
call this module. The data is `gold.ml_user_training_set` (features, label, split, class
weight). Each grid candidate is fitted on the training split without its validation fold (users
whose split_bucket is a multiple of 5), or on a seeded sample of `tuning_max_users` of those
users when they are more than 1.5 times as many, and scored on that fold. No registered model
is ever fitted on the fold, so it is the same untouched set in every run: tuning, the threshold
and the champion gate use it, and the test split is only for the report. The best candidate of
each algorithm is the finalist, evaluated once on the test split next to a constant baseline;
the finalist with the best validation AUC-PR wins (when the grid was tuned on a sample, the
winner alone is refitted on every training user outside the fold first). The winner is
registered as a new version; it becomes the champion only when its validation AUC-PR beats the
champion's on the same fold by more than a paired-bootstrap margin (or the var
gate_min_improvement). Curves, importances and model files are logged for the finalists; a
tuning run logs its parameters and metrics.

Class imbalance is handled by the `class_weight` column (balanced weights) as weightCol; the
predicted odds are then multiplied by w0/w1 (lakehouse.ml.evaluation), so that every
probability this module returns, logs or scores is calibrated. The threshold of
`predicted_label` is chosen on the validation fold (evaluation.choose_threshold) and registered
with the model. Metrics: AUC-ROC and AUC-PR (average precision, scikit-learn), the Brier score
and the expected calibration error (10 bins), with the ROC, precision-recall and reliability
curves as artifacts.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from lakehouse.errors import DataConditionError
from lakehouse.ml import drift, evaluation, retraining, tracking
from lakehouse.ml.connect import (
    as_bool,
    optional_float,
    optional_int,
    progress,
    release,
    table_version,
    training_fingerprint,
)
from lakehouse.platform.config import Settings

# The model inputs: every feature column of the ml_user_training_set contract.
FEATURES = [
    "n_events", "n_views", "n_carts", "n_removes_from_cart", "n_purchases", "n_products",
    "n_categories", "n_brands", "n_sessions", "n_active_days", "purchase_spend",
    "avg_viewed_price", "max_viewed_price", "cart_rate", "purchase_rate",
    "favourite_category_share", "avg_session_events", "max_session_events",
    "avg_session_duration_s", "max_session_duration_s", "days_since_last_event",
    "days_since_first_event",
]  # fmt: skip
ALGORITHMS = ("logistic_regression", "random_forest")
VALIDATION_FOLD = 5  # users with split_bucket % 5 == 0 validate the grid
GATE_METRIC = "validation_auc_pr"
# The gate's margin: this many bootstrap standard errors of the gain (one-sided 95%).
GATE_MARGIN_SE = 1.645
# The training data's layout before any fit: a fixed number of partitions by user, sorted.
# RandomForest draws its bootstrap samples and split candidates per partition, so without a
# fixed layout the same rows in another order (another run's file layout, another cluster) grow
# another forest; with it, the same data and seed give the same models anywhere.
TRAINING_PARTITIONS = 4
# The scoring snapshot is one small file, so it is read as one partition and the forest's
# trees would walk every user on one core: spread over this many first. On the 10 M
# benchmark's snapshot (370,639 users, 80 trees of depth 8), score() alone took 11.0-11.4 s
# from one partition and 6.9-8.4 s from two or four, the same scores.
SCORING_PARTITIONS = 4
# RandomForest keeps each training row's node in every tree between the levels it grows,
# instead of walking every tree from its root again for each row at each level. The same
# forest (every validation probability equal) grown faster where trees are deep: on the 10 M
# benchmark's training set (197,050 fit users, idle server, two fits each) 80 trees of depth 8
# in 10.7-11.0 s against 14.3-14.6 s, 40 of depth 8 in 6.1-6.3 s against 8.8-9.2 s; depth 5
# alike either way.
CACHE_NODE_IDS = True
# The tuning sample is drawn by hashing (user_id, seed) into this many buckets and keeping the
# lowest share: no sort, the same users on every run of the same data.
SAMPLE_BUCKETS = 1_000_000
# A sample saves work only when it leaves out many users: the winner's refit on all of them
# cost about a quarter of the seven tuning fits of the grid then (the 10 M benchmark's retrain
# day, 2026-12-05: 202,067 users, the fits 122 s on a 199,978 sample and the forest's refit
# 32.3 s in the build; the node alone 126 s, and 93 s tuned on every user). So up to this many
# times `tuning_max_users` the grid is tuned on every user and nothing is refitted.
SAMPLE_ONLY_ABOVE = 1.5


@dataclass
class Candidate:
    """One row of ml_propensity_candidates."""

    algorithm: str
    stage: str  # tuning, final or baseline
    params: dict
    metrics: dict = field(default_factory=dict)
    training_seconds: float = 0.0
    mlflow_run_id: str = ""
    registered_version: int | None = None
    is_champion: bool = False
    gate_decision: str = ""
    threshold_rule: str = ""  # how validation_threshold was chosen (finalists)
    # (labels, probabilities) on the validation fold, ordered by user: the gate's comparison
    validation_scores: tuple | None = field(default=None, repr=False)
    model_uri: str = ""  # the finalist's MLflow model (lakehouse.ml.pyfunc): what is registered
    n_fit_users: int = 0  # the users its model was fitted on

    def row(self, run_date) -> dict:
        return {
            "run_date": run_date,
            "algorithm": self.algorithm,
            "stage": self.stage,
            "params": json.dumps(self.params, sort_keys=True),
            "validation_auc_roc": self.metrics.get("validation_auc_roc"),
            "validation_auc_pr": self.metrics.get("validation_auc_pr"),
            "test_auc_roc": self.metrics.get("test_auc_roc"),
            "test_auc_pr": self.metrics.get("test_auc_pr"),
            "training_seconds": float(self.training_seconds),
            "mlflow_run_id": self.mlflow_run_id,
            "registered_version": self.registered_version,
            "is_champion": self.is_champion,
            "gate_decision": self.gate_decision,
        }


def grid(params: dict[str, list]) -> list[dict]:
    """Every combination of a {parameter: [values]} grid, in a stable order."""
    names = sorted(params)
    return [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(params[n] for n in names))
    ]


def estimator(algorithm: str, params: dict, seed: int):
    from pyspark.ml.classification import LogisticRegression, RandomForestClassifier

    common = {"featuresCol": "features", "labelCol": "label", "weightCol": "class_weight"}
    if algorithm == "logistic_regression":
        return LogisticRegression(maxIter=100, standardization=True, **common, **params)
    if algorithm == "random_forest":
        return RandomForestClassifier(seed=seed, cacheNodeIds=CACHE_NODE_IDS, **common, **params)
    raise ValueError(f"unknown algorithm {algorithm!r}; choose from {ALGORITHMS}")


def model_class(algorithm: str):
    from pyspark.ml.classification import (
        LogisticRegressionModel,
        RandomForestClassificationModel,
    )

    return {
        "logistic_regression": LogisticRegressionModel,
        "random_forest": RandomForestClassificationModel,
    }[algorithm]


def assemble(df):
    """Adds the `features` vector (the FEATURES columns, in order)."""
    from pyspark.ml.feature import VectorAssembler

    return VectorAssembler(inputCols=FEATURES, outputCol="features").transform(df)


def positive_probability(model, df, correction: float = 1.0):
    """The model's predictions with `probability` reduced to P(label = 1), a double, its odds
    multiplied by `correction` (evaluation.odds_correction: undoes the class weights)."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    raw = vector_to_array(F.col("probability")).getItem(1)
    calibrated = raw * F.lit(correction) / (raw * F.lit(correction) + (F.lit(1.0) - raw))
    return model.transform(df).withColumn("purchase_probability", calibrated)


def scores(predictions):
    """(labels, probabilities) of a prediction DataFrame, ordered by user, as numpy arrays."""
    import numpy as np

    ordered = predictions.orderBy("user_id")  # the same users, the same order, in every call
    pdf = ordered.select("label", "purchase_probability").toPandas()
    return pdf["label"].to_numpy(), np.asarray(pdf["purchase_probability"], dtype=float)


def metrics(labels, probabilities, prefix: str) -> dict[str, float]:
    """AUC-ROC, AUC-PR (scikit-learn's definitions, evaluation.Ranked), Brier score and
    calibration error; none when the users hold a single class."""
    if len(set(labels)) < 2:
        return {}
    ranked = evaluation.Ranked(labels, probabilities)
    return {
        f"{prefix}_auc_roc": ranked.auc_roc(),
        f"{prefix}_auc_pr": ranked.auc_pr(),
        f"{prefix}_brier": evaluation.brier(labels, probabilities),
        f"{prefix}_ece": evaluation.expected_calibration_error(labels, probabilities),
    }


def log_reliability(labels, probabilities, correction: float, title: str) -> dict:
    """The reliability diagram (observed buying rate against mean probability per bin) of the
    calibrated probabilities and of the uncorrected ones, as a PNG and a JSON table; returns
    the uncorrected Brier score and calibration error (the "before" figures)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow

    raw = evaluation.corrected(probabilities, 1.0 / correction)
    tables = {"calibrated": evaluation.reliability(labels, probabilities),
              "uncorrected": evaluation.reliability(labels, raw)}  # fmt: skip
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    for name, rows in tables.items():
        ax.plot([r["mean_probability"] for r in rows], [r["buying_rate"] for r in rows],
                marker="o", label=name)  # fmt: skip
    ax.set(xlabel="mean predicted probability (10 bins)", ylabel="observed buying rate",
           title=f"Reliability: {title}")  # fmt: skip
    ax.legend(loc="best")
    mlflow.log_figure(fig, "reliability.png")
    plt.close(fig)
    mlflow.log_dict(tables, "reliability.json")
    return {"test_brier_uncorrected": evaluation.brier(labels, raw),
            "test_ece_uncorrected": evaluation.expected_calibration_error(labels, raw)}  # fmt: skip


def log_test_report(labels, probabilities, seed: int) -> dict:
    """What a practitioner reads first on the test split: the decile table (users, buyers,
    buying rate, lift, cumulative capture) as `decile_table.json`, and 95% bootstrap intervals
    of AUC-ROC and AUC-PR (evaluation.GATE_RESAMPLES draws of the test users), returned as
    metrics."""
    import mlflow

    mlflow.log_dict({"deciles": evaluation.decile_table(labels, probabilities)},
                    "decile_table.json")  # fmt: skip
    found = {}
    for name in evaluation.RANK_METRICS:
        low, high = evaluation.bootstrap_interval(labels, probabilities, name, seed=seed)
        found |= {f"test_{name}_ci_low": low, f"test_{name}_ci_high": high}
    return found


def log_curves(labels, probabilities, title: str) -> None:
    """ROC and precision-recall curves as PNG artifacts of the active run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow
    from sklearn.metrics import precision_recall_curve, roc_curve

    if len(set(labels)) < 2:
        return
    fpr, tpr, _ = roc_curve(labels, probabilities)
    precision, recall, _ = precision_recall_curve(labels, probabilities)
    for name, (x, y, xlabel, ylabel, ref) in {
        "roc_curve.png": (fpr, tpr, "false positive rate", "true positive rate", ([0, 1], [0, 1])),
        "pr_curve.png": (
            recall, precision, "recall", "precision",
            ([0, 1], [labels.mean(), labels.mean()]),
        ),
    }.items():  # fmt: skip
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(x, y, label=title)
        ax.plot(*ref, linestyle="--", color="grey", label="constant baseline")
        ax.set(xlabel=xlabel, ylabel=ylabel, title=f"{name[:-10].upper()} curve: {title}")
        ax.legend(loc="best")
        mlflow.log_figure(fig, name)
        plt.close(fig)


def log_importances(model, algorithm: str, feature_std: list[float] | None = None) -> None:
    """Feature importances (forest) or coefficients (regression) as a JSON artifact. Spark
    returns a regression's coefficients on the features' own scales (days, euros, counts);
    times each feature's standard deviation on the fitted rows they become comparable with
    each other (`standardised_coefficients.json`: the change in log-odds per standard
    deviation)."""
    import mlflow

    if algorithm == "random_forest":
        values = model.featureImportances.toArray().tolist()
        mlflow.log_dict(dict(zip(FEATURES, values, strict=True)), "feature_importances.json")
        return
    values = model.coefficients.toArray().tolist()
    mlflow.log_dict(dict(zip(FEATURES, values, strict=True)), "coefficients.json")
    if feature_std is not None:
        scaled = {f: c * sd for f, c, sd in zip(FEATURES, values, feature_std, strict=True)}
        mlflow.log_dict(dict(sorted(scaled.items(), key=lambda kv: -abs(kv[1]))),
                        "standardised_coefficients.json")  # fmt: skip


def samples(n_users: int, max_users: int | None) -> bool:
    """Whether the grid is tuned on a sample of `max_users` of `n_users` users: only when they
    are more than SAMPLE_ONLY_ABOVE times as many (None or 0: never)."""
    return bool(max_users) and n_users > SAMPLE_ONLY_ABOVE * max_users


def tuning_sample(fit_rows, n_users: int, max_users: int | None, seed: int):
    """(the rows the grid is tuned on, their users): a seeded sample of about `max_users` of
    the `n_users` users of `fit_rows` (SAMPLE_BUCKETS), each with all their rows, when
    `samples`; else every one of them."""
    from pyspark.sql import functions as F

    if not samples(n_users, max_users):
        return fit_rows, n_users
    keep = max(1, round(SAMPLE_BUCKETS * max_users / n_users))
    bucket = F.pmod(F.xxhash64("user_id", F.lit(seed)), F.lit(SAMPLE_BUCKETS))
    sample = fit_rows.where(bucket < keep)
    return sample, sample.count()


@dataclass
class SearchPlan:
    """The grid points a retraining fits, per algorithm, and why in one line."""

    grids: dict[str, list[dict]]
    reason: str

    @property
    def full(self) -> bool:
        """Whether every algorithm is tuned (a search), not only the earlier winner refitted."""
        return set(self.grids) == set(ALGORITHMS)


def plan_search(earlier, run_date: date, every_days: int, grids: dict[str, list[dict]]):
    """What a retraining on `run_date` fits. `earlier`: the rows of ml_propensity_candidates of
    earlier run dates, as (run_date, algorithm, stage, params, validation_auc_pr,
    registered_version); `grids`: {algorithm: its grid points}.

    The whole grid of every algorithm (a search) when no earlier run date searched them all,
    when the latest that did is `every_days` or more before `run_date`, or when `every_days` is
    0. Otherwise only that search's winner, refitted with its parameters on the new training
    data and gated as always: the other grid points lost there, and each costs a fit (at 10 M
    events the five tuning fits were most of the retrain day's search)."""
    by_date: dict[date, list] = {}
    for r in earlier:
        if r.run_date < run_date:
            by_date.setdefault(r.run_date, []).append(r)
    searched = [
        d for d, rows in by_date.items()
        if set(ALGORITHMS) <= {r.algorithm for r in rows if r.stage == "tuning"}
    ]  # fmt: skip
    cadence = retraining.full_work(searched, run_date, every_days,
                                   "propensity_search_every_days", "the whole grid",
                                   "searched it")  # fmt: skip
    if cadence.due:
        return SearchPlan(grids, cadence.due)
    latest, age = cadence.latest, cadence.age
    finals = [r for r in by_date[latest] if r.stage == "final"]
    winner = max(finals, key=lambda r: (r.registered_version is not None,
                                        r.registered_version or 0))  # fmt: skip
    if winner.registered_version is None:  # an interrupted search: nothing was registered
        return SearchPlan(grids, f"the whole grid: the search of {latest} registered no model")
    params = json.loads(winner.params)
    lost = ", ".join(f"{r.algorithm} {r.validation_auc_pr:.4f}" for r in finals
                     if r is not winner and r.validation_auc_pr is not None)  # fmt: skip
    beat = f" beat {lost}" if lost else " won"
    return SearchPlan(
        {winner.algorithm: [params]},
        (
            f"{winner.algorithm} {json.dumps(params, sort_keys=True)} only: the grid was "
            f"searched on {latest}, {age} days before (propensity_search_every_days "
            f"{every_days}), where it ({winner.validation_auc_pr:.4f} validation AUC-PR){beat}"
        ),
    )


def train(spark, training_set, training_table: str, config: dict, settings: Settings,
          plan: SearchPlan | None = None):  # fmt: skip
    """Runs the search (`plan`, plan_search; default: the whole grid of every algorithm),
    registration and gate on the training set of `config["run_date"]`; returns the candidates'
    rows (dicts)."""
    if plan is None:
        plan = SearchPlan({a: grid(config[f"{a}_grid"]) for a in ALGORITHMS}, "the whole grid")
    experiment = config["experiment"]
    model_name = config["registered_model_name"]
    seed = int(config.get("seed", 42))
    tracking.configure(settings, experiment)

    data = (
        assemble(training_set)
        .select("user_id", "split", "split_bucket", "label", "class_weight", "features")
        .repartition(TRAINING_PARTITIONS, "user_id")
        .sortWithinPartitions("user_id")
    )
    # Every fit and evaluation below reads `data`: cache it once instead of re-reading and
    # re-assembling the table 7 times (the benchmark measures both).
    cached = as_bool(config.get("cache_training_data", True))
    if cached:
        data = data.persist()
    try:
        rows = _search(spark, data, training_table, config, model_name, seed, training_set,
                       plan)  # fmt: skip
        return [row(config["run_date"]) for row in rows]
    finally:
        if cached:
            data.unpersist()


@dataclass
class Search:
    """The assembled data of one search, cut into its parts, and what every run is tagged
    with."""

    fit_rows: object  # the training split without its validation fold: the winner's fit
    validation: object  # the validation fold: tuning scores, the winner's choice
    train_all: object  # the whole training split: the baseline's rate
    test: object  # the test split: the report
    data_tags: dict
    seed: int
    n_fit_users: int = 0
    tune_rows: object = None  # fit_rows, or a seeded sample of its users: the tuning fits
    n_tune_users: int = 0
    feature_std: list[float] | None = None  # each feature's standard deviation on fit_rows
    correction: float = 1.0  # evaluation.odds_correction of the training split's weights
    purchase_value: float | None = None  # with contact_cost: the expected-profit threshold
    contact_cost: float | None = None
    threshold_rule: str = ""
    example: object = None  # a few test rows' raw features (pandas): the models' input example


def _search(spark, data, training_table, config, model_name, seed, training_set, plan):
    """The grid search (`plan`), finalists, baseline and gate of `train`, over the assembled
    data; returns the candidates' `row` methods."""
    import mlflow
    from pyspark.sql import functions as F

    train_all = data.where(F.col("split") == "train")
    in_fold = F.col("split_bucket") % VALIDATION_FOLD == 0
    version = table_version(spark, training_table)
    rows, checksum = training_fingerprint(spark, training_table, config["run_date"], version)
    search = Search(
        fit_rows=train_all.where(~in_fold), validation=train_all.where(in_fold),
        train_all=train_all, test=data.where(F.col("split") == "test"), seed=seed,
        data_tags={"training_table": training_table, "training_table_version": str(version),
                   "run_date": str(config["run_date"]), "training_rows": str(rows),
                   "training_checksum": str(checksum)},
    )  # fmt: skip
    search.n_fit_users = search.fit_rows.count()
    # a single grid point is fitted on every user at once: a sample would only add a refit
    single = sum(len(points) for points in plan.grids.values()) == 1
    max_users = None if single else optional_int(config.get("tuning_max_users"))
    search.tune_rows, search.n_tune_users = tuning_sample(
        search.fit_rows, search.n_fit_users, max_users, seed
    )
    if search.n_tune_users < search.n_fit_users:
        progress("propensity", f"tuning on a seeded sample of {search.n_tune_users:,} of the "
                 f"{search.n_fit_users:,} training users (var propensity_tuning_max_users); "
                 "the winner is refitted on all of them")  # fmt: skip
    search.example = (training_set.where(F.col("split") == "test").orderBy("user_id")
                      .select(*FEATURES).limit(5).toPandas())  # fmt: skip
    fitted_on = training_set.where(
        (F.col("split") == "train") & (F.col("split_bucket") % VALIDATION_FOLD != 0)
    )
    spread = fitted_on.agg(*(F.stddev_samp(f).alias(f) for f in FEATURES)).first()
    search.feature_std = [float(spread[f] or 0.0) for f in FEATURES]
    weights = dict(train_all.groupBy("label").agg(F.max("class_weight")).collect())
    search.correction = evaluation.odds_correction(weights[0], weights[1])
    search.purchase_value = optional_float(config.get("purchase_value"))
    search.contact_cost = optional_float(config.get("contact_cost"))
    candidates: list[Candidate] = []
    with mlflow.start_run(run_name=f"build {datetime.now(UTC):%Y-%m-%d %H:%M}"):
        mlflow.set_tags({**search.data_tags, "pipeline": "purchase_propensity",
                         "search": "whole grid" if plan.full else "winner refitted",
                         "search_reason": plan.reason})  # fmt: skip
        tuned, finalists, chosen = _tune_and_finalise(search, plan.grids)
        candidates += tuned + list(finalists.values())
        candidates.append(_baseline(search))
        winner = finalists[chosen]
        # What the winner was trained on, for the drift check of later run dates.
        with mlflow.start_run(run_id=winner.mlflow_run_id, nested=True):
            tracking.log_feature_reference(drift.reference(training_set, FEATURES))
        gate(spark, search, winner, model_name,
             force_promote=as_bool(config.get("force_promote", False)),
             min_improvement=optional_float(config.get("gate_min_improvement")))  # fmt: skip
        mlflow.set_tags({"winner": winner.algorithm, "gate_decision": winner.gate_decision})
        mlflow.log_metrics({f"winner_{k}": v for k, v in winner.metrics.items()})
    return [c.row for c in candidates]


def _tune_and_finalise(search: Search, grids: dict[str, list[dict]]):
    """Every grid point of every algorithm of `grids` tuned; the best of each is its finalist,
    and the best finalist (chosen on validation before any refit) is refitted on all the fit
    users when the grid was tuned on a sample. Returns (the tuning candidates, {algorithm: its
    finalist}, the winning algorithm)."""
    algorithms = [a for a in ALGORITHMS if a in grids]
    candidates, best_of = [], {}  # best_of: algorithm: (candidate, its model on the server)
    try:
        for algorithm in algorithms:
            tuned = [_tune(search, algorithm, params) for params in grids[algorithm]]
            candidates += [candidate for candidate, _ in tuned]
            auc_prs = [c.metrics.get("validation_auc_pr", -1.0) for c, _ in tuned]
            best = auc_prs.index(max(auc_prs))
            for i, (_, model) in enumerate(tuned):
                if i != best:
                    release(model)
            best_of[algorithm] = tuned[best]
        chosen = max(algorithms, key=lambda a: best_of[a][0].metrics.get("validation_auc_pr",
                                                                           -1.0))  # fmt: skip
        if search.n_tune_users < search.n_fit_users:
            best_of[chosen] = _refit(search, *best_of.pop(chosen))
        finalists = {}
        for algorithm in algorithms:  # _final releases each model
            finalists[algorithm] = _final(search, *best_of.pop(algorithm))
    finally:
        for _, model in best_of.values():
            release(model)
    return candidates, finalists, chosen


def _log_run(search: Search, algorithm: str, stage: str, params: dict, found: dict) -> None:
    """Tags, parameters and metrics of one candidate's MLflow run (the active run)."""
    import mlflow

    mlflow.set_tags({**search.data_tags, "algorithm": algorithm, "stage": stage})
    mlflow.log_params(params)
    mlflow.log_metrics(found)


def _tune(search: Search, algorithm: str, params: dict):
    """One grid point: fitted without the validation fold, scored on it. Returns the candidate
    and its model, still on the server (the caller keeps the best and releases the others)."""
    import mlflow

    started = time.perf_counter()
    model = estimator(algorithm, params, search.seed).fit(search.tune_rows)
    seconds = time.perf_counter() - started
    try:
        with mlflow.start_run(run_name=f"{algorithm} tuning", nested=True) as run:
            found, labels, probs = _validate(search, model)
            sizes = {"n_fit_users": search.n_tune_users, "n_scored_users": len(labels)}
            _log_run(search, algorithm, "tuning", params,
                     {**found, **sizes, "training_seconds": seconds})  # fmt: skip
    except BaseException:
        release(model)
        raise
    auc_pr = found.get("validation_auc_pr", float("nan"))
    progress(
        "propensity",
        f"tuning {algorithm} {json.dumps(params, sort_keys=True)}: fitted in {seconds:.1f} s, "
        f"validation AUC-PR {auc_pr:.4f}",
    )
    candidate = Candidate(algorithm, "tuning", params, found, seconds, run.info.run_id,
                          validation_scores=(labels, probs),
                          n_fit_users=search.n_tune_users)  # fmt: skip
    return candidate, model


def _validate(search: Search, model) -> tuple[dict, object, object]:
    """A model's validation metrics and the threshold of predicted_label chosen on the same
    fold, with the fold's (labels, probabilities)."""
    labels, probs = scores(positive_probability(model, search.validation, search.correction))
    found = metrics(labels, probs, "validation")
    if found:
        chosen = evaluation.choose_threshold(labels, probs, search.purchase_value,
                                             search.contact_cost)  # fmt: skip
        search.threshold_rule = chosen["rule"]
        found |= {"validation_threshold": chosen["threshold"],
                  "validation_flagged_share": chosen["flagged_share"]}  # fmt: skip
    return found, labels, probs


def _refit(search: Search, best: Candidate, sampled_model):
    """The winner tuned on a sample, fitted again with the same parameters on every training
    user outside the validation fold and scored on the fold (its threshold and gate figures
    come from this fit); releases the sample's model. Returns (candidate, model)."""
    release(sampled_model)
    started = time.perf_counter()
    model = estimator(best.algorithm, best.params, search.seed).fit(search.fit_rows)
    seconds = time.perf_counter() - started
    try:
        found, labels, probs = _validate(search, model)
    except BaseException:
        release(model)
        raise
    progress("propensity", f"refitted {best.algorithm} on all {search.n_fit_users:,} training "
             f"users in {seconds:.1f} s: validation AUC-PR "
             f"{found.get('validation_auc_pr', float('nan')):.4f} (on the sample "
             f"{best.metrics.get('validation_auc_pr', float('nan')):.4f})")  # fmt: skip
    refitted = Candidate(best.algorithm, "tuning", best.params, found, seconds,
                         best.mlflow_run_id, validation_scores=(labels, probs),
                         n_fit_users=search.n_fit_users)  # fmt: skip
    return refitted, model


def _final(search: Search, best: Candidate, model) -> Candidate:
    """The best grid point of an algorithm, as it was fitted (the validation fold stays
    unseen), scored once on the test split and saved as its own run's model, with its curves
    and importances; releases it."""
    import mlflow

    from lakehouse.ml import pyfunc

    algorithm = best.algorithm
    try:
        with mlflow.start_run(run_name=f"{algorithm} final", nested=True) as run:
            labels, probs = scores(positive_probability(model, search.test, search.correction))
            found = {**best.metrics, **metrics(labels, probs, "test")}
            if found.get("validation_threshold") is not None:
                flagged = probs >= found["validation_threshold"]
                found["test_flagged_share"] = float(flagged.mean())
            if "test_brier" in found:
                found |= log_reliability(labels, probs, search.correction, f"{algorithm} (test)")
                found |= log_test_report(labels, probs, search.seed)
            found["odds_correction"] = search.correction
            mlflow.set_tags({"threshold_rule": search.threshold_rule,
                             "tuning_run_id": best.mlflow_run_id})  # fmt: skip
            _log_run(search, algorithm, "final", best.params,
                     {**found, "training_seconds": best.training_seconds,
                      "n_fit_users": best.n_fit_users})  # fmt: skip
            log_curves(labels, probs, f"{algorithm} (test)")
            log_importances(model, algorithm, search.feature_std)
            tracking.log_spark_model(model)
            model_uri = pyfunc.log_model(
                run.info.run_id, algorithm, FEATURES, search.correction,
                found.get("validation_threshold", 0.5),
                search.example, search.data_tags,
            )  # fmt: skip
    finally:
        release(model)
    progress("propensity", f"final {algorithm}: test AUC-PR "
             f"{found.get('test_auc_pr', float('nan')):.4f}, calibration error "
             f"{found.get('test_ece_uncorrected', float('nan')):.4f} before the odds correction "
             f"and {found.get('test_ece', float('nan')):.4f} after")  # fmt: skip
    return Candidate(algorithm, "final", best.params, found, best.training_seconds,
                     run.info.run_id, threshold_rule=search.threshold_rule,
                     validation_scores=best.validation_scores, model_uri=model_uri,
                     n_fit_users=best.n_fit_users)  # fmt: skip


def _baseline(search: Search) -> Candidate:
    """The constant baseline: every test user gets the training split's positive rate."""
    import mlflow
    from pyspark.sql import functions as F

    with mlflow.start_run(run_name="constant baseline", nested=True) as run:
        # rounded: the last digits of a distributed average depend on the merge order
        rate = round(search.train_all.agg(F.avg("label")).first()[0] or 0.0, 12)
        labels = search.test.select("label").toPandas()["label"].to_numpy()
        found = metrics(labels, [rate] * len(labels), "test")
        _log_run(search, "constant", "baseline", {"positive_rate": rate}, found)
    return Candidate("constant", "baseline", {"positive_rate": rate}, found, 0.0, run.info.run_id)


def gate(spark, search: Search, winner: Candidate, model_name: str,
         force_promote: bool = False, min_improvement: float | None = None) -> None:  # fmt: skip
    """Registers the winner and moves the champion alias to it only if its validation AUC-PR
    beats the current champion's on the same validation fold by more than the margin
    (gate_decision); records the decision on the candidate."""
    from mlflow import MlflowClient

    version = tracking.register(
        model_name, winner.mlflow_run_id,
        {**search.data_tags, "algorithm": winner.algorithm,
         GATE_METRIC: str(winner.metrics.get(GATE_METRIC)),
         # what scoring needs besides the Spark model: the calibration and the threshold
         "odds_correction": repr(winner.metrics.get("odds_correction", 1.0)),
         "threshold": repr(winner.metrics.get("validation_threshold", 0.5)),
         "threshold_rule": winner.threshold_rule},
        "Purchase propensity (Spark ML classifier)", source=winner.model_uri,
    )  # fmt: skip
    winner.registered_version = int(version.version)

    def compare() -> dict:
        labels, new = winner.validation_scores
        old_labels, old = champion_scores(search.validation, model_name)
        if len(old_labels) != len(labels) or not (old_labels == labels).all():
            raise RuntimeError("the validation fold's users came back in another order")
        return evaluation.paired_bootstrap_gain(labels, new, old, "auc_pr",
                                                seed=search.seed)  # fmt: skip

    current = tracking.champion(model_name)
    promote, decision = gate_decision(
        int(version.version), winner.metrics.get(GATE_METRIC, -1.0),
        current, compare, force_promote, min_improvement,
    )  # fmt: skip
    if promote:
        tracking.promote(model_name, version.version, reason=decision)
    elif current is not None:  # the retraining's cadence restarts from this date (retraining)
        tracking.record_kept(model_name, current, search.data_tags["run_date"])
    winner.is_champion = promote
    winner.gate_decision = decision
    client = MlflowClient()
    client.set_model_version_tag(model_name, version.version, "gate_decision", decision)
    client.set_tag(winner.mlflow_run_id, "registered_version", version.version)
    client.set_tag(winner.mlflow_run_id, "gate_decision", decision)
    progress("propensity", f"{model_name}: {decision}")


class ChampionUnusable(DataConditionError):
    """The registered champion cannot be loaded or cannot score the comparison data."""


def gate_decision(new_version: int, new_score: float, current, compare, force_promote: bool,
                  min_improvement: float | None = None) -> tuple[bool, str]:  # fmt: skip
    """(promote?, the decision in one line). `current` is the champion's registry entry (None:
    none registered); `compare()` gives the challenger's `gain` over it on the validation fold
    and the gain's bootstrap `standard_error` (evaluation.paired_bootstrap_gain). Promotes only
    when the gain exceeds the margin: `min_improvement` when given (var gate_min_improvement),
    else GATE_MARGIN_SE standard errors. Fails closed: only "no champion registered" promotes
    without a comparison; a champion that cannot be loaded or cannot score stops the node
    (ChampionUnusable) unless `force_promote` says to replace it anyway."""
    if current is None:
        return True, f"promoted: no champion yet; {GATE_METRIC} {new_score:.4f}"
    try:
        found = compare()
    except Exception as exc:  # noqa: BLE001 - whatever failed, the comparison cannot be made
        if force_promote:
            return True, (f"promoted v{new_version} by force_promote: champion "
                          f"v{current.version} could not be compared ({exc})")  # fmt: skip
        raise ChampionUnusable(
            f"the champion v{current.version} cannot be loaded or cannot score the comparison "
            f"data ({exc}), so v{new_version} was registered but not promoted. If the features "
            "changed on purpose, rerun with --vars '{force_promote: true}' to promote it without "
            "a comparison; otherwise repair the registry."
        ) from exc
    gain = found["gain"]
    if min_improvement is not None:
        margin, how = min_improvement, "var gate_min_improvement"
    else:
        margin = GATE_MARGIN_SE * found["standard_error"]
        how = f"{GATE_MARGIN_SE} bootstrap standard errors, {found['resamples']} resamples"
    promote = gain > margin
    verdict = "promoted" if promote else "kept champion"
    return promote, (
        f"{verdict}: v{new_version} {GATE_METRIC} {new_score:.4f} vs champion v{current.version} "
        f"{new_score - gain:.4f} on the same validation fold; gain {gain:+.4f} "
        f"{'>' if promote else '<='} margin {margin:.4f} ({how})"
    )


def champion_scores(validation, model_name: str):
    """The current champion's (labels, probabilities) on the validation fold, ordered by user
    (raises when it cannot be loaded or cannot score it)."""
    model, _ = load(model_name, f"models:/{model_name}@{tracking.CHAMPION}")
    try:
        return scores(positive_probability(model, validation))
    finally:
        release(model)


def load(model_name: str, uri: str):
    """Loads a registered version (`models:/<name>@champion` or `models:/<name>/<version>`)
    on the server; returns (model, the registry's ModelVersion)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    ref = uri.split("/", 3)[-1]
    if "@" in ref:
        version = client.get_model_version_by_alias(model_name, ref.split("@", 1)[1])
    else:
        version = client.get_model_version(model_name, ref)
    algorithm = version.tags["algorithm"]
    location = tracking.model_location(model_name, version.version)
    return model_class(algorithm).load(location), version


def scoring_version(config: dict, settings: Settings, promoted, kept) -> int | None:
    """The version a run date scores with: the one its search promoted (`promoted`), else the
    champion its decision kept (`kept`); a promoted version rolled back since (`lakehouse
    rollback`) gives way to today's champion, so a rerun of the date scores with it."""
    if promoted is None:
        return kept
    tracking.configure(settings, config["experiment"])
    name = config["registered_model_name"]
    if tracking.version(name, promoted).tags.get("rolled_back_at"):
        now = tracking.champion(name)
        return int(now.version) if now is not None else kept
    return promoted


def score(spark, users, config: dict, settings: Settings, version_number: int, window: dict):
    """Scores the users of the scoring snapshot with registered version `version_number`;
    returns a Spark DataFrame with one row per user: the run date and the windows, probability,
    predicted label, rank, decile, model name and version."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    tracking.configure(settings, config["experiment"])
    model_name = config["registered_model_name"]
    model, version = load(model_name, f"models:/{model_name}/{version_number}")
    # The version's calibration and threshold, registered with it; the var purchase_threshold
    # overrides the threshold. Versions registered before calibration carry neither.
    correction = float(version.tags.get("odds_correction", 1.0))
    threshold, rule = optional_float(config.get("threshold")), "var purchase_threshold"
    if threshold is None:
        threshold = float(version.tags.get("threshold", 0.5))
        rule = version.tags.get("threshold_rule") or (
            "registered before calibration and thresholds, so uncorrected and 0.5: a retraining "
            "with --vars '{force_retrain: true, force_promote: true}' replaces it"
        )
    progress("propensity", f"scoring with {model_name} v{version.version}: odds correction "
             f"{correction:.4f}, threshold {threshold:.4f} ({rule})")  # fmt: skip
    by_probability = Window.orderBy(F.desc("purchase_probability"), F.asc("user_id"))
    scored = (
        positive_probability(
            model, assemble(users.repartition(SCORING_PARTITIONS, "user_id")), correction
        )
        .select(
            F.col("run_date"),
            F.col("features_start_date"),
            F.col("features_end_date"),
            F.lit(window["start_date"]).cast("date").alias("prediction_start_date"),
            F.lit(window["end_date"]).cast("date").alias("prediction_end_date"),
            "user_id",
            F.col("purchase_probability").cast("double").alias("purchase_probability"),
            (F.col("purchase_probability") >= threshold).cast("int").alias("predicted_label"),
        )
        .withColumn("purchase_rank", F.row_number().over(by_probability))
        .withColumn("decile", F.ntile(10).over(by_probability))
        .withColumn("model_name", F.lit(model_name))
        .withColumn("model_version", F.lit(int(version.version)))
        .withColumn("model_algorithm", F.lit(version.tags["algorithm"]))
        .withColumn("scored_at", F.current_timestamp())
    )
    # Materialise before the model is released: the plan refers to the server's cached model.
    result = scored.localCheckpoint(eager=True)
    release(model)
    return result
