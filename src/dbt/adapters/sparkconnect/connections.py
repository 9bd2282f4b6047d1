"""Credentials and connection manager of the `sparkconnect` adapter.

The credentials are dbt-spark's (host, port, method, schema, token, ...) plus `connect_url`, the
Spark Connect address that Python models use (`sc://host:port[/;token=...;use_ssl=true]`). The
SQL connection is dbt-spark's own; only the adapter type differs.
"""

from __future__ import annotations

from dataclasses import dataclass

from dbt.adapters.spark.connections import SparkConnectionManager, SparkCredentials

ADAPTER_TYPE = "sparkconnect"
DEFAULT_CONNECT_URL = "sc://127.0.0.1:15002"


@dataclass
class SparkConnectCredentials(SparkCredentials):
    connect_url: str = DEFAULT_CONNECT_URL
    # dbt-spark polls a running Thrift statement every `poll_interval` seconds (default 5), which
    # adds seconds to every statement; a local server answers in milliseconds.
    poll_interval: float = 0.2  # type: ignore[assignment]

    @property
    def type(self) -> str:
        return ADAPTER_TYPE

    def _connection_keys(self) -> tuple[str, ...]:
        return (*super()._connection_keys(), "connect_url")


class SparkConnectConnectionManager(SparkConnectionManager):
    TYPE = ADAPTER_TYPE
