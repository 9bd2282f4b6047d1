"""A host beyond loopback, with a TLS keystore: Thrift alone listens there, over TLS and with
the secret; Spark Connect, the Spark UI and the driver stay on 127.0.0.1; a client without
TLS is refused; the keystore's password is in no command line; dbt connects over TLS by
itself. The server is started by two `lakehouse up` at once, which give one server. It runs
beside the session's (idle) server for a minute, with a small heap.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import BIN_DIR, PROJECT_DIR, is_loopback_address, listening_sockets
from lakehouse.platform import auth, server

pytestmark = pytest.mark.slow  # `make test` skips it; `make test-all` and CI run it

PASSWORD = "keystore-pw-for-the-test"


def _machine_address() -> str | None:
    """An IPv4 address of this machine beyond loopback, if it has one."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False)
    addresses = [a for a in out.stdout.split() if "." in a and not a.startswith("127.")]
    return addresses[0] if addresses else None


@pytest.fixture(scope="module")
def tls_server(lakehouse, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("tls")
    monkeypatch = pytest.MonkeyPatch()
    address = _machine_address()
    if address is None or shutil.which("keytool") is None:
        pytest.skip("needs an IPv4 address beyond loopback and the JDK's keytool")
    keystore = tmp_path / "lakehouse.p12"
    subprocess.run(
        ["keytool", "-genkeypair", "-keystore", str(keystore), "-storetype", "PKCS12",
         "-storepass", PASSWORD, "-keypass", PASSWORD, "-alias", "lakehouse", "-keyalg", "RSA",
         "-dname", f"CN={address}", "-ext", f"SAN=ip:{address}", "-validity", "2"],
        check=True, capture_output=True,
    )  # fmt: skip
    thrift, connect, ui = server.free_ports(3)
    settings = dataclasses.replace(
        # a space and a quote in the state folder's path: every statement quotes it
        lakehouse, state_dir=tmp_path / "state of O'Hare", host=address,
        tls_keystore=str(keystore), driver_memory="1g",
        thrift_port=thrift, connect_port=connect, ui_port=ui,
    )  # fmt: skip
    monkeypatch.setenv("LAKEHOUSE_TLS_KEYSTORE_PASSWORD", PASSWORD)
    env = {**os.environ, "LAKEHOUSE_STATE_DIR": str(settings.state_dir),
           "LAKEHOUSE_HOST": address, "LAKEHOUSE_TLS_KEYSTORE": str(keystore),
           "LAKEHOUSE_THRIFT_PORT": str(thrift), "LAKEHOUSE_CONNECT_PORT": str(connect),
           "LAKEHOUSE_UI_PORT": str(ui), "LAKEHOUSE_DRIVER_MEMORY": "1g"}  # fmt: skip
    try:
        # two `lakehouse up` at once: they take turns on the start lock
        ups = [
            subprocess.Popen(
                [str(BIN_DIR / "lakehouse"), "up"],
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            for _ in range(2)
        ]
        outputs = [proc.communicate(timeout=300)[0] for proc in ups]
        yield settings, env, outputs
    finally:
        server.down(settings)
        monkeypatch.undo()


def test_two_ups_at_once_give_one_server_and_one_clear_message(tls_server):
    settings, _, outputs = tls_server
    pid = server.read_pid(settings)
    started = [out for out in outputs if f"Lakehouse server up (pid {pid})" in out]
    found = [out for out in outputs if f"Lakehouse server already running (pid {pid})" in out]
    assert len(started) == len(found) == 1, outputs
    java = subprocess.run(["pgrep", "-f", str(settings.state_dir / "warehouse")],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert java.stdout.split() == [str(pid)], java.stdout


def test_beyond_loopback_only_thrift_listens_and_only_over_tls(tls_server):
    settings, env, _ = tls_server
    pid = server.read_pid(settings)
    sockets = listening_sockets(pid)
    beyond = [(a, p) for a, p in sockets if not is_loopback_address(a)]
    assert [p for _, p in beyond] == [settings.thrift_port], sockets
    assert beyond[0][0].removeprefix("::ffff:") == settings.host
    assert {settings.connect_port, settings.ui_port} <= {
        p for a, p in sockets if is_loopback_address(a)
    }
    # TLS with the secret answers (the probe `up` and `status` use) ...
    assert server.query_thrift(settings) == "select 1 answered"
    # ... a client without TLS is refused even with the secret
    from pyhive import hive

    with pytest.raises(Exception):  # noqa: B017 - the server closes the plain connection
        conn = hive.connect(host=settings.host, port=settings.thrift_port, auth="CUSTOM",
                            username=auth.THRIFT_USER, password=settings.secret)  # fmt: skip
        conn.cursor().execute("select 1")
    # the keystore's password reaches the server in a private file, never its command line
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
    assert PASSWORD not in cmdline
    properties = server.tls_properties_file(settings)
    assert stat.S_IMODE(properties.stat().st_mode) == 0o600
    # dbt picks TLS up from the environment (profiles.yml: use_ssl)
    debug = subprocess.run(
        [str(BIN_DIR / "dbt"), "debug", "--project-dir", str(PROJECT_DIR),
         "--log-path", str(settings.state_dir / "dbt-logs")],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert "All checks passed" in debug.stdout, debug.stdout[-2000:]


def test_a_keystore_without_its_password_is_refused_before_anything_starts(
    settings, tmp_path, monkeypatch
):
    monkeypatch.delenv("LAKEHOUSE_TLS_KEYSTORE_PASSWORD", raising=False)
    keystore = tmp_path / "ks.p12"
    keystore.write_bytes(b"not checked before the password")
    other = dataclasses.replace(settings, state_dir=tmp_path / "s", host="192.0.2.200",
                                tls_keystore=str(keystore))  # fmt: skip
    with pytest.raises(server.ServerError, match="LAKEHOUSE_TLS_KEYSTORE_PASSWORD is not"):
        server.up(other)
    missing = dataclasses.replace(other, tls_keystore=str(tmp_path / "missing.p12"))
    with pytest.raises(server.ServerError, match="is not a file"):
        server.up(missing)
    assert not other.pid_file.exists()
