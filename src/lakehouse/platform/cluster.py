"""A local Spark standalone cluster: one master and N workers, each its own JVM, on loopback.

`lakehouse cluster up` starts them from the Spark inside the pyspark wheel (`spark-class`), with
their logs and work folders under `<state>/cluster/`; `lakehouse up` then runs the lakehouse
server (Thrift + Spark Connect, the driver) against the master instead of `local[N]` when
LAKEHOUSE_MASTER is set (`make cluster-up` does both). Every process runs on this machine, so
the warehouse, metastore, checkpoints, MLflow store and model folder under the state folder are
paths every process reaches; a real cluster needs shared storage instead (README).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lakehouse.platform.config import Settings
from lakehouse.platform.jars import spark_env, spark_home
from lakehouse.platform.server import ServerError, pid_alive, port_free, port_open

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


@dataclass(frozen=True)
class ClusterSettings:
    host: str
    master_port: int
    master_ui_port: int
    workers: int
    worker_cores: int
    worker_memory: str
    folder: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> ClusterSettings:
        env = os.environ
        return cls(
            host=settings.host,
            master_port=int(env.get("LAKEHOUSE_MASTER_PORT", "7077")),
            master_ui_port=int(env.get("LAKEHOUSE_MASTER_UI_PORT", "7080")),
            workers=int(env.get("LAKEHOUSE_WORKERS", "2")),
            worker_cores=int(env.get("LAKEHOUSE_WORKER_CORES", "1")),
            worker_memory=env.get("LAKEHOUSE_WORKER_MEMORY", "5g"),
            folder=settings.state_dir / "cluster",
        )

    @property
    def master_url(self) -> str:
        return f"spark://{self.host}:{self.master_port}"

    @property
    def master_ui(self) -> str:
        return f"http://{self.host}:{self.master_ui_port}"

    @property
    def pid_file(self) -> Path:
        return self.folder / "pids.json"


def _spawn(cs: ClusterSettings, name: str, args: list[str]) -> int:
    cs.folder.mkdir(parents=True, exist_ok=True)
    env = spark_env()
    env["SPARK_LOCAL_IP"] = cs.host  # every RPC, block manager and UI port on loopback
    env["SPARK_DAEMON_MEMORY"] = env.get("SPARK_DAEMON_MEMORY", "512m")
    env["SPARK_WORKER_DIR"] = str(cs.folder / "work")
    with (cs.folder / f"{name}.log").open("ab") as log:  # the child keeps its own copy
        proc = subprocess.Popen(
            [str(spark_home() / "bin" / "spark-class"), *args],
            env=env, cwd=cs.folder, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return proc.pid


def master_state(cs: ClusterSettings) -> dict:
    """The master's own view (its UI's /json): workers with their cores and state, apps."""
    with urllib.request.urlopen(f"{cs.master_ui}/json/", timeout=10) as response:
        return json.loads(response.read())


def _wait(what: str, ok, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ok():
                return
        except OSError:
            pass
        time.sleep(1)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise ServerError(f"{what} did not come up within {timeout:.0f} s; log {log}:\n{tail}")


def up(settings: Settings, echo=print) -> ClusterSettings:
    """Starts the master and the workers (no-op when they run); returns the cluster's settings."""
    cs = ClusterSettings.from_settings(settings)
    pids = _read_pids(cs)
    if pids and all(pid_alive(p) and is_cluster_process(p, cs) for p in pids.values()):
        echo(f"Cluster already running: {cs.master_url} (UI {cs.master_ui})")
        return cs
    for port in (cs.master_port, cs.master_ui_port):
        if not port_free(cs.host, port):
            raise ServerError(f"port {cs.host}:{port} is taken; set LAKEHOUSE_MASTER_PORT / "
                              "LAKEHOUSE_MASTER_UI_PORT")  # fmt: skip
    echo(f"Starting Spark master {cs.master_url} (UI {cs.master_ui}) ...")
    pids = {"master": _spawn(cs, "master", [MASTER_CLASS, "--host", cs.host, "--port",
                                            str(cs.master_port), "--webui-port",
                                            str(cs.master_ui_port)])}  # fmt: skip
    _wait("the Spark master", lambda: port_open(cs.host, cs.master_port) and master_state(cs),
          90, cs.folder / "master.log")  # fmt: skip
    for i in range(1, cs.workers + 1):
        pids[f"worker-{i}"] = _spawn(cs, f"worker-{i}", [
            WORKER_CLASS, "--host", cs.host, "--cores", str(cs.worker_cores), "--memory",
            cs.worker_memory, "--webui-port", str(cs.master_ui_port + i), "--work-dir",
            str(cs.folder / f"work-{i}"), cs.master_url,
        ])  # fmt: skip
    _write_pids(cs, pids)

    def all_alive() -> bool:
        alive = [w for w in master_state(cs)["workers"] if w["state"] == "ALIVE"]
        return len(alive) >= cs.workers

    _wait(f"{cs.workers} workers", all_alive, 120, cs.folder / "worker-1.log")
    echo(f"Cluster up: master {cs.master_url}, {cs.workers} workers x {cs.worker_cores} core, "
         f"{cs.worker_memory}; UI {cs.master_ui}")  # fmt: skip
    return cs


def is_cluster_process(pid: int, cs: ClusterSettings) -> bool:
    """Whether `pid` is a master or worker of this state folder's cluster: its command line
    names the master or worker class and it runs in the cluster folder. Where there is no
    /proc (macOS) it cannot tell and says yes."""
    if not Path("/proc/self").exists():
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except (OSError, UnicodeDecodeError):
        return False
    named = MASTER_CLASS in cmdline or WORKER_CLASS in cmdline
    return named and Path(cwd) == cs.folder.resolve()


def down(settings: Settings, echo=print) -> None:
    """Stops the master and workers the pid file names, workers first. A pid that is not
    this folder's master or worker (reused after a reboot) is left alone, with a line."""
    cs = ClusterSettings.from_settings(settings)
    pids = _read_pids(cs)
    for name, pid in sorted(pids.items(), reverse=True):  # workers first, then the master
        if pid_alive(pid) and not is_cluster_process(pid, cs):
            echo(f"{cs.pid_file} named pid {pid} for {name}, which is not this lakehouse's "
                 "cluster (a stale pid file?): left alone")  # fmt: skip
            continue
        if pid_alive(pid):
            try:
                os.killpg(os.getpgid(pid), signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 30
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.3)
            if pid_alive(pid):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            echo(f"stopped {name} (pid {pid})")
    cs.pid_file.unlink(missing_ok=True)


def _read_pids(cs: ClusterSettings) -> dict[str, int]:
    try:
        return json.loads(cs.pid_file.read_text())
    except (OSError, ValueError):
        return {}


def _write_pids(cs: ClusterSettings, pids: dict[str, int]) -> None:
    cs.pid_file.write_text(json.dumps(pids) + "\n")


def executor_tasks(settings: Settings) -> dict[str, int]:
    """Completed tasks per executor of the running lakehouse server (its UI's REST API),
    keyed by executor host:port; the driver is left out."""
    base = f"http://{settings.host}:{settings.ui_port}/api/v1/applications"
    with urllib.request.urlopen(base, timeout=10) as response:
        app = json.loads(response.read())[0]["id"]
    with urllib.request.urlopen(f"{base}/{app}/allexecutors", timeout=10) as response:
        executors = json.loads(response.read())
    return {e["hostPort"] + f" ({e['id']})": e["completedTasks"] for e in executors
            if e["id"] != "driver"}  # fmt: skip
