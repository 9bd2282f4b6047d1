"""Whether each registered model retrains on this run date, and why: one row per run date and
registered model (grain: run_date, registered_model_name).

Retrains when there is no champion, the champion is older than var retrain_every_days, a
feature's PSI between the champion's training data and today's scoring snapshot exceeds var
retrain_max_psi, or var force_retrain is set; otherwise keeps the champion and says why. A
rerun of a date returns its recorded decisions. The logic is in `lakehouse.ml.retraining`.
"""

from lakehouse.ml import retraining, tracking
from lakehouse.ml.connect import as_bool
from lakehouse.platform.config import Settings


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="merge",
        unique_key=["run_date", "registered_model_name"],
    )
    tracking.configure(Settings.from_env(), dbt.config.meta_get("experiment"))
    policy = retraining.Policy(
        every_days=int(dbt.config.meta_get("retrain_every_days")),
        max_psi=float(dbt.config.meta_get("retrain_max_psi")),
        force=as_bool(dbt.config.meta_get("force_retrain")),
    )
    recorded = session.table(str(dbt.this)) if dbt.is_incremental else None
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
    )
    return session.createDataFrame(rows, retraining.SCHEMA)
