"""One writer per state folder: the build lock (lakehouse.platform.build_lock)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from lakehouse.platform import build_lock

HOLD = """
import sys, time
from lakehouse.platform import build_lock
build_lock.acquire(sys.argv[1], "dbt build --vars {run_date: 2019-12-01}")
print("held", flush=True)
time.sleep(60)
"""


def hold_build_lock(state_dir):
    """A separate process holding the build lock of `state_dir` (kill it to release)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(state_dir)], stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture
def other_writer(tmp_path):
    proc = hold_build_lock(tmp_path)
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_writer_waits_then_fails_naming_the_holder(tmp_path, other_writer):
    said = []
    started = time.monotonic()
    with pytest.raises(build_lock.BuildLockTimeout) as failure:
        build_lock.acquire(tmp_path, "dbt run", timeout_s=1.5, say=said.append)
    assert time.monotonic() - started >= 1.5
    message = str(failure.value)
    assert f"pid {other_writer.pid} since " in message
    assert "dbt build --vars {run_date: 2019-12-01}" in message
    assert said and "held by pid" in said[0]


def test_the_lock_is_free_as_soon_as_its_holder_exits(tmp_path, other_writer):
    other_writer.kill()  # however a build ends, the kernel releases its flock
    other_writer.wait()
    assert build_lock.acquire(tmp_path, "dbt run", timeout_s=5) is True
    assert build_lock.acquire(tmp_path, "dbt run", timeout_s=5) is False  # held already
    assert f"pid {os.getpid()} since " in build_lock.holder(tmp_path / "build.lock")
