"""Credentials and connection manager of the `sparkconnect` adapter.

The credentials are dbt-spark's (host, port, method, schema, token, ...) plus `connect_url`, the
Spark Connect address that Python models use (`sc://host:port[/;token=...;use_ssl=true]`), and
`lakehouse_secret`: when true (the `dev` profile), the Thrift password and the Spark Connect
token are the lakehouse server's secret (lakehouse.platform.auth), read when a connection
opens, so no secret is written in a profile. The SQL connection is dbt-spark's own; only the
adapter type differs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dbt.adapters.contracts.connection import Connection
from dbt.adapters.events.logging import AdapterLogger
from dbt.adapters.spark.connections import SparkConnectionManager, SparkCredentials

logger = AdapterLogger("SparkConnect")

ADAPTER_TYPE = "sparkconnect"
DEFAULT_CONNECT_URL = "sc://127.0.0.1:15002"


@dataclass
class SparkConnectCredentials(SparkCredentials):
    connect_url: str = DEFAULT_CONNECT_URL
    # dbt-spark polls a running Thrift statement every `poll_interval` seconds (default 5), which
    # adds seconds to every statement; a local server answers in milliseconds.
    poll_interval: float = 0.2  # type: ignore[assignment]
    lakehouse_secret: bool = False

    @property
    def type(self) -> str:
        return ADAPTER_TYPE

    def _connection_keys(self) -> tuple[str, ...]:
        return (*super()._connection_keys(), "connect_url", "lakehouse_secret")

    def resolved_connect_url(self, url: str = "") -> str:
        """`url` (default: `connect_url`) with the lakehouse secret as its token when
        `lakehouse_secret` is set."""
        url = url or self.connect_url
        if not self.lakehouse_secret:
            return url
        from lakehouse.platform.auth import with_token

        return with_token(url, lakehouse_secret())

    def connection_info(self, *, with_aliases: bool = False):
        """What `dbt debug` prints: the Spark Connect token is masked."""
        for key, value in super().connection_info(with_aliases=with_aliases):
            yield key, mask_token(value) if key == "connect_url" else value


def mask_token(url: str) -> str:
    """`sc://host:port/;token=secret;...` with the token's value replaced by `***`."""
    return re.sub(r"(;token=)[^;]*", r"\1***", url or "")


def lakehouse_secret() -> str:
    """The lakehouse server's secret, or a dbt error that says how to create it."""
    from dbt_common.exceptions import DbtRuntimeError

    from lakehouse.platform import auth
    from lakehouse.platform.config import Settings

    try:
        return auth.require_secret(Settings.from_env())
    except (auth.AuthError, ValueError) as exc:
        raise DbtRuntimeError(str(exc)) from None


def take_build_lock() -> None:
    """A dbt command that writes tables takes its state folder's build lock before its first
    statement (lakehouse.platform.build_lock); other commands read freely."""
    from dbt.flags import get_flags
    from dbt_common.exceptions import DbtRuntimeError

    from lakehouse.platform import build_lock
    from lakehouse.platform.config import Settings

    command = getattr(get_flags(), "WHICH", None)
    if command not in build_lock.WRITING_COMMANDS:
        return
    try:
        build_lock.acquire(Settings.from_env().state_dir, build_lock.command_line(),
                           say=logger.info)  # fmt: skip
    except build_lock.BuildLockTimeout as exc:
        raise DbtRuntimeError(str(exc)) from None


class SparkConnectConnectionManager(SparkConnectionManager):
    TYPE = ADAPTER_TYPE

    @classmethod
    def open(cls, connection: Connection) -> Connection:
        take_build_lock()
        credentials = connection.credentials
        if getattr(credentials, "lakehouse_secret", False) and not credentials.password:
            credentials.password = lakehouse_secret()
        return super().open(connection)

    @classmethod
    def _close_handle(cls, connection: Connection) -> None:
        """Closing a Thrift session must not fail a node whose statements all succeeded.

        Spark 4's Thrift server can answer CloseSession with an error: on a worker thread
        without a Hive client it initialises Hive's function registry, which needs an LLAP
        class that the pyspark distribution does not ship (NoClassDefFoundError). The session
        is gone either way; log it and go on.
        """
        try:
            super()._close_handle(connection)
        except Exception as exc:  # noqa: BLE001 - any close failure is the same non-event
            logger.debug(f"Ignoring an error while closing Thrift session {connection.name}: {exc}")

    def release(self) -> None:
        """Keeps the thread's open Thrift session for the thread's next node.

        dbt closes the connection after every node, and the next node opens a new Thrift
        session (about 0.1 s, and a CloseSession); a build runs about two hundred nodes on two
        threads. The session carries no state a node relies on: dbt-spark sets what a
        statement needs (partitionOverwriteMode) before the statement. dbt closes every
        session at the end of the run (`cleanup_all`); a closed or broken one is released and
        reopened as before.
        """
        connection = self.get_if_exists()
        if connection is not None and connection.state == "open":
            return
        super().release()
