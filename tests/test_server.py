"""The server's life cycle, its failure messages, and where it listens.

These tests start the real JVM (the session fixture) and read the kernel's socket table to see
where it listens, rather than trusting the configuration.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BIN_DIR, is_loopback_address, listening_sockets
from lakehouse.platform import auth, cluster, server
from lakehouse.platform.config import Settings


def test_every_listening_socket_is_on_loopback(lakehouse):
    pid = server.read_pid(lakehouse)
    sockets = listening_sockets(pid)
    ports = {port for _, port in sockets}
    assert {lakehouse.thrift_port, lakehouse.connect_port, lakehouse.ui_port} <= ports, sockets
    assert [s for s in sockets if not is_loopback_address(s[0])] == [], sockets


def test_status_reports_each_endpoint(lakehouse):
    pid, endpoints = server.status(lakehouse)
    assert pid == server.read_pid(lakehouse)
    assert {e.name: e.ok for e in endpoints} == {"thrift": True, "connect": True, "ui": True}
    assert "Spark 4.2.0" in next(e.detail for e in endpoints if e.name == "connect")


def test_second_up_says_already_running(lakehouse):
    said = []
    pid = server.up(lakehouse, echo=said.append)
    assert pid == server.read_pid(lakehouse)
    assert any("already running" in line for line in said), said


def test_port_taken_fails_fast_and_names_the_port(tmp_path, settings):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        other = dataclasses.replace(settings, state_dir=tmp_path, thrift_port=port)
        taken = f"thrift port 127.0.0.1:{port}.*already in use"
        with pytest.raises(server.ServerError, match=taken):
            server.up(other)
    # Refused before any JVM was started.
    assert not other.pid_file.exists()
    assert not (tmp_path / "logs" / "server.log").exists()


def test_java_missing_is_a_clear_error(tmp_path, settings, monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    other = dataclasses.replace(settings, state_dir=tmp_path)
    with pytest.raises(server.ServerError, match="Java was not found"):
        server.up(other)


def test_jars_missing_is_a_clear_error(tmp_path, settings):
    other = dataclasses.replace(settings, state_dir=tmp_path, jar_cache_dir=tmp_path / "empty")
    with pytest.raises(server.ServerError, match="make setup"):
        server.up(other)


def test_down_when_not_running(tmp_path, settings):
    said = []
    other = dataclasses.replace(settings, state_dir=tmp_path)
    assert server.down(other, echo=said.append) is False
    assert said == ["Lakehouse server is not running."]


def test_startup_failure_reports_log_tail(tmp_path, settings):
    """A JVM that dies during start-up (here: a driver memory it cannot parse) fails `up`
    with the tail of the server log as soon as the process exits, not at the start timeout."""
    thrift, connect, ui = server.free_ports(3)
    other = dataclasses.replace(
        settings,
        state_dir=tmp_path,
        thrift_port=thrift,
        connect_port=connect,
        ui_port=ui,
        driver_memory="lots",
    )
    with pytest.raises(server.ServerError, match="exited during start-up") as failure:
        server.up(other)
    assert "Last lines of" in str(failure.value)
    assert "Invalid maximum heap size" in str(failure.value)
    assert not other.pid_file.exists()
    # the state folder is private, and so is the log the server wrote
    assert stat.S_IMODE(other.state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(other.server_log.stat().st_mode) == 0o600
    assert stat.S_IMODE(other.secret_file.stat().st_mode) == 0o600


def test_a_stale_pid_file_naming_another_process_is_left_alone(tmp_path, settings):
    """After a reboot the pid in `server.pid` may belong to anything: `down` and `status`
    must not signal it, and say that the pid file was stale."""
    other = dataclasses.replace(settings, state_dir=tmp_path)
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        other.pid_file.write_text(f"{bystander.pid}\n")
        said = []
        assert server.down(other, echo=said.append) is False
        assert bystander.poll() is None, "down signalled a process that is not the server"
        assert f"named pid {bystander.pid}, which is not this lakehouse's server" in said[0]
        assert said[-1] == "Lakehouse server is not running."
        assert not other.pid_file.exists()
        other.pid_file.write_text(f"{bystander.pid}\n")
        assert server.status(other)[0] is None and bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


@pytest.mark.slow  # starts a master and a worker: `make test-all` and CI run it
def test_cluster_down_stops_its_own_processes_and_leaves_a_stale_pid_alone(tmp_path, settings):
    """`cluster down` signals a pid only when it is this folder's master or worker (its class
    on the command line, the cluster folder as working directory)."""
    other = dataclasses.replace(settings, state_dir=tmp_path)
    cs = cluster.ClusterSettings.from_settings(other)
    cs.folder.mkdir(parents=True)
    bystander = subprocess.Popen(["sleep", "60"], cwd=cs.folder)  # right folder, wrong class
    ours = subprocess.Popen(  # stands in for a worker: its class in argv, in the folder
        [sys.executable, "-c", "print('up', flush=True); import time; time.sleep(60)",
         cluster.WORKER_CLASS],
        cwd=cs.folder, start_new_session=True, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        # Popen may return while the kernel is still loading the program (vfork), when
        # /proc/<pid>/cmdline is still empty; a real worker has long been running by then.
        assert ours.stdout.readline() == "up\n"
        cs.pid_file.write_text(json.dumps({"master": bystander.pid, "worker-1": ours.pid}))
        said = []
        cluster.down(other, echo=said.append)
        try:
            ours.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"cluster down left its own worker running; it said: {said}")
        assert bystander.poll() is None, "cluster down signalled a process not its own"
        assert any(f"named pid {bystander.pid} for master" in line for line in said), said
        assert not cs.pid_file.exists()
    finally:
        for proc in (bystander, ours):
            proc.kill()
            proc.wait()
        ours.stdout.close()


def test_settings_defaults_are_loopback_and_sized_for_this_machine(monkeypatch):
    for name in [k for k in os.environ if k.startswith("LAKEHOUSE_")]:
        monkeypatch.delenv(name)
    s = Settings.from_env()
    assert (s.host, s.thrift_port, s.connect_port, s.ui_port) == ("127.0.0.1", 10000, 15002, 4040)
    assert s.cores == 2 and s.driver_memory == "10g"
    assert s.state_dir == (Path(__file__).resolve().parents[1] / ".lakehouse")


def test_the_secret_reaches_the_server_and_never_a_message(monkeypatch):
    """With LAKEHOUSE_SECRET the JVM gets it in its environment for both endpoints (not a
    --conf, which `ps` shows), clients get it in their URL to localhost, and what is printed or
    logged (status lines, `dbt debug`, the repr, the command line) shows no secret."""
    from dbt.adapters.sparkconnect.connections import mask_token

    monkeypatch.setenv("LAKEHOUSE_SECRET", "s3cret-token")
    s = Settings.from_env()
    assert s.connect_url == f"sc://localhost:{s.connect_port}/;token=s3cret-token"
    env = server.server_env(s)
    assert env["SPARK_CONNECT_AUTHENTICATE_TOKEN"] == env[auth.SERVER_VARIABLE] == "s3cret-token"
    command = server.build_command(s, [])
    assert not any("s3cret-token" in part for part in command)
    assert "hive.server2.authentication=CUSTOM" in command
    assert "s3cret-token" not in repr(s) and "s3cret-token" not in s.connect_address
    assert mask_token(s.connect_url + ";use_ssl=false") == (
        f"sc://localhost:{s.connect_port}/;token=***;use_ssl=false"
    )
    # the old variable guarded Connect only; it is refused with its new name
    monkeypatch.setenv("LAKEHOUSE_CONNECT_TOKEN", "t")
    with pytest.raises(ValueError, match="now LAKEHOUSE_SECRET"):
        Settings.from_env()


def test_the_server_jvm_takes_the_c2_thresholds(settings):
    """The JIT options of the server's command line are ones this JVM accepts, and raise each
    C2 threshold above the JVM's default (a misspelt flag would stop the server starting)."""
    java = server.find_java()
    if java is None:
        pytest.skip("no java on this machine: the server tests report it")
    command = server.build_command(settings, [])
    options = next(part.split("=", 1)[1] for part in command
                   if part.startswith("spark.driver.extraJavaOptions="))  # fmt: skip
    jit = [word for word in options.split() if word.startswith("-XX:Tier4")]
    assert len(jit) == len(server.C2_THRESHOLDS)

    def final_flags(*extra: str) -> dict[str, int]:
        out = subprocess.run([java, *extra, "-XX:+PrintFlagsFinal", "-version"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        return {line.split()[1]: int(line.split()[3]) for line in out.splitlines()
                if line.split()[1:2] and line.split()[1] in server.C2_THRESHOLDS}  # fmt: skip

    default, ours = final_flags(), final_flags(*jit)
    assert ours == server.C2_THRESHOLDS
    assert all(ours[flag] > default[flag] for flag in ours), (default, ours)


def test_the_first_up_creates_a_private_secret_that_clients_find(tmp_path, settings,
                                                                 monkeypatch):  # fmt: skip
    monkeypatch.delenv("LAKEHOUSE_SECRET", raising=False)
    other = dataclasses.replace(settings, state_dir=tmp_path / "state")
    assert other.secret == ""
    with pytest.raises(auth.AuthError, match="make up"):
        server.server_env(other)  # no server starts without a secret
    made = auth.ensure_secret(other)
    assert len(made) >= 40 and other.secret == made == auth.ensure_secret(other)
    assert stat.S_IMODE(other.secret_file.stat().st_mode) == 0o600
    assert other.connect_url.endswith(f";token={made}")
    # a secret file left readable by others is made private at the next start
    other.secret_file.chmod(0o644)
    auth.ensure_secret(other)
    assert stat.S_IMODE(other.secret_file.stat().st_mode) == 0o600
    # `lakehouse token` prints it alone, for other clients; `where` never does
    for command, shown in (("token", True), ("where", False)):
        proc = subprocess.run(
            [str(BIN_DIR / "lakehouse"), command],
            env={**os.environ, "LAKEHOUSE_STATE_DIR": str(other.state_dir)},
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert (made in proc.stdout) is shown
        if shown:
            assert proc.stdout == made + "\n"


@pytest.mark.parametrize(("url", "expected"), [
    ("sc://localhost:15002", "sc://localhost:15002/;token=s"),
    ("sc://127.0.0.1:1/", "sc://localhost:1/;token=s"),
    ("sc://h:1/;use_ssl=true", "sc://h:1/;use_ssl=true;token=s"),
    ("sc://h:1/;token=given", "sc://h:1/;token=given"),
])  # fmt: skip
def test_a_connect_url_gets_the_secret_as_its_token(url, expected):
    assert auth.with_token(url, "s") == expected


def test_clients_without_the_secret_are_refused_on_both_endpoints(lakehouse):
    """Thrift without a password, with a wrong one, and Spark Connect without a token or with
    a wrong one are all refused; the right secret is let in (the status probes use it)."""
    from pyhive import hive
    from pyspark.sql import SparkSession

    host, port = lakehouse.host, lakehouse.thrift_port
    for attempt in (
        lambda: hive.connect(host=host, port=port, username="anyone"),
        lambda: hive.connect(host=host, port=port, username="lakehouse", auth="CUSTOM",
                             password="wrong-secret"),
        lambda: hive.connect(host=host, port=port, username="lakehouse", auth="NOSASL"),
    ):  # fmt: skip
        with pytest.raises(Exception) as refused:  # noqa: PT011 - each client raises its own
            attempt().cursor().execute("select 1")
        assert "select 1" not in str(refused.value)
    url = f"sc://localhost:{lakehouse.connect_port}"
    for attempt_url in (url, f"{url}/;token=wrong-secret"):
        spark = SparkSession.builder.remote(attempt_url).create()
        try:
            with pytest.raises(Exception, match="(?i)unauthenticated|token|authoriz"):
                spark.sql("select 1").collect()
        finally:
            spark.stop()
    assert server.query_thrift(lakehouse) == "select 1 answered"
    assert server.query_connect(lakehouse).startswith("select 1 answered")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "lakehouse.example.com", "::"])
def test_a_host_beyond_loopback_is_refused_before_anything_starts(tmp_path, settings, host):
    other = dataclasses.replace(settings, state_dir=tmp_path, host=host)
    with pytest.raises(server.ServerError, match=f"Refusing LAKEHOUSE_HOST={host}.*SSH tunnel"):
        server.up(other)
    assert not other.pid_file.exists()
    assert not other.server_log.exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_hosts_pass_the_host_check(settings, host):
    server.check_host(dataclasses.replace(settings, host=host))


def test_a_large_server_log_is_moved_aside_at_start(tmp_path, settings):
    other = dataclasses.replace(settings, state_dir=tmp_path)
    other.log_dir.mkdir(parents=True)
    other.server_log.write_text("x" * 100)
    assert server.rotate_log(other, max_bytes=1000) is False
    assert server.rotate_log(other, max_bytes=10) is True
    assert (other.log_dir / "server.log.1").read_text() == "x" * 100
    assert not other.server_log.exists()


def test_free_ports_are_distinct_even_when_the_draws_repeat(monkeypatch):
    """The session's three ports once came out equal (the UI and Connect both on one port, and
    the server could not start): a repeated draw must be skipped, not returned twice."""
    import random

    draws = iter([29871, 29871, 29872, 29871, 29873])

    class Repeating:
        def randrange(self, start, stop):
            return next(draws)

    monkeypatch.setattr(random, "Random", Repeating)
    assert server.free_ports(3) == [29871, 29872, 29873]
