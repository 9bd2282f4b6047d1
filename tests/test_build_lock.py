"""One writer per state folder: the build lock (lakehouse.platform.build_lock)."""

from __future__ import annotations

import os

import pytest

from lakehouse.platform import build_lock


@pytest.fixture
def other_writer(tmp_path, build_lock_holder):
    return build_lock_holder(tmp_path)


def test_a_second_writer_waits_then_fails_naming_the_holder(tmp_path, other_writer):
    said = []
    with pytest.raises(build_lock.BuildLockTimeout) as failure:
        build_lock.acquire(tmp_path, "dbt run", timeout_s=1.5, say=said.append)
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
