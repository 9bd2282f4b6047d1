"""When to retrain: the decision of one run date for each registered model.

A model is retrained when it has no champion, when its champion is older than the cadence
(var `retrain_every_days`: the run date minus the run date the champion was trained for, or
minus the latest retraining that kept it, when its challenger did not pass the gate: a champion
that keeps winning is challenged once per cadence, not every day after its first), when
a feature has drifted (the population stability index of any feature between the champion's
training data and today's scoring snapshot exceeds var `retrain_max_psi`; drift_held_until is
the one exception), when the champion's realised quality fell (the AUC-ROC of its latest
scoring run date whose predicted window has passed, from `gold.ml_model_monitoring` as the
earlier runs left it, is below var `retrain_min_auc`), or when var `force_retrain` says so.
Otherwise the champion is kept, and the decision says why in one line.

A decision is made once per run date: a rerun of the date reads the recorded decision again,
so it trains nothing new and scores with the same version (unless `force_retrain`). A date
earlier than the champion's training date, never run before, is refused: backfills run in
order. When the data cannot support training (an empty training window or label window), the
decision is not to retrain and says why; with no champion either, scoring then stops with that
reason (`DataConditionError`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import date, timedelta

from lakehouse.errors import DataConditionError
from lakehouse.ml import drift, tracking
from lakehouse.ml.connect import progress

SCHEMA = """
    run_date date, registered_model_name string, retrained boolean, reason string,
    champion_version int, champion_trained_on date, champion_age_days int,
    max_feature_psi double, max_psi_feature string, realised_run_date date,
    realised_auc_roc double, feature_psi map<string, double>, decided_at timestamp
"""


@dataclass
class Decision:
    """One row of ml_retraining_decisions."""

    run_date: date
    registered_model_name: str
    retrained: bool
    reason: str
    champion_version: int | None = None
    champion_trained_on: date | None = None
    champion_age_days: int | None = None
    max_feature_psi: float | None = None
    max_psi_feature: str | None = None
    realised_run_date: date | None = None
    realised_auc_roc: float | None = None
    # every feature's PSI, of which max_feature_psi is the largest (ml_feature_drift lists them)
    feature_psi: dict[str, float] | None = None

    def row(self, decided_at) -> tuple:
        return (*asdict(self).values(), decided_at)


COLUMNS = [f.name for f in fields(Decision)] + ["decided_at"]  # SCHEMA's, in its order


@dataclass
class Policy:
    """The vars that decide."""

    every_days: int
    max_psi: float
    force: bool
    min_auc: float | None = None  # null: realised quality does not trigger a retraining


@dataclass
class Realised:
    """A champion's latest realised quality: the run date it scored, with which version, and
    the AUC-ROC once that date's predicted window had passed."""

    run_date: date
    version: int
    auc_roc: float


def if_exists(table):
    """`table` (a DataFrame read by name), or None when no such table exists yet."""
    from pyspark.errors import AnalysisException

    try:
        table.columns  # noqa: B018 - resolves the name (Spark Connect reads lazily)
    except AnalysisException as error:
        if error.getCondition() != "TABLE_OR_VIEW_NOT_FOUND":
            raise
        return None
    return table


def latest_realised(rows) -> dict[str, Realised]:
    """{model name: its latest Realised} from rows of ml_model_monitoring (model_name,
    model_version, run_date, auc_roc); a date without an AUC (one class only) is skipped."""
    latest: dict[str, Realised] = {}
    for r in rows:
        if r.auc_roc is None:
            continue
        seen = latest.get(r.model_name)
        if seen is None or r.run_date > seen.run_date:
            latest[r.model_name] = Realised(r.run_date, int(r.model_version), float(r.auc_roc))
    return latest


def windows(run_windows) -> dict[str, dict]:
    """ml_run_windows as {window_name: row as a dict}."""
    return {r.window_name: r.asDict() for r in run_windows.collect()}


def window_problem(found: dict[str, dict], names: list[str]) -> str | None:
    """Why the named windows cannot be used (no events, or no purchase in a label window),
    in one line naming the dates and the vars that move them; None when they can."""
    for name in names:
        w = found[name]
        empty = w["n_events"] == 0 or (name == "training_label" and w["n_purchases"] == 0)
        if not empty:
            continue
        what = "no purchase" if w["n_events"] else "no events"
        covered = (f"the data covers {w['data_first_date']} to {w['data_last_date']}"
                   if w["data_first_date"] else "no events are loaded")  # fmt: skip
        return (f"{what} from {w['start_date']} to {w['end_date']} ({name.replace('_', ' ')} of "
                f"run date {w['run_date']}); {covered}: choose another run_date, or change "
                "observation_days / prediction_days")  # fmt: skip
    return None


def decide(model_name: str, run_date: date, scoring_set, policy: Policy,
           training_problem: str | None, realised: Realised | None = None,
           retrainings: dict[date, float | None] | None = None) -> Decision:  # fmt: skip
    """The decision for one registered model on `run_date` (`realised`: the model's latest
    realised quality, if any window it scored has passed; `retrainings`: the largest PSI that
    each of its recorded retraining decisions saw, by run date)."""
    current = tracking.champion(model_name)
    if current is None:
        if training_problem:
            return Decision(run_date, model_name, False, f"no champion, and cannot train: "
                            f"{training_problem}")  # fmt: skip
        return Decision(run_date, model_name, True, "no champion registered yet")
    trained_on = date.fromisoformat(current.tags["run_date"])
    age = (run_date - trained_on).days
    if age < 0:
        raise DataConditionError(
            f"run date {run_date} is before the date {trained_on} that the champion of "
            f"{model_name} (v{current.version}) was trained for: run backfills in date order, "
            "or rerun only dates already run"
        )
    kept = last_kept(current, trained_on, run_date)
    reference = tracking.feature_reference(model_name, current.version)
    psi = drift.psi(reference, scoring_set)
    worst = max(psi, key=psi.get)
    answered, lag = kept or trained_on, data_lag_days(reference, trained_on)  # latest retraining
    held = drift_held_until(run_date, answered, (retrainings or {}).get(answered), lag,
                            policy.max_psi)  # fmt: skip
    decision = Decision(run_date, model_name, False, "", int(current.version), trained_on, age,
                        psi[worst], worst, feature_psi=psi)  # fmt: skip
    if realised is not None and realised.version == decision.champion_version:
        decision.realised_run_date, decision.realised_auc_roc = realised.run_date, realised.auc_roc
    reasons = reasons_to_retrain(policy, decision, kept, held)
    if reasons and training_problem:
        wanted = "; ".join(reasons)
        decision.reason = (f"kept champion v{current.version}: would retrain ({wanted}) but "
                           f"cannot: {training_problem}")  # fmt: skip
    elif reasons:
        decision.retrained, decision.reason = True, "; ".join(reasons)
    else:
        since = (f", kept by the retraining of {kept} ({_days((run_date - kept).days)} ago)"
                 if kept else "")  # fmt: skip
        decision.reason = (
            f"kept champion v{current.version}: trained for {trained_on}, {_days(age)} old"
            f"{since} (retrain_every_days {policy.every_days}); "
        )
        if held:
            decision.reason += (
                f"feature {worst} drifted (PSI {psi[worst]:.3f} > retrain_max_psi "
                f"{policy.max_psi}), but the retraining of {answered} already answered a drift, "
                f"and a retraining before {held} trains on no day after it (the features end "
                f"{_days(lag)} before the run date)"
            )
        else:
            decision.reason += (f"largest PSI {psi[worst]:.3f} on {worst} (retrain_max_psi "
                                f"{policy.max_psi})")  # fmt: skip
        if decision.realised_auc_roc is not None:
            decision.reason += (
                f"; realised AUC-ROC {decision.realised_auc_roc:.3f} on run date "
                f"{decision.realised_run_date} (retrain_min_auc {policy.min_auc})"
            )
    return decision


def last_kept(champion, trained_on: date, run_date: date) -> date | None:
    """The run date of the latest retraining that kept `champion` (a registry entry; its
    tracking.KEPT_FOR tag) when it falls after its training date and not after `run_date`;
    else None."""
    tag = champion.tags.get(tracking.KEPT_FOR)
    kept = date.fromisoformat(tag) if tag else None
    return kept if kept is not None and trained_on < kept <= run_date else None


def data_lag_days(reference: dict, trained_on: date) -> int | None:
    """How many days before its run date a model's training features end: 0 for a model
    referenced on the scoring snapshot of its run date (the recommender), prediction_days for
    the propensity model (its training snapshot); None for a reference that does not record its
    end date (registered before it did)."""
    end = reference.get("features_end_date")
    return None if end is None else (trained_on - date.fromisoformat(end)).days


def drift_held_until(run_date: date, answered: date, psi_then: float | None,
                     lag_days: int | None, max_psi: float) -> date | None:  # fmt: skip
    """The date before which a drift alone does not retrain again, or None when it may.

    `answered`: the champion's latest retraining (its training date, or the later one that kept
    it), which saw a largest PSI of `psi_then`. When that was a drift too (above `max_psi`), the
    retraining already answered it with the newest data it could train on, whose features end
    `lag_days` before the run date. Until `lag_days` after it, a retraining would train on no day
    after `answered`, so no day the drift was seen on: the drift stays, and without this hold it
    retrained every day (10 M benchmark state, 2019-12-12 and 12-13). The cadence still retrains
    meanwhile. A model whose features end on its run date (lag 0) is never held."""
    if psi_then is None or psi_then <= max_psi or not lag_days:
        return None
    until = answered + timedelta(days=lag_days)
    return until if run_date < until else None


def reasons_to_retrain(policy: Policy, decision: Decision, kept: date | None = None,
                       drift_held: date | None = None) -> list[str]:  # fmt: skip
    """Why the champion of `decision` (its age, largest PSI and realised quality filled in)
    should be retrained under `policy`, one phrase per reason; empty: keep it. `kept`: the
    latest retraining that kept the champion (last_kept), from which the cadence counts;
    `drift_held`: a drift does not count before that date (drift_held_until)."""
    reasons = []
    if policy.force:
        reasons.append("forced by var force_retrain")
    age = decision.champion_age_days
    due = age if kept is None else (decision.run_date - kept).days
    if due >= policy.every_days:
        since = (f", and the retraining of {kept} that kept it was {_days(due)} ago"
                 if kept else "")  # fmt: skip
        reasons.append(f"champion v{decision.champion_version} is {_days(age)} old{since} "
                       f"(retrain_every_days {policy.every_days})")  # fmt: skip
    psi = decision.max_feature_psi
    if psi > policy.max_psi and drift_held is None:
        reasons.append(f"feature {decision.max_psi_feature} drifted: PSI {psi:.3f} > "
                       f"retrain_max_psi {policy.max_psi}")  # fmt: skip
    auc = decision.realised_auc_roc
    if policy.min_auc is not None and auc is not None and auc < policy.min_auc:
        reasons.append(f"realised AUC-ROC {auc:.3f} of v{decision.champion_version} on run "
                       f"date {decision.realised_run_date} < retrain_min_auc "
                       f"{policy.min_auc}")  # fmt: skip
    return reasons


def decide_all(spark, model_names: list[str], run_windows, scoring_set, policy: Policy,
               recorded=None, monitoring=None) -> list[tuple]:  # fmt: skip
    """The decisions of this run date for every model, as rows of SCHEMA. Decisions already
    recorded for the date (`recorded`: the table so far) are returned again, unless forced.
    `monitoring`: ml_model_monitoring as earlier runs left it (None before its first build)."""
    from datetime import UTC, datetime

    found = windows(run_windows)
    run_date = found["scoring_features"]["run_date"]
    scoring_problem = window_problem(found, ["scoring_features"])
    if scoring_problem:
        raise DataConditionError(f"nothing to score: {scoring_problem}")
    training_problem = window_problem(found, ["training_features", "training_label"])
    earlier = {}
    if recorded is not None and not policy.force:
        earlier = {r.registered_model_name: r for r in
                   recorded.where(f"run_date = date'{run_date}'").collect()}  # fmt: skip
    retrainings: dict[str, dict[date, float | None]] = {}
    if recorded is not None:
        for r in recorded.where("retrained").select(
                "registered_model_name", "run_date", "max_feature_psi").collect():  # fmt: skip
            retrainings.setdefault(r.registered_model_name, {})[r.run_date] = r.max_feature_psi
    now = datetime.now(UTC).replace(tzinfo=None)
    realised = latest_realised([] if monitoring is None else monitoring.select(
        "model_name", "model_version", "run_date", "auc_roc").collect())  # fmt: skip
    rows = []
    for name in model_names:
        if name in earlier:
            row = earlier[name]
            progress("retraining", f"{name}: decision for {run_date} already made: {row.reason}")
            recorded_row = row.asDict()  # by name: a table from before a column was added
            rows.append(tuple(recorded_row.get(column) for column in COLUMNS))
            continue
        decision = decide(name, run_date, scoring_set, policy, training_problem,
                          realised.get(name), retrainings.get(name))  # fmt: skip
        verdict = "retrain" if decision.retrained else "no retrain"
        progress("retraining", f"{name}: {verdict} for {run_date}: {decision.reason}")
        rows.append(decision.row(now))
    return rows


def decision_of(decisions, run_date, model_name: str):
    """The recorded decision (a Row of ml_retraining_decisions) for `model_name` on `run_date`;
    stops with a clear message when the date has none (its decision model was not built)."""
    from pyspark.sql import functions as F

    row = decisions.where(
        (F.col("run_date") == F.lit(run_date)) & (F.col("registered_model_name") == model_name)
    ).first()
    if row is None:
        raise DataConditionError(
            f"no retraining decision recorded for {model_name} on {run_date}: build the "
            "decisions first (dbt build -s +ml_retraining_decisions)"
        )
    return row


@dataclass
class FullWork:
    """Whether a retraining redoes its whole comparison (every recommender method, the whole
    propensity grid) or only refits what the latest one chose: `due` says why it is due, None
    when it is not; `latest` is the latest earlier run date that did it, `age` its age in days."""

    due: str | None
    latest: date | None = None
    age: int | None = None


def full_work(done_on, run_date: date, every_days: int, var: str, what: str,
              done: str) -> FullWork:  # fmt: skip
    """The cadence of the whole comparison (`what`; `done` says how it is done, "compared
    them all"): due when `every_days` is 0 (the var `var`), when no run date of `done_on` before
    `run_date` did it, or when the latest that did is `every_days` or more before it. A forced
    rerun of a date does not count its own earlier run."""
    earlier = [d for d in done_on if d < run_date]
    if not every_days:
        return FullWork(f"{what} ({var} 0)")
    if not earlier:
        return FullWork(f"{what}: no earlier retraining {done}")
    latest = max(earlier)
    age = (run_date - latest).days
    if age >= every_days:
        return FullWork(f"{what}: the latest that {done}, on {latest}, is {age} days old "
                        f"({var} {every_days})", latest, age)  # fmt: skip
    return FullWork(None, latest, age)


def date_to_train(dbt, session, windows, decisions, name: str, forced, component: str):
    """For a training node: the run date to train for, or None when the node adds nothing on
    this run's date, saying why in one line: the date already trained (its rows are in the
    node's table, unless `forced`), or its decision is to keep the champion.

    The model passes its refs (`windows`: ml_run_windows, `decisions`: ml_retraining_decisions)
    and its meta values (`name`, `forced`): dbt finds refs and config keys in the model's own
    code only."""
    from pyspark.sql import functions as F

    from lakehouse.ml.connect import as_bool

    run_date = windows.first().run_date
    decision = decision_of(decisions, run_date, name)
    if dbt.is_incremental and not as_bool(forced):
        done = session.table(str(dbt.this)).where(F.col("run_date") == F.lit(run_date))
        if done.limit(1).count():
            progress(component, f"{name}: already trained for {run_date}; nothing to add")
            return None
    if not decision.retrained:
        progress(component, f"{name}: not retrained on {run_date}: {decision.reason}")
        return None
    return run_date


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"
