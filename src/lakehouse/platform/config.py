"""Settings of the lakehouse runtime, read from environment variables with local defaults.

This module owns every tunable of the embedded server: where its state lives (metastore,
warehouse, logs, MLflow store), which ports it opens, on which interface, and how much memory and
how many cores it may use. Nothing else reads these environment variables directly, so the table
in the README and the `Settings` fields below are the whole list.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

DELTA_VERSION = "4.4.0"
DELTA_PACKAGE = f"io.delta:delta-spark_4.2_2.13:{DELTA_VERSION}"
# dbt's saved parse state in a target folder: a dbt command given one parsed with the same
# vars, profile and environment re-reads only changed files (dbt checks, and parses in full
# on any difference)
DBT_PARTIAL_PARSE_FILE = "partial_parse.msgpack"


def schema_name(layer: str) -> str:
    """The schema a layer's tables land in: LAKEHOUSE_SCHEMA_PREFIX, then the layer, as
    macros/generate_schema_name.sql names it for dbt."""
    return f"{os.environ.get('LAKEHOUSE_SCHEMA_PREFIX', '')}{layer}"


def find_project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` (default: the working directory) holding
    `dbt_project.yml`; the working directory itself when none does."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dbt_project.yml").is_file():
            return folder
    return here


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (localhost, 127.0.0.0/8, ::1)."""
    host = host.strip().lower()
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost
        return False


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _json_env(name: str) -> dict:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a JSON object, got {raw!r}: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build one with `Settings.from_env()`."""

    project_dir: Path
    state_dir: Path
    jar_cache_dir: Path
    host: str
    thrift_port: int
    connect_port: int
    ui_port: int
    driver_memory: str
    cores: int
    start_timeout: int
    landing_dir: Path
    # Empty: the server runs Spark in local mode (local[cores]). A master URL (for example
    # spark://127.0.0.1:7077 from `lakehouse cluster up`): the server is the driver of that
    # cluster and its executors run on the workers.
    master: str = ""
    executor_memory: str = "4g"
    # The longest line the server reads from a landing file, its line break included
    # (LAKEHOUSE_MAX_LINE_BYTES, 64 KiB): a longer one is skipped by the file reader, so one
    # huge line cannot exhaust the server's memory; bronze quarantines it as line_too_long.
    max_line_bytes: int = 65536
    # A keystore (PKCS12 or JKS) for serving Thrift over TLS (LAKEHOUSE_TLS_KEYSTORE; its
    # password in LAKEHOUSE_TLS_KEYSTORE_PASSWORD). Only with it may LAKEHOUSE_HOST be an
    # address beyond loopback, and then only Thrift listens there (docs/operations.md).
    tls_keystore: str = ""
    # dbt vars the daily schedule passes to every run besides run_date
    # (LAKEHOUSE_DBT_VARS, a JSON object; empty: the defaults of dbt_project.yml).
    dbt_vars: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        if os.environ.get("LAKEHOUSE_CONNECT_TOKEN"):
            raise ValueError(
                "LAKEHOUSE_CONNECT_TOKEN is now LAKEHOUSE_SECRET: one secret guards both Thrift "
                "and Spark Connect (unset it; without LAKEHOUSE_SECRET the server makes one)"
            )
        project = find_project_root()
        state = Path(os.environ.get("LAKEHOUSE_STATE_DIR") or project / ".lakehouse")
        cache_root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        jar_cache = Path(os.environ.get("LAKEHOUSE_JAR_CACHE") or cache_root / "ecom-lakehouse")
        return cls(
            project_dir=project,
            state_dir=state.resolve(),
            jar_cache_dir=jar_cache.resolve(),
            host=os.environ.get("LAKEHOUSE_HOST", "127.0.0.1"),
            thrift_port=_int_env("LAKEHOUSE_THRIFT_PORT", 10000),
            connect_port=_int_env("LAKEHOUSE_CONNECT_PORT", 15002),
            ui_port=_int_env("LAKEHOUSE_UI_PORT", 4040),
            # 2 cores and 24 GiB: leave room for the dbt process, MLflow and the OS.
            driver_memory=os.environ.get("LAKEHOUSE_DRIVER_MEMORY", "10g"),
            cores=_int_env("LAKEHOUSE_CORES", 2),
            start_timeout=_int_env("LAKEHOUSE_START_TIMEOUT", 240),
            # The one variable to point at the real Kaggle files (2019-Oct.csv, 2019-Nov.csv).
            landing_dir=Path(
                os.environ.get("LAKEHOUSE_LANDING_DIR") or state / "landing"
            ).resolve(),
            master=os.environ.get("LAKEHOUSE_MASTER", ""),
            executor_memory=os.environ.get("LAKEHOUSE_EXECUTOR_MEMORY", "4g"),
            max_line_bytes=_int_env("LAKEHOUSE_MAX_LINE_BYTES", 65536),
            tls_keystore=os.environ.get("LAKEHOUSE_TLS_KEYSTORE", ""),
            dbt_vars=_json_env("LAKEHOUSE_DBT_VARS"),
        )

    @property
    def tls_keystore_password(self) -> str:
        """The TLS keystore's password (LAKEHOUSE_TLS_KEYSTORE_PASSWORD; never a field, so no
        repr of the settings shows it)."""
        return os.environ.get("LAKEHOUSE_TLS_KEYSTORE_PASSWORD", "")

    @property
    def local_host(self) -> str:
        """Where Spark Connect, the Spark UI and the driver listen: the host when it is
        loopback, else 127.0.0.1 (beyond loopback only Thrift listens, over TLS)."""
        return self.host if is_loopback(self.host) else "127.0.0.1"

    def listen_host(self, endpoint: str) -> str:
        """The address `endpoint` (a key of `ports`) listens on: Thrift on the host, the
        others on local_host."""
        return self.host if endpoint == "thrift" else self.local_host

    # -- paths under the state folder ---------------------------------------------------------
    @property
    def warehouse_dir(self) -> Path:
        return self.state_dir / "warehouse"

    @property
    def metastore_dir(self) -> Path:
        return self.state_dir / "metastore_db"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def server_log(self) -> Path:
        return self.log_dir / "server.log"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "server.pid"

    @property
    def mlflow_dir(self) -> Path:
        return self.state_dir / "mlflow"

    @property
    def stream_dir(self) -> Path:
        """The streaming landing folder (LAKEHOUSE_STREAM_DIR; default `stream/` in the state
        folder, beside the warehouse, where the streaming models look by default)."""
        return Path(os.environ.get("LAKEHOUSE_STREAM_DIR") or self.state_dir / "stream")

    @property
    def stream_staging_dir(self) -> Path:
        return self.state_dir / "stream_staging"

    @property
    def mlflow_tracking_uri(self) -> str:
        """MLFLOW_TRACKING_URI when set (a shared tracking server), else a SQLite store in the
        state folder; the registry uses the same store."""
        return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{self.mlflow_dir}/mlflow.db"

    @property
    def mlflow_artifacts_dir(self) -> Path:
        return self.mlflow_dir / "artifacts"

    @property
    def artifact_root(self) -> str:
        """Where new MLflow experiments keep their artifacts, fitted Spark models included
        (LAKEHOUSE_ARTIFACT_ROOT). The Spark server writes and reads the models there itself, so
        on a cluster it must be storage that the driver, every executor and the dbt process
        reach, e.g. `s3://bucket/mlflow`; the default is a folder in the state folder."""
        return os.environ.get("LAKEHOUSE_ARTIFACT_ROOT") or self.mlflow_artifacts_dir.as_uri()

    @property
    def secret_file(self) -> Path:
        """The server's secret, created by the first `up` (lakehouse.platform.auth)."""
        return self.state_dir / "secret"

    @property
    def secret(self) -> str:
        """The password Thrift and the token Spark Connect require: LAKEHOUSE_SECRET, else the
        state folder's secret file; empty before the first `up`. Read on every use, so a
        `Settings` made before the server created its secret sees it."""
        from_env = os.environ.get("LAKEHOUSE_SECRET", "")
        if from_env:
            return from_env
        try:
            return self.secret_file.read_text().strip()
        except FileNotFoundError:
            return ""

    @property
    def connect_token(self) -> str:
        return self.secret

    @property
    def connect_url(self) -> str:
        """The Spark Connect URL for clients, with the token (a secret: print
        `connect_address` instead). pyspark sends a token without TLS only to `localhost`."""
        if self.connect_token:
            return f"sc://localhost:{self.connect_port}/;token={self.connect_token}"
        return f"sc://{self.local_host}:{self.connect_port}"

    @property
    def connect_address(self) -> str:
        """The Spark Connect endpoint for messages: never the token itself."""
        suffix = " (token required)" if self.connect_token else ""
        return f"sc://{self.local_host}:{self.connect_port}{suffix}"

    @property
    def ports(self) -> dict[str, int]:
        return {
            "thrift": self.thrift_port,
            "connect": self.connect_port,
            "ui": self.ui_port,
        }
