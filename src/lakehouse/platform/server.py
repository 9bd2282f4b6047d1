"""The embedded lakehouse server: one Spark driver JVM serving Thrift (SQL) and Spark Connect.

This module owns the server's life cycle. `up` starts `HiveThriftServer2` with the Spark Connect
plugin in local mode, Delta's session extension and catalog, an embedded Derby metastore and a
warehouse under the state folder, every listener bound to loopback; it returns only when both
endpoints have answered a real query, and otherwise fails within a bounded time with the reason
and the tail of the server log. `down` ends the JVM itself (its whole process group) and waits
until the ports are free. `status` asks each endpoint.

The state folder is private (0700; the server and its log write with umask 077). One `up` at a
time per state folder (a lock file): a second one waits, then finds the server running. A pid
file is trusted only when the process it names is this folder's server (its command line holds
the Thrift server class and this warehouse), so a stale pid after a reboot is never signalled.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lakehouse.platform import auth
from lakehouse.platform.config import Settings, is_loopback
from lakehouse.platform.jars import JarsMissing, cached_jars, spark_env, spark_home

THRIFT_SERVER_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
FAIR_POOLS_FILE = "fairscheduler.xml"
# A server log larger than this at start is moved aside to server.log.1 (one older copy kept).
LOG_ROTATE_BYTES = 64 * 1024 * 1024
# Every Thrift and Connect job lands in the default pool; within it, share fairly too.
FAIR_POOLS = """<?xml version="1.0"?>
<allocations>
  <pool name="default">
    <schedulingMode>FAIR</schedulingMode>
    <weight>1</weight>
    <minShare>0</minShare>
  </pool>
</allocations>
"""
CONNECT_PLUGIN = "org.apache.spark.sql.connect.SparkConnectPlugin"
# The Hadoop setting that bounds a line read from a text file: a line whose bytes, line break
# included, reach it is skipped.
MAX_LINE_CONF = "spark.hadoop.mapreduce.input.linerecordreader.line.maxlength"
# Delta compacts a partition a write touched once it holds this many small files (below half
# of 128 MB); a session can lower it (`set spark.databricks.delta.autoCompact.minNumFiles`).
COMPACT_MIN_FILES = 32


# When C2 compiles a method: after Tier4InvocationThreshold calls, after
# Tier4MinInvocationThreshold calls whose calls and loop iterations add up to
# Tier4CompileThreshold, or within a loop of Tier4BackEdgeThreshold iterations. These are 2 to 4
# times the JVM's defaults (5,000, 600, 15,000 and 40,000); see build_command.
C2_THRESHOLDS = {
    "Tier4InvocationThreshold": 20000,
    "Tier4MinInvocationThreshold": 2000,
    "Tier4CompileThreshold": 30000,
    "Tier4BackEdgeThreshold": 160000,
}


class ServerError(RuntimeError):
    """The server could not be started or stopped; the message says why and what to do."""


# -- small helpers ----------------------------------------------------------------------------


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports on 127.0.0.1 below the kernel's ephemeral range (32768+), so
    no outgoing connection can be holding them when a server wants them (tests and the
    benchmark use these). Each stays bound until all are chosen: two of them can never be the
    same port (a server whose UI and Connect ports were equal failed to start)."""
    import random

    rng = random.Random()
    held: list[socket.socket] = []
    try:
        for _ in range(200 * count):
            if len(held) == count:
                break
            sock = socket.socket()
            try:
                sock.bind(("127.0.0.1", rng.randrange(20000, 32000)))
            except OSError:
                sock.close()
                continue
            held.append(sock)
        if len(held) < count:
            raise RuntimeError(f"no {count} free ports found in 20000-32000")
        return [sock.getsockname()[1] for sock in held]
    finally:
        for sock in held:
            sock.close()


def free_port() -> int:
    """One free port (see `free_ports`)."""
    return free_ports(1)[0]


def port_free(host: str, port: int) -> bool:
    """True when a server could listen on host:port: nothing listens there and nothing else
    holds it. SO_REUSEADDR, as servers bind, so connections lingering in TIME_WAIT after a
    stop do not count."""
    if port_open(host, port, timeout=0.5):
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) counts as gone once its last thread has ended: a
    # killed JVM's main thread turns zombie while other threads still hold its sockets.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return len(list(Path(f"/proc/{pid}/task").iterdir())) > 1
    return True


def read_pid(settings: Settings) -> int | None:
    try:
        return int(settings.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def is_lakehouse_server(pid: int, settings: Settings) -> bool:
    """Whether `pid` is this state folder's server: its command line names the Thrift server
    class and this warehouse. Where there is no /proc (macOS) it cannot tell and says yes."""
    if not Path("/proc/self").exists():
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, UnicodeDecodeError):
        return False
    return THRIFT_SERVER_CLASS in cmdline and str(settings.warehouse_dir) in cmdline


def running_pid(settings: Settings, echo=print) -> int | None:
    """The pid of this state folder's running server, or None. A pid file that names a dead
    process, or a live process that is not this server (a pid reused after a reboot), is
    removed, and in the second case the process is left alone and `echo` says so."""
    pid = read_pid(settings)
    if pid is None:
        return None
    if pid_alive(pid) and is_lakehouse_server(pid, settings):
        return pid
    if pid_alive(pid):
        echo(f"{settings.pid_file} named pid {pid}, which is not this lakehouse's server; "
             "left it alone and removed the stale pid file.")  # fmt: skip
    settings.pid_file.unlink(missing_ok=True)
    return None


def make_state_private(settings: Settings) -> None:
    """Create the state folders, readable by their owner only (0700)."""
    for folder in (settings.state_dir, settings.log_dir, settings.warehouse_dir):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(PermissionError):  # a folder given by someone else stays theirs
        settings.state_dir.chmod(0o700)


@contextlib.contextmanager
def _one_start_at_a_time(settings: Settings):
    """An exclusive lock on `server.lock` in the state folder while a server starts."""
    make_state_private(settings)
    with open(settings.state_dir / "server.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def log_tail(settings: Settings, lines: int = 40) -> str:
    try:
        text = settings.server_log.read_text(errors="replace")
    except FileNotFoundError:
        return "(no server log yet)"
    return "\n".join(text.splitlines()[-lines:])


def find_java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


# -- endpoint probes --------------------------------------------------------------------------


def query_thrift(settings: Settings, timeout: float = 30.0) -> str:
    """Run `select 1` over the Thrift (HiveServer2) endpoint; returns a short description."""
    from pyhive import hive

    if not port_open(settings.host, settings.thrift_port):
        raise ConnectionError(f"nothing listens on {settings.host}:{settings.thrift_port}")
    if settings.tls_keystore:  # TLS (the certificate is not checked: the probe is local)
        from dbt.adapters.spark.connections import build_ssl_transport

        transport = build_ssl_transport(
            host=settings.host, port=settings.thrift_port, username=auth.THRIFT_USER,
            auth="CUSTOM", kerberos_service_name=None, password=auth.require_secret(settings),
        )  # fmt: skip
        conn = hive.connect(thrift_transport=transport)
    else:
        conn = hive.connect(host=settings.host, port=settings.thrift_port,
                            username=auth.THRIFT_USER, auth="CUSTOM",
                            password=auth.require_secret(settings))  # fmt: skip
    try:
        cur = conn.cursor()
        cur.execute("select 1 as ok")
        rows = cur.fetchall()
        if rows != [(1,)]:
            raise ConnectionError(f"unexpected answer {rows!r}")
    finally:
        conn.close()
    return "select 1 answered"


def query_connect(settings: Settings) -> str:
    """Run `select 1` over Spark Connect; returns the server's Spark version."""
    from pyspark.sql import SparkSession

    if not port_open(settings.local_host, settings.connect_port):
        raise ConnectionError(f"nothing listens on {settings.local_host}:{settings.connect_port}")
    spark = SparkSession.builder.remote(settings.connect_url).create()
    try:
        rows = spark.sql("select 1 as ok").collect()
        if [r.ok for r in rows] != [1]:
            raise ConnectionError(f"unexpected answer {rows!r}")
        return f"select 1 answered (Spark {spark.version})"
    finally:
        spark.stop()


def query_ui(settings: Settings) -> str:
    url = f"http://{settings.local_host}:{settings.ui_port}/api/v1/applications"
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback only
        return f"HTTP {resp.status}"


# -- the command line of the JVM --------------------------------------------------------------


def spark_submit() -> str:
    return str(spark_home() / "bin" / "spark-submit")


def java_option_quote(value: str) -> str:
    """`value` as one word of a Java options string (spark.driver.extraJavaOptions), which
    Spark splits on spaces, honouring double quotes and backslash escapes."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_command(settings: Settings, jars: list[Path]) -> list[str]:
    """The `spark-submit` command line of the server (tests read it; keep it a pure function)."""
    s = settings
    derby_url = f"jdbc:derby:;databaseName={s.metastore_dir};create=true"
    # one string that Spark splits on spaces: a path with a space or a quote is quoted
    java_opts = f"-Dderby.system.home={java_option_quote(str(s.state_dir))} -Duser.timezone=UTC"
    # The throughput collector: a build is batch work on 2 cores, and G1's concurrent marking
    # and write barriers cost CPU the queries need. On the 10 M state, warm daily runs took
    # 117 s and 203 CPU-seconds of the server with G1, 107 s and 184 with this
    # (docs/operations.md, "Where the server's CPU goes in a daily run").
    java_opts += " -XX:+UseParallelGC"
    # C2, the JIT's optimising tier, compiles a method later (C2_THRESHOLDS). A build runs over
    # 1,000 Spark jobs, each with generated classes of its own, and the compiler threads used
    # about a third of a 1 M build's server CPU; much of what C2 compiled ran too briefly to
    # repay it. 1 M full builds 175 and 178 s against 185 to 203 s, 10 M inside the noise
    # (docs/operations.md, "Where the server's CPU goes in the tests: the JIT").
    java_opts += " " + " ".join(f"-XX:{flag}={value}" for flag, value in C2_THRESHOLDS.items())
    conf = {
        "spark.master": s.master or f"local[{s.cores}]",
        "spark.app.name": "ecom-lakehouse",
        "spark.driver.memory": s.driver_memory,
        "spark.driver.extraJavaOptions": java_opts,
        # Every listener on the chosen interface (loopback by default).
        "spark.driver.host": s.local_host,
        "spark.driver.bindAddress": s.local_host,
        "spark.ui.port": str(s.ui_port),
        "spark.port.maxRetries": "0",
        "spark.plugins": CONNECT_PLUGIN,
        "spark.connect.grpc.binding.address": s.local_host,
        "spark.connect.grpc.binding.port": str(s.connect_port),
        # Delta Lake and the Hive metastore.
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str(s.warehouse_dir),
        "spark.hadoop.javax.jdo.option.ConnectionURL": derby_url,
        "spark.sql.sources.default": "delta",
        # Delta answers min/max/count from its log alone; for a date column over Thrift that
        # path fails (ClassCastException: LocalDate to java.sql.Date), so read the data.
        "spark.databricks.delta.optimizeMetadataQuery.enabled": "false",
        # Delta rebuilds a table's state from its log with a Spark job of this many tasks
        # (50 by default): on 2 cores, 50 tiny tasks made every statement on an existing table
        # (replace, alter, describe, insert) cost 4 to 7 s instead of under 1.
        "spark.databricks.delta.snapshotPartitions": str(max(2, s.cores * 2)),
        # Writes coalesce into few files per partition, so tables need no OPTIMIZE after
        # each build. Where appends still collect small files (a streaming micro-batch, a
        # daily partition rewritten, an audit row per load), Delta's auto compaction
        # rewrites, right after a write, the partitions it touched that hold at least
        # COMPACT_MIN_FILES small files: no query per table to ask (a `describe detail` per
        # incremental model and build cost 12 s of a 1 M daily run's node time;
        # docs/operations.md, "Cost decisions").
        "spark.databricks.delta.optimizeWrite.enabled": "true",
        "spark.databricks.delta.autoCompact.enabled": "true",
        "spark.databricks.delta.autoCompact.minNumFiles": str(COMPACT_MIN_FILES),
        # Sized for 2 cores: fewer shuffle partitions, and UTC everywhere.
        "spark.sql.shuffle.partitions": str(max(4, s.cores * 4)),
        "spark.sql.session.timeZone": "UTC",
        # Timestamps as 64-bit microseconds in Parquet, not Spark's legacy 96-bit default:
        # the 96-bit values go through a dictionary of byte arrays on every write. Rewriting
        # the 42.4 M state's slv_user_product_daily (31 M rows, 3 timestamps) took 57 to 62 s
        # against 68 to 76 s, and a scan grouping its timestamps 5.1 to 5.9 s against 7.4 to
        # 8.6 s (docs/operations.md, "Cost decisions"). Both kinds read the same.
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        # Shorter tasks: large stages ran 2 to 8 s a task (64 MB after AQE's coalescing), and
        # every small query of a run waited that long for a core at each of its stages. Beside
        # the recommendation step of the 10 M state, a small query's median wait fell from 2.6
        # to 1.4-2.0 s with these, the step itself unchanged (docs/operations.md).
        "spark.sql.adaptive.advisoryPartitionSizeInBytes": "16m",
        "spark.sql.files.maxPartitionBytes": "32m",
        "spark.ui.showConsoleProgress": "false",
        # Jobs share the 2 cores fairly: a one-second data test or a small table runs beside
        # an ALS stage instead of queueing behind it (FIFO would run whole jobs in order).
        "spark.scheduler.mode": "FAIR",
        "spark.scheduler.allocation.file": str(s.state_dir / FAIR_POOLS_FILE),
        # A landing line longer than max_line_bytes (its line break included) is skipped by
        # Hadoop's line reader, which never holds more than that many bytes of it; bronze's
        # scan of each new file quarantines it as line_too_long (lakehouse.data.lines).
        MAX_LINE_CONF: str(s.max_line_bytes + 1),
        # One machine: no task should wait (3 s by default) for a "more local" slot.
        "spark.locality.wait": "0s",
        # Spark compiles a class for each new query plan and keeps the last 100 (the
        # default); a daily run runs about 800 statements, so the cache turned over within
        # the run and plans compiled again, each then compiled again by the JIT.
        "spark.sql.codegen.cache.maxEntries": "2000",
    }
    if s.master:  # the driver of a cluster: one-core executors on the workers
        conf["spark.executor.memory"] = s.executor_memory
        conf["spark.executor.cores"] = "1"
    cmd = [spark_submit(), "--class", THRIFT_SERVER_CLASS, "--name", "ecom-lakehouse"]
    if s.tls_keystore:  # the keystore's password, in a private file rather than in `ps`
        cmd += ["--properties-file", str(tls_properties_file(s))]
    if jars:
        # On the driver's own class path too: Thrift sessions resolve data sources through a
        # session class loader that does not see `--jars`, and would miss `delta`.
        cmd += ["--driver-class-path", ":".join(str(j) for j in jars)]
        cmd += ["--jars", ",".join(str(j) for j in jars)]
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    cmd += [
        "spark-internal",
        "--hiveconf", f"hive.server2.thrift.port={s.thrift_port}",
        "--hiveconf", f"hive.server2.thrift.bind.host={s.host}",
        # every Thrift client must give the secret as its password (lakehouse.platform.auth)
        "--hiveconf", "hive.server2.authentication=CUSTOM",
        "--hiveconf", f"hive.server2.custom.authentication.class={auth.AUTHENTICATOR_CLASS}",
    ]  # fmt: skip
    if s.tls_keystore:  # Thrift over TLS, the only endpoint beyond loopback
        cmd += [
            "--hiveconf", "hive.server2.use.SSL=true",
            "--hiveconf", f"hive.server2.keystore.path={Path(s.tls_keystore).resolve()}",
        ]  # fmt: skip
    return cmd


def tls_properties_file(settings: Settings) -> Path:
    return settings.state_dir / "tls.properties"


def write_tls_properties(settings: Settings) -> None:
    """The spark-submit properties file that gives Thrift its keystore's password (mode
    0600 in the private state folder; spark-submit reads it, `ps` never shows it)."""
    path = tls_properties_file(settings)
    password = settings.tls_keystore_password.replace("\\", "\\\\")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"spark.hadoop.hive.server2.keystore.password={password}\n")
    path.chmod(0o600)


def server_env(settings: Settings) -> dict[str, str]:
    env = spark_env()
    env["SPARK_LOCAL_IP"] = settings.local_host  # driver RPC and block manager on loopback
    # The secret, for Spark Connect and the Thrift authenticator: environment variables stay
    # out of `ps` and are readable by the server's own user only.
    secret = auth.require_secret(settings)
    env["SPARK_CONNECT_AUTHENTICATE_TOKEN"] = secret
    env[auth.SERVER_VARIABLE] = secret
    return env


# -- life cycle -------------------------------------------------------------------------------


@dataclass
class EndpointStatus:
    name: str
    address: str
    ok: bool
    detail: str


def status(settings: Settings) -> tuple[int | None, list[EndpointStatus]]:
    """The server's pid (None when not running) and the state of each endpoint."""
    pid = running_pid(settings)
    s = settings
    probes = [
        ("thrift", f"{s.host}:{s.thrift_port}", lambda: query_thrift(s)),
        ("connect", s.connect_address, lambda: query_connect(s)),
        ("ui", f"http://{s.local_host}:{s.ui_port}", lambda: query_ui(s)),
    ]
    result = []
    for name, address, probe in probes:
        try:
            result.append(EndpointStatus(name, address, True, probe()))
        except Exception as exc:  # noqa: BLE001 - any failure means "not answering"
            result.append(EndpointStatus(name, address, False, f"{type(exc).__name__}: {exc}"))
    return pid, result


def check_host(settings: Settings) -> None:
    """Refuses a host beyond loopback unless Thrift is given TLS: the endpoints carry SQL,
    results and the secret, which must not cross a network in clear. With a TLS keystore,
    Thrift listens on the host over TLS, and Spark Connect and the Spark UI (which have no TLS
    here) stay on 127.0.0.1."""
    if is_loopback(settings.host):
        return
    tunnel = (
        "Keep the default 127.0.0.1 and reach it from another machine through an SSH tunnel "
        "(ssh -L 10000:127.0.0.1:10000 -L 15002:127.0.0.1:15002 this-host)"
    )
    if not settings.tls_keystore:
        raise ServerError(
            f"Refusing LAKEHOUSE_HOST={settings.host}: the server would listen beyond this "
            "machine without TLS, sending SQL, results and the secret in clear. "
            + tunnel
            + ", or give Thrift TLS: LAKEHOUSE_TLS_KEYSTORE (a PKCS12 or JKS keystore) and "
            "LAKEHOUSE_TLS_KEYSTORE_PASSWORD (Spark Connect and the UI then stay on 127.0.0.1)."
        )
    if not Path(settings.tls_keystore).is_file():
        raise ServerError(f"LAKEHOUSE_TLS_KEYSTORE={settings.tls_keystore} is not a file")
    if not settings.tls_keystore_password:
        raise ServerError("LAKEHOUSE_TLS_KEYSTORE is set but LAKEHOUSE_TLS_KEYSTORE_PASSWORD "
                          "is not: the server cannot open the keystore")  # fmt: skip


def rotate_log(settings: Settings, max_bytes: int = LOG_ROTATE_BYTES) -> bool:
    """At start, a server log over `max_bytes` becomes server.log.1 (replacing the older one);
    returns whether it rotated."""
    log = settings.server_log
    if not log.exists() or log.stat().st_size <= max_bytes:
        return False
    os.replace(log, log.with_name(log.name + ".1"))
    return True


def _preflight(settings: Settings) -> list[Path]:
    check_host(settings)
    if find_java() is None:
        raise ServerError(
            "Java was not found (neither $JAVA_HOME/bin/java nor `java` on PATH). "
            "Spark 4 needs Java 17 or 21: install it, e.g. "
            "`apt-get install openjdk-17-jdk-headless`."
        )
    try:
        jars = [*cached_jars(settings), auth.cached_authenticator(settings)]
    except (JarsMissing, auth.AuthError) as exc:
        raise ServerError(str(exc)) from exc

    def taken() -> list[str]:
        return [
            f"{name} port {settings.listen_host(name)}:{port}"
            for name, port in settings.ports.items()
            if not port_free(settings.listen_host(name), port)
        ]

    # After a server was killed, its half-closed connections can hold a port for up to a
    # minute (the kernel's FIN timeout) although nothing listens: wait for those.
    busy, deadline = taken(), time.monotonic() + 75
    while (
        busy
        and time.monotonic() < deadline
        and not any(
            port_open(settings.listen_host(name), port) for name, port in settings.ports.items()
        )
    ):
        time.sleep(1)
        busy = taken()
    if busy:
        raise ServerError(
            f"Cannot start: {', '.join(busy)} already in use by another "
            "process. Stop it, or choose other ports with LAKEHOUSE_THRIFT_PORT, "
            "LAKEHOUSE_CONNECT_PORT and LAKEHOUSE_UI_PORT."
        )
    return jars


def up(settings: Settings, echo=print) -> int:
    """Start the server and wait until both endpoints answer; returns the JVM's pid."""
    with _one_start_at_a_time(settings):
        return _up(settings, echo)


def _up(settings: Settings, echo) -> int:
    pid = running_pid(settings, echo)
    if pid is not None:
        _wait_ready(settings, pid, proc=None, echo=echo)
        echo(f"Lakehouse server already running (pid {pid}).")
        return pid
    jars = _preflight(settings)
    try:
        auth.ensure_secret(settings)
    except auth.AuthError as exc:
        raise ServerError(str(exc)) from exc
    (settings.state_dir / FAIR_POOLS_FILE).write_text(FAIR_POOLS)
    if settings.tls_keystore:
        write_tls_properties(settings)
    else:
        tls_properties_file(settings).unlink(missing_ok=True)
    cmd = build_command(settings, jars)
    echo(f"Starting lakehouse server (state in {settings.state_dir}) ...")
    if rotate_log(settings):
        echo(f"The previous server log is now {settings.server_log.name}.1")
    fd = os.open(settings.server_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with open(fd, "ab") as log:
        log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=settings.state_dir,
            env=server_env(settings),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: `down` ends the JVM and children
            umask=0o077,  # tables, metastore and logs readable by their owner only
        )
    settings.pid_file.write_text(f"{proc.pid}\n")
    try:
        _wait_ready(settings, proc.pid, proc=proc, echo=echo)
    except BaseException:
        _terminate(settings, proc.pid)
        raise
    echo(
        f"Lakehouse server up (pid {proc.pid}): thrift {settings.host}:{settings.thrift_port}, "
        f"connect {settings.connect_address}, Spark UI http://{settings.local_host}:{settings.ui_port}"
    )
    return proc.pid


def _wait_ready(settings: Settings, pid: int, proc: subprocess.Popen | None, echo) -> None:
    deadline = time.monotonic() + settings.start_timeout
    pending = {"thrift": lambda: query_thrift(settings), "connect": lambda: query_connect(settings)}
    last_error: dict[str, str] = {}
    while pending:
        exited = proc.poll() is not None if proc is not None else not pid_alive(pid)
        if exited:
            settings.pid_file.unlink(missing_ok=True)
            raise ServerError(
                "The server process exited during start-up. Last lines of "
                f"{settings.server_log}:\n{log_tail(settings)}"
            )
        if time.monotonic() > deadline:
            raise ServerError(
                f"The server did not answer within {settings.start_timeout}s "
                f"(LAKEHOUSE_START_TIMEOUT); still waiting for {sorted(pending)}: {last_error}. "
                f"Last lines of {settings.server_log}:\n{log_tail(settings)}"
            )
        for name, probe in list(pending.items()):
            try:
                probe()
            except Exception as exc:  # noqa: BLE001 - keep waiting until the deadline
                last_error[name] = f"{type(exc).__name__}: {exc}"
            else:
                echo(f"  {name} endpoint answers")
                del pending[name]
        if pending:
            time.sleep(1.0)


def _terminate(settings: Settings, pid: int, grace: float = 60.0) -> None:
    """End the JVM's process group: SIGTERM (shutdown hooks stop Thrift, Connect and Derby
    cleanly), then SIGKILL after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 15.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap it when it is our own child
            if not pid_alive(pid):
                break
            time.sleep(0.2)
        if not pid_alive(pid):
            break
    settings.pid_file.unlink(missing_ok=True)


def down(settings: Settings, echo=print) -> bool:
    """Stop the server; True when one was running. Waits until every port is free."""
    pid = running_pid(settings, echo)
    if pid is None:
        echo("Lakehouse server is not running.")
        return False
    echo(f"Stopping lakehouse server (pid {pid}) ...")
    _terminate(settings, pid)
    deadline = time.monotonic() + 30
    busy = list(settings.ports.items())
    while busy and time.monotonic() < deadline:
        busy = [(n, p) for n, p in busy if port_open(settings.listen_host(n), p, timeout=0.5)]
        if busy:
            time.sleep(0.2)
    if busy:
        raise ServerError(f"The JVM ended but something still listens on: {busy}")
    echo("Lakehouse server stopped; ports are free.")
    return True
