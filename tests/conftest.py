"""Shared fixtures: one real lakehouse server and one project build for the whole session.

The test server runs on its own ports and its own state folder (a temporary directory), so
`make test` never touches a server you started with `make up`. The ports are exported as the
environment variables that `profiles.yml` reads, so every `dbt` call in a test talks to it.

Every test that needs the server (through the `lakehouse` fixture, directly or not) is marked
`server`; `make test-fast` runs the others (`pytest -m "not server"`).

The models are trained with smaller grids and a smaller ALS than the defaults (TEST_VARS):
the tests check what the pipeline does, not how good the models are; `make run` and
`make bench` report the quality of the defaults.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from lakehouse.data import generate
from lakehouse.platform import server
from lakehouse.platform.config import DBT_PARTIAL_PARSE_FILE, Settings
from lakehouse.platform.server import free_port, free_ports  # noqa: F401 - tests import free_port here

PROJECT_DIR = Path(__file__).resolve().parents[1]
BIN_DIR = Path(sys.executable).parent
# The session's data: two months (the default windows), some malformed lines.
ROWS, SEED, FIRST_DAY, LAST_DAY = 60_000, 11, date(2019, 10, 1), date(2019, 11, 30)
TEST_VARS = {
    "logistic_regression_grid": {"regParam": [0.01, 0.1], "elasticNetParam": [0.0]},
    "random_forest_grid": {"numTrees": [20], "maxDepth": [4, 6]},
    # one ALS point: each costs a fit and a scoring on the build's critical path (20 s); how
    # the best point is chosen is tested without a server (test_evaluation.py)
    "als_grid": {"rank": [8], "maxIter": [5], "regParam": [0.1], "alpha": [1.0]},
}


def pytest_collection_modifyitems(items):
    """Marks the tests that need the server, and runs the modules that change the session's
    build after those that only read it: a module's `STAGE` (default 0) orders it; 1 retrains
    models or restarts the server, 2 lands new days and runs later run dates."""
    for item in items:
        if "lakehouse" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.server)
    items.sort(key=lambda item: getattr(item.module, "STAGE", 0))


@pytest.fixture(scope="session")
def test_env(tmp_path_factory) -> dict[str, str]:
    """Environment of the test session's server and dbt calls (also applied to os.environ)."""
    state = tmp_path_factory.mktemp("lakehouse-state")
    landing = state / "landing"
    generate.generate(landing, rows=ROWS, start=FIRST_DAY, end=LAST_DAY, seed=SEED,
                      bad_rate=0.001, progress=False)  # fmt: skip
    thrift, connect, ui = free_ports(3)
    env = {
        "LAKEHOUSE_LANDING_DIR": str(landing),
        "LAKEHOUSE_STATE_DIR": str(state),
        "LAKEHOUSE_THRIFT_PORT": str(thrift),
        "LAKEHOUSE_CONNECT_PORT": str(connect),
        "LAKEHOUSE_UI_PORT": str(ui),
        "LAKEHOUSE_DRIVER_MEMORY": os.environ.get("LAKEHOUSE_DRIVER_MEMORY", "6g"),
        "LAKEHOUSE_DBT_VARS": json.dumps(TEST_VARS),
        "DBT_PROFILES_DIR": str(PROJECT_DIR),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # the venv's commands first, as the Makefile sets it (dagster-dbt calls `dbt` by name)
        "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    os.environ.update(env)
    return env


@pytest.fixture(scope="session")
def settings(test_env) -> Settings:
    return Settings.from_env()


_DAGSTER_MANIFEST: dict = {}  # the session's dagster-dbt parse, started by `lakehouse`
_SHARED_PARSE: dict = {}  # "build": the session build's dbt parse state (set by project_build)


def _reuse_build_parse(out: Path) -> None:
    """Gives the dbt folder `out` the session build's parse state, once it exists: a call with
    the build's vars then re-reads no file (a full parse is 7 s more); dbt parses in full on
    any difference."""
    parsed = out / "target" / DBT_PARTIAL_PARSE_FILE
    if "build" in _SHARED_PARSE and not parsed.exists():
        parsed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_SHARED_PARSE["build"], parsed)


def _prepare_dagster_manifest() -> None:
    """dagster-dbt's parse of the project, as `make dagster` runs it before the definitions
    load; then the definitions themselves (5 s of imports)."""
    from dagster_dbt.cli.app import prepare_and_package

    from lakehouse.orchestration.project import DBT_PROJECT

    prepare_and_package(DBT_PROJECT)
    import lakehouse.orchestration.definitions  # noqa: F401 - loaded here, used by project_build


@pytest.fixture(scope="session")
def lakehouse(settings, request):
    """The running test server (started once, stopped at the end of the session). When the
    session builds the project, dagster-dbt's parse runs in a thread while the server starts
    (each takes about 20 s, mostly of one core); project_build waits for it."""
    preparing = None
    if any("project_build" in item.fixturenames for item in request.session.items):
        pool = ThreadPoolExecutor(1)
        preparing = pool.submit(_prepare_dagster_manifest)
        pool.shutdown(wait=False)  # the submitted parse still runs; the pool takes no more
    server.up(settings)
    _DAGSTER_MANIFEST["preparing"] = preparing
    yield settings
    server.down(settings)


@pytest.fixture(scope="module")
def spark(lakehouse):
    """A Spark Connect session to the test server, for checking what dbt built (one per test
    module: a server-restart test must not leave other modules a dead session)."""
    from pyspark.sql import SparkSession

    session = SparkSession.builder.remote(lakehouse.connect_url).create()
    yield session
    if server.port_open(lakehouse.host, lakehouse.connect_port):
        session.stop()  # releasing a session of a dead server would retry for minutes


@pytest.fixture(scope="module")
def dbt(tmp_path_factory, request):
    """`dbt(args, check=True)`: the real dbt CLI with one target folder for the whole module,
    so dbt reuses its parse between the module's calls."""
    out = tmp_path_factory.mktemp(f"dbt-{request.module.__name__.rsplit('.', 1)[-1]}")

    def run(args: list[str], check: bool = True, project: Path = PROJECT_DIR):
        if project == PROJECT_DIR:
            _reuse_build_parse(out)
        return run_dbt(args, project, out, check=check)

    run.target = out
    return run


HOLD_BUILD_LOCK = """
import sys, time
from lakehouse.platform import build_lock
build_lock.acquire(sys.argv[1], "dbt build --vars {run_date: 2019-12-01}")
print("held", flush=True)
time.sleep(120)
"""


@pytest.fixture
def build_lock_holder():
    """`hold(state_dir)`: a separate process holding the build lock of `state_dir`, as a build
    of run date 2019-12-01 would; it is killed at the end of the test (or earlier by it)."""
    procs = []

    def hold(state_dir):
        proc = subprocess.Popen([sys.executable, "-c", HOLD_BUILD_LOCK, str(state_dir)],
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield hold
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def project_build(lakehouse, tmp_path_factory):
    """The whole project built once per test session the way production builds it: the run
    that the daily Dagster schedule requests at 2019-12-01 02:00 UTC (run date 2019-11-30, the
    default windows), executed in-process, then `dbt docs generate`. Several modules check
    what it built; tests/test_orchestration.py checks the run itself."""
    from dagster import DagsterInstance

    preparing = _DAGSTER_MANIFEST.get("preparing")
    if preparing is None:
        _prepare_dagster_manifest()
    else:
        preparing.result()  # started beside the server (see `lakehouse`)
    from lakehouse.orchestration import definitions as orchestration

    out = tmp_path_factory.mktemp("dbt-project")
    tick = datetime(2019, 12, 1, 2, 0, tzinfo=UTC)
    (out / "dagster-home").mkdir()
    instance = DagsterInstance.local_temp(str(out / "dagster-home"))
    run_date, result = orchestration.run_scheduled(tick, instance)
    targets = sorted((orchestration.dagster_dir(lakehouse) / "dbt").glob(f"{run_date}-*"))
    assert len(targets) == 1, targets
    log = (targets[0] / "dbt.log").read_text()
    build = SimpleNamespace(output=log, target=targets[0])
    assert result.success, log[-6000:]
    # the build's parse, for docs and every module's dbt calls with the same vars (`dbt`)
    assert run_date == str(LAST_DAY) and lakehouse.dbt_vars == TEST_VARS
    _SHARED_PARSE["build"] = targets[0] / DBT_PARTIAL_PARSE_FILE
    _reuse_build_parse(out)
    docs = run_dbt(with_test_vars(["docs", "generate"]), PROJECT_DIR, out)
    manifest = json.loads((out / "target" / "manifest.json").read_text())
    catalog = json.loads((out / "target" / "catalog.json").read_text())
    return {
        "build": build, "docs": docs, "manifest": manifest, "catalog": catalog, "out": out,
        "dagster": {"instance": instance, "result": result, "run_date": run_date,
                    "module": orchestration},
    }  # fmt: skip


def with_test_vars(args: list[str]) -> list[str]:
    """`args` with TEST_VARS merged under any `--vars` they carry (theirs win)."""
    args = list(args)
    given = {}
    if "--vars" in args:
        at = args.index("--vars")
        given = yaml.safe_load(args[at + 1]) or {}
        del args[at : at + 2]
    # the session build's run date (the project's default) given too, so that every call
    # with no vars of its own has the build's vars and can reuse its parse
    return [*args, "--vars", json.dumps({**TEST_VARS, "run_date": str(LAST_DAY), **given})]


def run_dbt(args: list[str], project_dir: Path, target_dir: Path, check: bool = True):
    """Run the real `dbt` command line (with TEST_VARS); returns the CompletedProcess (stdout
    and stderr merged in `.output`)."""
    if project_dir == PROJECT_DIR and args[0] not in ("ls", "parse", "docs"):
        args = with_test_vars(args)
    cmd = [
        str(BIN_DIR / "dbt"),
        *args,
        "--project-dir", str(project_dir),
        "--target-path", str(target_dir / "target"),
        "--log-path", str(target_dir / "logs"),
    ]  # fmt: skip
    proc = subprocess.run(
        cmd, cwd=project_dir, env=dict(os.environ), capture_output=True, text=True, check=False
    )
    proc.output = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.output[-6000:]}")
    return proc


def landing_files_read(compiled_sql: str) -> list[tuple[str, str]]:
    """(folder, file name) of every landing file that a compiled brz_landed_lines reads: one
    scan per folder, a glob naming its files, text.`<folder>/{a.csv,b\\,c.csv.gz}`."""
    found = []
    for glob in re.findall(r"text\.`([^`]+)`", compiled_sql):
        folder, names = glob[: glob.rindex("/{")], glob[glob.rindex("/{") + 2 : -1]
        found += [(folder, re.sub(r"\\(.)", r"\1", name))
                  for name in re.split(r"(?<!\\),", names)]  # fmt: skip
    return found


def listening_sockets(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state owned by process `pid`."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A = LISTEN
                continue
            hex_addr, hex_port = local.split(":")
            assert len(hex_addr) == width
            raw = bytes.fromhex(hex_addr)
            # /proc stores each 32-bit word in host (little-endian) order.
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            family = socket.AF_INET if width == 8 else socket.AF_INET6
            found.append((socket.inet_ntop(family, raw), int(hex_port, 16)))
    return found


def is_loopback_address(address: str) -> bool:
    return (
        address.startswith("127.")
        or address in ("::1", "::ffff:127.0.0.1")
        or (address.startswith("::ffff:127."))
    )


@pytest.fixture
def webhook_receiver():
    """A local HTTP endpoint (127.0.0.1, a free port) that records every POST: `.url`,
    `.received` (a list of (headers, parsed JSON body)); `.status` is what it answers."""
    import http.server
    import threading

    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the name http.server calls
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append((dict(self.headers), json.loads(body)))
            self.send_response(receiver.status)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = SimpleNamespace(url=f"http://127.0.0.1:{httpd.server_port}/alerts",
                               received=received, status=204)  # fmt: skip
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield receiver
    httpd.shutdown()
    httpd.server_close()
