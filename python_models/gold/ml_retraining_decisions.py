"""Whether each registered model retrains on this run date, and why: one row per run date and
registered model (grain: run_date, registered_model_name).

Retrains when there is no champion, the champion is older than var retrain_every_days, a
feature's PSI between the champion's training data and today's scoring snapshot exceeds var
retrain_max_psi (unless its latest retraining already answered a drift: see
retraining.drift_held_until), the champion's latest realised AUC-ROC is below var
retrain_min_auc, or var force_retrain is set; otherwise keeps the champion and says why. A
rerun of a date returns its recorded decisions. The logic is in `lakehouse.ml.retraining`.

The realised quality is `gold.ml_model_monitoring` as the earlier runs left it, read as the
source `gold_history` (a ref would close a loop: monitoring reads the scores, which follow
these decisions); before that table's first build there is none.
"""

from lakehouse.ml import retraining, tracking
from lakehouse.ml.connect import as_bool
from lakehouse.platform.config import Settings


def model(dbt, session):
    # Every run writes one row per registered model for its run date, so replacing the date's
    # rows keeps the key (run_date, registered_model_name) unique, in one direct write; a
    # merge went through a temporary table (create, merge, drop: three statements).
    dbt.config(
        materialized="incremental",
        incremental_strategy="append",
        replace_on="run_date",
        on_schema_change="append_new_columns",
    )
    tracking.configure(Settings.from_env(), dbt.config.meta_get("experiment"))
    policy = retraining.Policy(
        every_days=int(dbt.config.meta_get("retrain_every_days")),
        max_psi=float(dbt.config.meta_get("retrain_max_psi")),
        force=as_bool(dbt.config.meta_get("force_retrain")),
        min_auc=_number_or_none(dbt.config.meta_get("retrain_min_auc")),
    )
    recorded = session.table(str(dbt.this)) if dbt.is_incremental else None
    monitoring = retraining.if_exists(dbt.source("gold_history", "ml_model_monitoring"))
    rows = retraining.decide_all(
        session,
        [
            dbt.config.meta_get("propensity_model_name"),
            dbt.config.meta_get("recommender_model_name"),
        ],
        dbt.ref("ml_run_windows"),
        dbt.ref("ml_user_scoring_set"),
        policy,
        recorded,
        monitoring,
    )
    return session.createDataFrame(rows, retraining.SCHEMA)


def _number_or_none(value):
    return None if value in (None, "", "None", "none", "null") else float(value)
