"""The `sparkconnect` adapter: dbt-spark's adapter with a Spark Connect Python submission method.

Everything SQL is inherited from `SparkAdapter`. Python models default to the `spark_connect`
submission method (see `python_submissions.py`); dbt-spark's Databricks methods stay available
by name for a team that also runs on Databricks.
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.base import PythonJobHelper
from dbt.adapters.contracts.connection import AdapterResponse
from dbt.adapters.spark.impl import SparkAdapter
from dbt.adapters.sparkconnect.connections import SparkConnectConnectionManager
from dbt.adapters.sparkconnect.python_submissions import SparkConnectPythonJobHelper


class SparkConnectAdapter(SparkAdapter):
    ConnectionManager = SparkConnectConnectionManager

    @property
    def default_python_submission_method(self) -> str:
        return "spark_connect"

    @property
    def python_submission_helpers(self) -> dict[str, type[PythonJobHelper]]:
        return {**super().python_submission_helpers, "spark_connect": SparkConnectPythonJobHelper}

    def generate_python_submission_response(self, submission_result: Any) -> AdapterResponse:
        return AdapterResponse(_message=f"OK ({submission_result})")
