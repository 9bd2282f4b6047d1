"""Run a compiled dbt Python model over Spark Connect, in the dbt process.

dbt compiles a Python model into one script: the model's source, dbt's helpers (`dbtObj`,
`ref`, `source`, `config`), then the materialization code that calls `model(dbt, spark)` and
writes the returned DataFrame with `saveAsTable`. This helper executes that script with `spark`
bound to a Spark Connect session of the profile's `connect_url`, so reads and writes happen on
the server while the Python runs here. A failure is raised with the model's name and a traceback
whose line numbers point into the model's own source file; an exception marked `user_facing`
(a data condition the model names, with what to change) is raised with its message alone.

Each model runs in a session of its own, released when the model ends: the server then drops
what the model left behind (checkpointed DataFrames, cached ML models, temporary views,
settings). A session that is never released holds all that until the server's session
timeout, an hour by default, while the next build's models add their own.
"""

from __future__ import annotations

import linecache
import socket
import time
import traceback
from typing import Any
from urllib.parse import urlsplit

from dbt.adapters.base import PythonJobHelper
from dbt.adapters.sparkconnect.connections import mask_token
from dbt_common.exceptions import DbtRuntimeError


def _check_reachable(url: str, timeout: float = 10.0) -> None:
    """Fail fast when nothing listens at the URL: the Connect client itself retries with
    back-off for minutes before it gives up."""
    parsed = urlsplit(url.replace("sc://", "http://", 1))
    host, port = parsed.hostname or "localhost", parsed.port or 15002
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise ConnectionError(f"nothing answers at {host}:{port} ({exc})") from exc


def connect_session(url: str):
    """A new Spark Connect session at `url`; the caller stops it, which releases it."""
    from pyspark.sql import SparkSession

    try:
        _check_reachable(url)
        session = SparkSession.builder.remote(url).create()
        session.sql("select 1").collect()  # a wrong token fails here, not in the model
        return session
    except Exception as exc:
        raise DbtRuntimeError(
            f"Cannot reach Spark Connect at {mask_token(url)}: {exc}. Is the server up "
            "(`make up`), and is `connect_url` in profiles.yml right?"
        ) from exc


class SparkConnectPythonJobHelper(PythonJobHelper):
    def __init__(self, parsed_model: dict, credentials: Any) -> None:
        self.parsed_model = parsed_model
        self.credentials = credentials
        self.name = parsed_model.get("alias") or parsed_model.get("name", "?")
        self.source_path = parsed_model.get("original_file_path") or f"<model {self.name}>"
        self.raw_code = parsed_model.get("raw_code") or ""
        self.connect_url = credentials.resolved_connect_url(
            parsed_model["config"].get("connect_url") or ""
        )

    def submit(self, compiled_code: str) -> str:
        spark = connect_session(self.connect_url)
        # pyspark.ml over Connect (Model.load, releasing cached models) looks up the *thread's*
        # active session; dbt runs each model in a worker thread, so make it active here.
        type(spark)._set_default_and_active_session(spark)
        compiled_name = f"<dbt compiled {self.source_path}>"
        lines = compiled_code.splitlines(keepends=True)
        linecache.cache[compiled_name] = (len(compiled_code), None, lines, compiled_name)
        code = compile(compiled_code, compiled_name, "exec")
        namespace: dict[str, Any] = {"spark": spark, "__name__": f"dbt_model_{self.name}"}
        started = time.monotonic()
        try:
            exec(code, namespace)  # noqa: S102 - running dbt-compiled model code is the job
        except Exception as exc:
            if getattr(exc, "user_facing", False):  # a data condition, named by the model
                raise DbtRuntimeError(f"Python model {self.name} stopped: {exc}") from None
            raise DbtRuntimeError(self._describe_failure(exc, compiled_code)) from None
        finally:
            namespace.clear()
            linecache.cache.pop(compiled_name, None)
            spark.stop()  # releases the session: the server frees what the model cached
        return f"{time.monotonic() - started:.1f}s over Spark Connect"

    def _describe_failure(self, exc: Exception, compiled_code: str) -> str:
        """The traceback of a failed model, with frames of the compiled script mapped back to
        lines of the model's source file where they come from it."""
        compiled_name = f"<dbt compiled {self.source_path}>"
        at = compiled_code.find(self.raw_code) if self.raw_code else -1
        offset = compiled_code[:at].count("\n") if at >= 0 else None
        source_lines = self.raw_code.count("\n") + 1
        frames = []
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename == __file__:
                continue
            if frame.filename == compiled_name:
                lineno = frame.lineno or 0
                if offset is not None and offset < lineno <= offset + source_lines:
                    filename, lineno = self.source_path, lineno - offset
                else:
                    filename = f"{compiled_name} (dbt-generated materialization code)"
                frame = traceback.FrameSummary(filename, lineno, frame.name, line=frame.line)
            frames.append(frame)
        text = "".join(traceback.format_list(frames))
        text += "".join(traceback.format_exception_only(type(exc), exc))
        return f"Python model {self.name} failed:\nTraceback (most recent call last):\n{text}"
