"""Run a compiled dbt Python model over Spark Connect, in the dbt process.

dbt compiles a Python model into one script: the model's source, dbt's helpers (`dbtObj`,
`ref`, `source`, `config`), then the materialization code that calls `model(dbt, spark)` and
writes the returned DataFrame with `saveAsTable`. This helper executes that script with `spark`
bound to a Spark Connect session of the profile's `connect_url`, so reads and writes happen on
the server while the Python runs here. A failure is raised with the model's name and a traceback
whose line numbers point into the model's own source file.
"""

from __future__ import annotations

import linecache
import threading
import time
import traceback
from typing import Any

from dbt.adapters.base import PythonJobHelper
from dbt_common.exceptions import DbtRuntimeError

_sessions: dict[str, Any] = {}
_lock = threading.Lock()


def connect_session(url: str):
    """One Spark Connect session per URL for the whole dbt process (models share it)."""
    from pyspark.sql import SparkSession

    with _lock:
        session = _sessions.get(url)
        if session is None:
            try:
                session = SparkSession.builder.remote(url).create()
                session.sql("select 1").collect()
            except Exception as exc:
                raise DbtRuntimeError(
                    f"Cannot reach Spark Connect at {url}: {exc}. Is the server up "
                    "(`make up`), and is `connect_url` in profiles.yml right?"
                ) from exc
            _sessions[url] = session
        return session


class SparkConnectPythonJobHelper(PythonJobHelper):
    def __init__(self, parsed_model: dict, credentials: Any) -> None:
        self.parsed_model = parsed_model
        self.credentials = credentials
        self.name = parsed_model.get("alias") or parsed_model.get("name", "?")
        self.source_path = parsed_model.get("original_file_path") or f"<model {self.name}>"
        self.source_lines = len((parsed_model.get("raw_code") or "").splitlines())
        self.connect_url = parsed_model["config"].get("connect_url") or credentials.connect_url

    def submit(self, compiled_code: str) -> str:
        spark = connect_session(self.connect_url)
        # The compiled script starts with the model's source, line for line; give it the
        # source's file name so tracebacks point at python_models/..., and cache the compiled
        # text under that name so the lines shown are the ones that ran.
        lines = compiled_code.splitlines(keepends=True)
        linecache.cache[self.source_path] = (len(compiled_code), None, lines, self.source_path)
        code = compile(compiled_code, self.source_path, "exec")
        namespace: dict[str, Any] = {"spark": spark, "__name__": f"dbt_model_{self.name}"}
        started = time.monotonic()
        try:
            exec(code, namespace)  # noqa: S102 - running dbt-compiled model code is the job
        except Exception as exc:
            raise DbtRuntimeError(self._describe_failure(exc)) from None
        finally:
            namespace.clear()
        return f"{time.monotonic() - started:.1f}s over Spark Connect"

    def _describe_failure(self, exc: Exception) -> str:
        frames = [
            frame
            for frame in traceback.extract_tb(exc.__traceback__)
            if frame.filename != __file__
        ]
        text = "".join(traceback.format_list(frames))
        text += "".join(traceback.format_exception_only(type(exc), exc))
        note = (
            f"Lines 1-{self.source_lines} of {self.source_path} are the model's source; "
            "later lines are dbt's generated materialization code (see target/run/)."
        )
        return f"Python model {self.name} failed:\nTraceback (most recent call last):\n{text}{note}"
