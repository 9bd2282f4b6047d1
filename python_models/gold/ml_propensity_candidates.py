"""Purchase-propensity candidates, one row per trained candidate (grain: mlflow_run_id).

Tunes LogisticRegression and RandomForestClassifier on the training split of
ml_user_training_set, refits the best of each, evaluates them and a constant baseline on the
test split, logs every candidate to MLflow, registers the winner and applies the champion
gate. The work is in `lakehouse.propensity`; the grids and names come from this model's
`meta` in the YAML.
"""

from lakehouse import propensity
from lakehouse.config import Settings

SCHEMA = """
    algorithm string, stage string, params string, validation_auc_roc double,
    validation_auc_pr double, test_auc_roc double, test_auc_pr double,
    training_seconds double, mlflow_run_id string, registered_version int,
    is_champion boolean, gate_decision string
"""


def model(dbt, session):
    dbt.config(materialized="table")
    training_set = dbt.ref("ml_user_training_set")
    config = {
        "experiment": dbt.config.meta_get("experiment"),
        "registered_model_name": dbt.config.meta_get("registered_model_name"),
        "seed": dbt.config.meta_get("seed"),
        "logistic_regression_grid": dbt.config.meta_get("logistic_regression_grid"),
        "random_forest_grid": dbt.config.meta_get("random_forest_grid"),
        "cache_training_data": dbt.config.meta_get("cache_training_data"),
    }
    # The training set lives in the same (gold) schema as this model.
    training_table = f"{dbt.this.schema}.ml_user_training_set"
    rows = propensity.train(session, training_set, training_table, config, Settings.from_env())
    return session.createDataFrame([tuple(r.values()) for r in rows], SCHEMA)
