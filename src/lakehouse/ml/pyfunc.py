"""The propensity model as a real MLflow model: a `python_function` flavour that loads anywhere.

The search saves each finalist's Spark classifier on the server (`tracking.log_spark_model`);
this module wraps that folder into an MLflow model (MLmodel file, signature of the feature
columns and their types, input example, the feature list, the odds correction, the threshold
and the training snapshot's Delta version as metadata), and the registry points at it.
`mlflow.pyfunc.load_model("models:/ecom_purchase_propensity@champion")` then predicts in any
Python process with pyspark: it starts a small local Spark when none is active, assembles the
features, and returns `purchase_probability` (calibrated, as scoring computes it) and
`predicted_label` (at the registered threshold). The pipeline's own scoring keeps loading the
Spark model on the server (`artifacts/spark_model` inside this model).
"""

from __future__ import annotations

import mlflow.pyfunc

from lakehouse.ml.tracking import MODEL_ARTIFACT as SPARK_ARTIFACT

MODEL_NAME = "model"  # the logged model's name in its run


class PropensityModel(mlflow.pyfunc.PythonModel):
    """A Spark classifier, its odds correction and its threshold, behind `predict`."""

    def __init__(self, algorithm: str, features: list[str], correction: float, threshold: float):
        self.algorithm = algorithm
        self.features = list(features)
        self.correction = float(correction)
        self.threshold = float(threshold)

    def load_context(self, context) -> None:
        from pyspark.sql import SparkSession

        from lakehouse.ml.propensity import model_class

        self._spark = SparkSession.getActiveSession() or (
            SparkSession.builder.master("local[1]")
            .appName("ecom-propensity-pyfunc")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.memory", "1g")
            .getOrCreate()
        )
        self._model = model_class(self.algorithm).load(context.artifacts[SPARK_ARTIFACT])

    def predict(self, context, model_input, params=None):
        from lakehouse.ml.propensity import assemble, positive_probability

        rows = self._spark.createDataFrame(model_input[self.features])
        out = (
            positive_probability(self._model, assemble(rows), self.correction)
            .select("purchase_probability")
            .toPandas()
        )
        out["predicted_label"] = (out["purchase_probability"] >= self.threshold).astype("int32")
        return out


def log_model(run_id: str, algorithm: str, features: list[str], correction: float,
              threshold: float, example, metadata: dict) -> str:  # fmt: skip
    """Logs the active run's `spark_model` (saved by the server) as an MLflow model with the
    signature inferred from `example` (a pandas frame of feature rows) and its predictions;
    returns the model's URI, which the registry takes as a version's source."""
    from mlflow.models import infer_signature

    wrapper = PropensityModel(algorithm, features, correction, threshold)
    info = mlflow.pyfunc.log_model(
        name=MODEL_NAME,
        python_model=wrapper,
        pip_requirements=requirements(),
        artifacts={SPARK_ARTIFACT: f"runs:/{run_id}/{SPARK_ARTIFACT}"},
        signature=infer_signature(example[features]),
        input_example=example[features],
        metadata={
            **metadata,
            "features": list(features),
            "odds_correction": correction,
            "threshold": threshold,
            "algorithm": algorithm,
        },  # fmt: skip
    )
    return info.model_uri


# What `predict` imports, pinned to the versions that logged the model; the `lakehouse` package
# itself (assemble, the model classes) must be importable where the model is loaded.
REQUIREMENTS = ["mlflow", "pyspark", "pandas", "numpy", "pyarrow", "cloudpickle"]


def requirements() -> list[str]:
    """REQUIREMENTS as `name==version` of this environment. Given to MLflow explicitly: its own
    inference loads the model in a subprocess (a local Spark JVM, about 12 s on two cores) and
    here fell back to cloudpickle alone."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in REQUIREMENTS]


__all__ = ["MODEL_NAME", "SPARK_ARTIFACT", "PropensityModel", "log_model", "requirements"]
