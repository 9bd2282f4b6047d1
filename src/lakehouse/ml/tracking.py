"""MLflow for the pipeline: where runs, artifacts and registered models live, and the registry.

A SQLite store and an artifact folder under the state folder (or MLFLOW_TRACKING_URI and
LAKEHOUSE_ARTIFACT_ROOT), one experiment per pipeline. Spark models cannot go through
`mlflow.spark` from a Spark Connect client (it needs Py4J), so the server saves a fitted model
straight into the active run's artifact location, as its `spark_model` artifacts; loading a
version has the server read it there, so the pipeline works the same when the server is a
cluster's driver. A propensity version is a full MLflow model that wraps a copy of that folder
(lakehouse.ml.pyfunc, copied through MLflow's client) and also loads with
`mlflow.pyfunc.load_model` anywhere. The champion is the registered version holding the alias
`champion`.
"""

from __future__ import annotations

import os

from lakehouse.platform.config import Settings

CHAMPION = "champion"
MODEL_ARTIFACT = "spark_model"
RECOMMENDER_ARTIFACT = "recommender"
SPARK_MODEL_PATH = "spark_model_path"  # version tag: the Spark model inside an MLflow model
FEATURE_REFERENCE = "feature_reference.json"

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def configure(settings: Settings, experiment: str) -> str:
    """Point MLflow at the project's store and select `experiment` (created on first use with
    its artifacts under `Settings.artifact_root`); returns the experiment id."""
    import mlflow

    settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        location = f"{settings.artifact_root.rstrip('/')}/{experiment}"
        experiment_id = mlflow.create_experiment(experiment, artifact_location=location)
    else:
        experiment_id = found.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def spark_location(artifact_uri: str) -> str:
    """The artifact URI as a path the Spark server can write and read. A proxied location
    (`mlflow-artifacts:`, served by a tracking server) is only reachable through MLflow's own
    client, so it is refused with what to set instead."""
    if artifact_uri.startswith(("mlflow-artifacts:", "http:", "https:", "runs:", "models:")):
        raise ValueError(
            f"MLflow artifact location {artifact_uri} is not storage the Spark server can write "
            "to. Run the tracking server with a direct artifact root (--default-artifact-root "
            "s3://... --no-serve-artifacts) or set LAKEHOUSE_ARTIFACT_ROOT for new experiments."
        )
    return artifact_uri


def log_spark_model(model) -> str:
    """Has the server save a fitted pyspark.ml model as the active run's `spark_model`
    artifacts; returns where it went."""
    import mlflow

    location = spark_location(f"{mlflow.get_artifact_uri()}/{MODEL_ARTIFACT}")
    model.write().overwrite().save(location)
    return location


def log_recommender_description(method: str, params: dict) -> str:
    """A recommender that learns nothing ahead (a baseline fitted on the day's interactions) as
    the active run's `recommender` artifacts: its method and parameters. Returns the folder."""
    import mlflow

    mlflow.log_dict({"method": method, "params": params}, f"{RECOMMENDER_ARTIFACT}/method.json")
    return RECOMMENDER_ARTIFACT


def register(name: str, run_id: str, tags: dict[str, str], description: str = "",
             artifact: str = MODEL_ARTIFACT, source: str = ""):  # fmt: skip
    """Register a new version of `name`: the MLflow model at `source` (a `models:/m-...` URI;
    its Spark model is then `artifacts/spark_model` inside it, tag `spark_model_path`), else
    the run's `artifact` folder (the `spark_model` by default)."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    if client.search_registered_models(filter_string=f"name = '{name}'") == []:
        client.create_registered_model(name, description=description or "Spark ML model")
    if source:
        tags = {**tags, SPARK_MODEL_PATH: f"artifacts/{MODEL_ARTIFACT}"}
    else:
        source = f"{mlflow.get_run(run_id).info.artifact_uri}/{artifact}"
    return client.create_model_version(name, source=source, run_id=run_id, tags=tags)


def champion(name: str):
    """The registered version holding the `champion` alias; None only when the registry says
    there is none (no such model, or no alias yet). Any other failure (an unreachable or broken
    registry) is raised: a caller must never mistake it for "no champion" and promote."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return MlflowClient().get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        absent = exc.error_code == "RESOURCE_DOES_NOT_EXIST" or (
            exc.error_code == "INVALID_PARAMETER_VALUE" and "alias" in str(exc)
            and "not found" in str(exc)
        )  # fmt: skip
        if absent:
            return None
        raise


def version(name: str, number: int | str):
    """A registered version of `name`."""
    from mlflow import MlflowClient

    return MlflowClient().get_model_version(name, str(number))


def versions_for_run_date(name: str, run_date: str) -> list:
    """The versions of `name` trained for `run_date` (their `run_date` tag), oldest first."""
    from mlflow import MlflowClient

    found = MlflowClient().search_model_versions(filter_string=f"name = '{name}'")
    return sorted((v for v in found if v.tags.get("run_date") == run_date),
                  key=lambda v: int(v.version))  # fmt: skip


def log_feature_reference(reference: dict) -> None:
    """The training data's feature distribution (lakehouse.ml.drift), in the active run."""
    import mlflow

    mlflow.log_dict(reference, FEATURE_REFERENCE)


def feature_reference(name: str, number: int | str) -> dict:
    """The feature distribution a registered version was trained on."""
    import mlflow

    return mlflow.artifacts.load_dict(f"runs:/{version(name, number).run_id}/{FEATURE_REFERENCE}")


def use_registry(settings: Settings) -> None:
    """Point MLflow at the project's store, without choosing an experiment."""
    import mlflow

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)


def promote(
    name: str, version: str, reason: str = "promoted by the gate", rolling_back: bool = False
) -> None:
    """Moves the champion alias to `version`, recording on it when and from which version
    (`previous_champion`, what `rollback` returns to) and why. A rollback keeps the restored
    version's own `previous_champion`, so rolling back again walks one more step back."""
    from datetime import UTC, datetime

    from mlflow import MlflowClient

    client = MlflowClient()
    before = champion(name)
    if before is not None and str(before.version) == str(version):
        return
    tags = {"champion_since": datetime.now(UTC).isoformat(timespec="seconds"),
            "previous_champion": str(before.version) if before is not None else "",
            "champion_reason": reason}  # fmt: skip
    if rolling_back:
        del tags["previous_champion"]
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)
    client.set_registered_model_alias(name, CHAMPION, str(version))


# The tag on a champion that a retraining kept (its challenger did not pass the gate): the run
# date of the latest such retraining. The cadence counts from it (lakehouse.ml.retraining).
KEPT_FOR = "kept_by_retraining_for"


def record_kept(name: str, champion_version, run_date: str) -> None:
    """Records on `champion_version` (a registry entry) that the retraining of `run_date` kept
    it; an earlier date (a backfill retraining again) leaves a later record alone."""
    from mlflow import MlflowClient

    earlier = champion_version.tags.get(KEPT_FOR)
    if earlier is None or earlier < run_date:
        MlflowClient().set_model_version_tag(name, str(champion_version.version), KEPT_FOR,
                                             run_date)  # fmt: skip


def rollback(name: str, to: str | None = None, reason: str = "rolled back by hand") -> str:
    """Moves the champion alias of `name` back to version `to`, by default to the champion
    before the current one (its `previous_champion` tag). The demoted version is tagged
    `rolled_back_at`/`rolled_back_reason`, so its scores and the registry say what happened;
    the next scoring run uses the restored version. Returns a sentence saying what moved."""
    from datetime import UTC, datetime

    from mlflow import MlflowClient

    current = champion(name)
    if current is None:
        raise ValueError(f"{name} has no champion to roll back from")
    if to is None:
        to = current.tags.get("previous_champion") or None
        if to is None:
            raise ValueError(
                f"{name} v{current.version} records no earlier champion: give the version with "
                f"--to (versions: {', '.join(str(v.version) for v in _versions(name))})"
            )
    target = version(name, to)  # raises when there is no such version
    if str(target.version) == str(current.version):
        return f"{name}: v{current.version} already is the champion; nothing moved"
    client = MlflowClient()
    at = datetime.now(UTC).isoformat(timespec="seconds")
    client.set_model_version_tag(name, str(current.version), "rolled_back_at", at)
    client.set_model_version_tag(name, str(current.version), "rolled_back_reason", reason)
    promote(
        name,
        str(target.version),
        reason=f"rollback from v{current.version}: {reason}",
        rolling_back=True,
    )
    return (f"{name}: champion moved from v{current.version} back to v{target.version} "
            f"({reason}); the next scoring run uses v{target.version}")  # fmt: skip


def _versions(name: str) -> list:
    from mlflow import MlflowClient

    found = MlflowClient().search_model_versions(filter_string=f"name = '{name}'")
    return sorted(found, key=lambda v: int(v.version))


def model_location(name: str, version: str) -> str:
    """Where a registered version's Spark model lives, as a path for the server's `load`: the
    version's folder, or the `spark_model_path` inside it (a version that is an MLflow
    model)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    folder = client.get_model_version_download_uri(name, version)
    inside = client.get_model_version(name, version).tags.get(SPARK_MODEL_PATH)
    return spark_location(f"{folder.rstrip('/')}/{inside}" if inside else folder)


def reproduce_training_set(settings: Settings, run_id: str, spark) -> tuple[bool, str]:
    """Rebuilds the training set of MLflow run `run_id` by time travel to the Delta version it
    recorded, and checks its row count and checksum against the run's (tags written by
    lakehouse.ml.propensity). Returns (whether they match, a sentence saying what was found)."""
    from mlflow.tracking import MlflowClient

    from lakehouse.ml.connect import training_fingerprint

    client = MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
    tags = client.get_run(run_id).data.tags
    needed = ("training_table", "training_table_version", "run_date", "training_rows",
              "training_checksum")  # fmt: skip
    missing = [t for t in needed if t not in tags]
    if missing:
        return False, f"run {run_id} records no training set fingerprint (no tag {missing[0]})"
    table, version = tags["training_table"], int(tags["training_table_version"])
    try:
        rows, checksum = training_fingerprint(spark, table, tags["run_date"], version)
    except Exception as exc:  # noqa: BLE001 - vacuumed or dropped: say so
        return False, f"{table} version {version} cannot be read any more: {str(exc)[:200]}"
    expected = (int(tags["training_rows"]), int(tags["training_checksum"]))
    where = f"{table} version {version}, run_date {tags['run_date']}"
    found = f"{rows} rows, checksum {checksum}"
    if (rows, checksum) == expected:
        return True, f"run {run_id}: training set rebuilt from {where}: {found}, as recorded"
    return False, (
        f"run {run_id}: training set from {where} differs: {rows} rows, checksum {checksum}; "
        f"the run recorded {expected[0]} rows, checksum {expected[1]}"
    )
