"""Purchase probability of every user, one row per user (grain: user_id).

Loads `models:/<registered_model_name>@champion` from the MLflow registry (never the object
trained in the same build), scores every user of ml_user_training_set and ranks them. The
ref to ml_propensity_candidates only orders the DAG: a build trains (and maybe promotes)
before it scores. Building this model alone scores with the champion of an earlier build.
"""

from lakehouse import propensity
from lakehouse.config import Settings


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("ml_propensity_candidates")
    users = dbt.ref("ml_user_training_set")
    config = {
        "experiment": dbt.config.meta_get("experiment"),
        "registered_model_name": dbt.config.meta_get("registered_model_name"),
        "threshold": dbt.config.meta_get("threshold"),
    }
    return propensity.score(session, users, config, Settings.from_env())
