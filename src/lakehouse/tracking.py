"""MLflow for the pipeline: where runs, artifacts and registered models live, and the registry.

A SQLite store and an artifact folder under the state folder (or MLFLOW_TRACKING_URI), one
experiment per pipeline. Spark models cannot go through `mlflow.spark` from a Spark Connect
client (it needs Py4J), so a fitted model is saved by the server into `Settings.model_dir`,
that folder is logged as the run's `spark_model` artifacts, and the registered version points
at those artifacts. Loading a version downloads them back into `model_dir`, where the server
can read them. The champion is the registered version holding the alias `champion`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from lakehouse.config import Settings

CHAMPION = "champion"
MODEL_ARTIFACT = "spark_model"

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def configure(settings: Settings, experiment: str) -> str:
    """Point MLflow at the project's store and select `experiment` (created on first use with
    its artifacts under the state folder); returns the experiment id."""
    import mlflow

    settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        location = (settings.mlflow_artifacts_dir / experiment).as_uri()
        experiment_id = mlflow.create_experiment(experiment, artifact_location=location)
    else:
        experiment_id = found.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def scratch_dir(settings: Settings, kind: str) -> Path:
    """A new empty folder under model_dir for one save or download."""
    path = settings.model_dir / kind / uuid.uuid4().hex
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def log_spark_model(model, settings: Settings) -> None:
    """Save a fitted pyspark.ml model on the server and log the folder as the active run's
    `spark_model` artifacts (the server-side copy is removed afterwards)."""
    import mlflow

    path = scratch_dir(settings, "saved")
    model.write().overwrite().save(str(path))
    mlflow.log_artifacts(str(path), artifact_path=MODEL_ARTIFACT)
    shutil.rmtree(path, ignore_errors=True)


def register(name: str, run_id: str, tags: dict[str, str], description: str = ""):
    """Register the run's `spark_model` artifacts as a new version of `name`."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    if client.search_registered_models(filter_string=f"name = '{name}'") == []:
        client.create_registered_model(name, description=description or "Spark ML model")
    source = f"{mlflow.get_run(run_id).info.artifact_uri}/{MODEL_ARTIFACT}"
    return client.create_model_version(name, source=source, run_id=run_id, tags=tags)


def champion(name: str):
    """The registered version holding the `champion` alias, or None."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return MlflowClient().get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def promote(name: str, version: str) -> None:
    from mlflow import MlflowClient

    MlflowClient().set_registered_model_alias(name, CHAMPION, version)


def download(uri: str, settings: Settings) -> Path:
    """Download a registered model's artifacts (`models:/<name>@champion`) into a new folder
    under model_dir; the caller removes it once the server has loaded the model."""
    import mlflow

    path = scratch_dir(settings, "loaded")
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(path)))
