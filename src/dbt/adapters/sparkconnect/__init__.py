"""dbt adapter `sparkconnect`: dbt-spark for SQL, plus Python models over Spark Connect.

SQL models, tests, seeds and snapshots go over Thrift exactly as with dbt-spark (`method:
thrift`); this plugin depends on the `spark` plugin, so every dbt-spark macro applies. Python
models run in the dbt process with `spark` bound to a Spark Connect session of the same server,
so SQL and Python models share one catalog. Profile: `type: sparkconnect` plus `connect_url`.
"""

from dbt.adapters.base import AdapterPlugin
from dbt.adapters.sparkconnect.connections import (  # noqa: F401
    SparkConnectConnectionManager,
    SparkConnectCredentials,
)
from dbt.adapters.sparkconnect.impl import SparkConnectAdapter
from dbt.include import sparkconnect

Plugin = AdapterPlugin(
    adapter=SparkConnectAdapter,  # type: ignore[arg-type]
    credentials=SparkConnectCredentials,
    include_path=sparkconnect.PACKAGE_PATH,
    dependencies=["spark"],
)
