"""The server's secret: one random value that both endpoints require.

Thrift (HiveServer2) runs with CUSTOM authentication: a small authenticator class
(`java/SecretAuthenticator.java`, compiled at set-up into the jar cache, so set-up needs a JDK)
accepts a client whose password is the secret. Spark Connect requires it as its token. The
secret is LAKEHOUSE_SECRET when set, else the file `secret` in the state folder, created at the
first `up` with mode 0600 (`Settings.secret` reads it). The project's own clients (dbt through
the `lakehouse_secret` profile key, the tests, Dagster, the benchmark) pick it up by themselves;
`lakehouse token` prints it for other clients. It is never logged.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from lakehouse.platform.config import Settings

SOURCE = Path(__file__).with_name("java") / "SecretAuthenticator.java"
AUTHENTICATOR_CLASS = "lakehouse.auth.SecretAuthenticator"
JAR_NAME = "lakehouse-auth.jar"
# The environment variable the authenticator reads the secret from (set by the launcher only).
SERVER_VARIABLE = "LAKEHOUSE_THRIFT_SECRET"
THRIFT_USER = "lakehouse"


class AuthError(RuntimeError):
    """The secret or the authenticator is missing; the message says what to run."""


def ensure_secret(settings: Settings) -> str:
    """The server's secret, created on first use: LAKEHOUSE_SECRET when set, else the state
    folder's `secret` file (written 0600; one left readable by others is made private)."""
    if settings.secret:
        if settings.secret_file.exists():
            settings.secret_file.chmod(0o600)
        return settings.secret
    settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(settings.secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # an empty file another start is writing, or a broken one
        raise AuthError(
            f"{settings.secret_file} exists but is empty: delete it and run `lakehouse up` "
            "again (a new secret is created; clients pick it up by themselves)"
        ) from None
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    return settings.secret


def require_secret(settings: Settings) -> str:
    """The secret for a client; a clear error when the server has never been started."""
    if not settings.secret:
        raise AuthError(
            f"No lakehouse secret: LAKEHOUSE_SECRET is unset and {settings.secret_file} does not "
            "exist. Start the server once with `make up` (or `lakehouse up`): it creates the "
            "secret that Thrift and Spark Connect require."
        )
    return settings.secret


def authenticator_jar(settings: Settings) -> Path:
    """Where set-up puts the compiled authenticator: a folder named after the source's hash,
    so a changed source is compiled again."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    return settings.jar_cache_dir / f"auth-{digest}" / JAR_NAME


def cached_authenticator(settings: Settings) -> Path:
    jar = authenticator_jar(settings)
    if not jar.is_file():
        raise AuthError(
            f"The Thrift authenticator is not compiled ({jar} is missing). Run `make setup` "
            "(or `lakehouse setup`) once; it needs a JDK (javac), not only a Java runtime."
        )
    return jar


def build_authenticator(settings: Settings, spark_jars: Path) -> Path:
    """Compiles the authenticator against pyspark's own Thrift server jar (no-op when cached)."""
    jar = authenticator_jar(settings)
    if jar.is_file():
        return jar
    javac, jar_tool = shutil.which("javac"), shutil.which("jar")
    if javac is None or jar_tool is None:
        raise AuthError(
            "Set-up compiles a small Thrift authenticator and needs a JDK (javac and jar), "
            "not only a Java runtime: install one, e.g. `apt-get install openjdk-17-jdk-headless`."
        )
    classpath = ":".join(str(p) for p in sorted(spark_jars.glob("*.jar")))
    with tempfile.TemporaryDirectory() as tmp:
        classes = Path(tmp) / "classes"
        for cmd in (
            [javac, "--release", "17", "-cp", classpath, "-d", str(classes), str(SOURCE)],
            [jar_tool, "--create", "--file", str(Path(tmp) / JAR_NAME), "-C", str(classes), "."],
        ):
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise AuthError(f"Compiling the Thrift authenticator failed:\n{proc.stderr}")
        jar.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(tmp) / JAR_NAME, jar)  # last: its presence means it is complete
    return jar


def with_token(connect_url: str, secret: str) -> str:
    """A Spark Connect URL with the secret as its token (kept when the URL has one already).
    pyspark sends a token without TLS only to `localhost`, so a loopback address becomes
    `localhost`."""
    if ";token=" in connect_url:
        return connect_url
    for loopback in ("//127.0.0.1:", "//[::1]:"):
        connect_url = connect_url.replace(loopback, "//localhost:")
    base = connect_url if "/;" in connect_url else connect_url.rstrip("/") + "/"
    return f"{base};token={secret}"
