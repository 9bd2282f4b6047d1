"""The propensity finalists' decile tables on the test split, one row per run date, finalist
and decile (grain: run_date, mlflow_run_id, decile), kept for every run date that retrained.

Reads the `decile_table.json` that the propensity search logged with each final candidate of
ml_propensity_candidates (users ranked by calibrated probability, 10 groups, decile 1 the
most likely): users, buyers, buying rate, lift over the overall rate and cumulative capture.
A finalist already here adds nothing; the work of computing the table is in
`lakehouse.ml.evaluation.decile_table`.
"""

from lakehouse.ml import tracking
from lakehouse.platform.config import Settings

SCHEMA = """
    run_date date, algorithm string, mlflow_run_id string, is_champion boolean, decile int,
    users bigint, buyers bigint, buying_rate double, lift double, cumulative_capture double
"""


def model(dbt, session):
    import mlflow
    from pyspark.sql import functions as F

    dbt.config(materialized="incremental", incremental_strategy="append")
    finals = dbt.ref("ml_propensity_candidates").where(F.col("stage") == "final")
    if dbt.is_incremental:
        done = session.table(str(dbt.this)).select("mlflow_run_id").distinct()
        finals = finals.join(done, "mlflow_run_id", "left_anti")
    tracking.configure(Settings.from_env(), dbt.config.meta_get("experiment"))
    rows = []
    for final in finals.collect():
        table = mlflow.artifacts.load_dict(f"runs:/{final.mlflow_run_id}/decile_table.json")
        for d in table["deciles"]:
            rows.append((
                final.run_date, final.algorithm, final.mlflow_run_id, bool(final.is_champion),
                d["decile"], d["users"], d["buyers"], d["buying_rate"], d["lift"],
                d["cumulative_capture"],
            ))  # fmt: skip
    return session.createDataFrame(rows, SCHEMA)
