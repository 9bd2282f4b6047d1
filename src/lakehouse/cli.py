"""The `lakehouse` command: set-up, the server's life cycle, and where to look.

Each sub-command is a thin wrapper over one module of this package (`jars`, `server`), so the
same operations are callable from tests and from Python. Errors that a user can fix print one
clear message and exit with status 1; no traceback.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from lakehouse.platform import auth, jars, server
from lakehouse.platform.config import Settings


def _cmd_setup(settings: Settings, args: argparse.Namespace) -> int:
    paths = jars.resolve(settings, force=args.force)
    print(f"Delta jars ready in {jars.delta_dir(settings)} ({len(paths)} files).")
    built = auth.build_authenticator(settings, jars.spark_home() / "jars")
    print(f"Thrift authenticator ready in {built}.")
    return 0


def _cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    """Prints the secret alone on stdout, for a client this project does not configure."""
    print(auth.require_secret(settings))
    return 0


def _cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    server.up(settings)
    return 0


def _cmd_down(settings: Settings, args: argparse.Namespace) -> int:
    server.down(settings)
    return 0


def _cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    pid, endpoints = server.status(settings)
    print(f"server pid: {pid if pid else 'not running'}   state: {settings.state_dir}")
    for ep in endpoints:
        mark = "up  " if ep.ok else "DOWN"
        print(f"  {mark} {ep.name:<8} {ep.address:<28} {ep.detail}")
    return 0 if pid and all(ep.ok for ep in endpoints) else 3


def _cmd_logs(settings: Settings, args: argparse.Namespace) -> int:
    if args.follow:
        return subprocess.call(["tail", "-n", str(args.lines), "-F", str(settings.server_log)])
    print(server.log_tail(settings, args.lines))
    return 0


def _cmd_where(settings: Settings, args: argparse.Namespace) -> int:
    s = settings
    print(
        "Where to look:\n"
        f"  dbt docs (lineage):  .venv/bin/dbt docs serve --host 127.0.0.1 --port 8080\n"
        f"  Spark UI (plans):    http://{s.local_host}:{s.ui_port}\n"
        f"  MLflow UI:           make mlflow-ui   (store: {s.mlflow_dir})\n"
        f"  Thrift (SQL):        {s.host}:{s.thrift_port}   (any HiveServer2 client; user "
        f"{auth.THRIFT_USER}, password: `lakehouse token`)\n"
        f"  Spark Connect:       {s.connect_address}   e.g. SparkSession.builder.remote(...)\n"
        f"  Server log:          {s.server_log}"
    )
    return 0


def _cmd_stream(settings: Settings, args: argparse.Namespace) -> int:
    from lakehouse.streaming import arrivals

    target = Path(args.to) if args.to else settings.stream_dir
    dropped = arrivals.drop_files(
        target, settings.stream_staging_dir, rows=args.rows, start=date.fromisoformat(args.start),
        end=date.fromisoformat(args.end), seed=args.seed, interval=args.interval,
        max_files=args.files,
    )  # fmt: skip
    print(f"{len(dropped)} file(s) dropped into {target}; `dbt build -s tag:streaming` reads them.")
    return 0


def _cmd_generate(settings: Settings, args: argparse.Namespace) -> int:
    from lakehouse.data import generate

    out = Path(args.out) if args.out else settings.landing_dir
    existing = [p for p in out.glob("*") if p.name.endswith((".csv", ".csv.gz"))]
    if existing and args.if_missing:
        print(f"Landing folder {out} already holds {len(existing)} event files; not generating.")
        return 0
    start = date.fromisoformat(args.start)
    end = date.fromisoformat(args.end)
    if args.extend_to:
        last = date.fromisoformat(args.extend_to)
        days = [end + timedelta(days=i) for i in range(1, (last - end).days + 1)]
        paths = generate.extend(
            out, days, rows=args.rows, start=start, end=end, seed=args.seed,
            bad_rate=args.bad_rate, compress=args.gzip,
        )  # fmt: skip
        print(f"Wrote {len(paths)} day file(s) after {end} continuing the data set, into {out}")
        return 0
    print(f"Generating ~{args.rows:,} events, {start} .. {end}, seed {args.seed}, into {out}")
    paths = generate.generate(
        out, rows=args.rows, start=start, end=end, seed=args.seed,
        bad_rate=args.bad_rate, compress=args.gzip,
    )  # fmt: skip
    print(f"Wrote {len(paths)} files.")
    return 0


def _cmd_profile(settings: Settings, args: argparse.Namespace) -> int:
    from lakehouse.data import profile

    paths = profile.event_files([Path(p) for p in args.paths] or [settings.landing_dir])
    print(f"Profiling {len(paths)} files ...", flush=True)
    stats = profile.profile(paths)
    print(profile.report(stats))
    failed = [c.target.name for c in profile.check(stats) if not c.ok]
    if failed and args.check:
        print(f"Outside the target range: {', '.join(failed)}", file=sys.stderr)
        return 2
    return 0


def _cmd_backfill(settings: Settings, args: argparse.Namespace) -> int:
    """Runs the daily Dagster job for each date from --start to --end, in order, in this
    process, with Dagster's run history in the state folder (as `make dagster` keeps it)."""
    import os
    from datetime import timedelta

    from dagster import DagsterInstance
    from dagster_dbt.cli.app import prepare_and_package

    home = settings.state_dir / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    from lakehouse.orchestration.project import DBT_PROJECT

    prepare_and_package(DBT_PROJECT)
    from lakehouse.orchestration import definitions

    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end or args.start)
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    dates = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    results = definitions.run_dates(dates, DagsterInstance.get(), rebuild=args.rebuild)
    for run_date, result in zip(dates, results, strict=False):
        print(f"run date {run_date}: {'succeeded' if result.success else 'FAILED'} "
              f"(Dagster run {result.run_id})")  # fmt: skip
    return 0 if len(results) == len(dates) and all(r.success for r in results) else 1


def _cmd_reproduce_run(settings: Settings, args: argparse.Namespace) -> int:
    """Rebuilds an MLflow run's training set by Delta time travel and checks it (exit 1 when
    it differs or cannot be read)."""
    from pyspark.sql import SparkSession

    from lakehouse.ml.tracking import reproduce_training_set

    spark = SparkSession.builder.remote(settings.connect_url).create()
    try:
        same, message = reproduce_training_set(settings, args.run_id, spark)
    finally:
        spark.stop()
    print(message)
    return 0 if same else 1


def _cmd_rollback(settings: Settings, args: argparse.Namespace) -> int:
    """Moves a registered model's champion alias back to an earlier version."""
    from lakehouse.ml import tracking

    tracking.use_registry(settings)
    print(tracking.rollback(args.model, args.to, args.reason))
    return 0


def _cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    """Writes the HTML report of runs, tables and model quality."""
    from lakehouse.orchestration import report

    out = Path(args.out) if args.out else settings.state_dir / "report"
    charts = report.run(settings, out)
    print(f"Report: {out / 'index.html'} ({len(charts)} charts)")
    return 0


def _cmd_architecture(settings: Settings, args: argparse.Namespace) -> int:
    """Writes (or with --check compares) the flow diagram of docs/architecture.md."""
    from lakehouse.orchestration import architecture

    current, message = architecture.update(
        settings.project_dir / "docs" / "architecture.md", Path(args.manifest), check=args.check
    )
    print(message)
    return 0 if current or not args.check else 1


def _cmd_cluster(settings: Settings, args: argparse.Namespace) -> int:
    from lakehouse.platform import cluster

    if args.action == "up":
        cs = cluster.up(settings)
        print(f"Run the lakehouse server on it: LAKEHOUSE_MASTER={cs.master_url} lakehouse up")
    elif args.action == "down":
        cluster.down(settings)
    else:
        cs = cluster.ClusterSettings.from_settings(settings)
        try:
            state = cluster.master_state(cs)
        except OSError as exc:
            print(f"master {cs.master_url}: not answering ({exc})")
            return 3
        print(f"master {cs.master_url} {state['status']}, UI {cs.master_ui}")
        for worker in state["workers"]:
            print(f"  worker {worker['host']}:{worker['port']} {worker['state']} "
                  f"cores {worker['coresused']}/{worker['cores']}")  # fmt: skip
        for app in state["activeapps"]:
            print(f"  application {app['name']} ({app['id']}) cores {app['cores']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lakehouse", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    setup = sub.add_parser("setup", help="resolve the Delta jars from Maven Central into a cache")
    setup.add_argument("--force", action="store_true", help="resolve again even when cached")
    setup.set_defaults(func=_cmd_setup)
    sub.add_parser("up", help="start the server; waits until both endpoints answer").set_defaults(
        func=_cmd_up
    )
    sub.add_parser("down", help="stop the server and wait until its ports are free").set_defaults(
        func=_cmd_down
    )
    sub.add_parser("status", help="ask each endpoint (exit 3 when any is down)").set_defaults(
        func=_cmd_status
    )
    logs = sub.add_parser("logs", help="print the tail of the server log")
    logs.add_argument("-n", "--lines", type=int, default=60)
    logs.add_argument("-f", "--follow", action="store_true")
    logs.set_defaults(func=_cmd_logs)
    sub.add_parser(
        "token", help="print the secret that Thrift (as password) and Spark Connect require"
    ).set_defaults(func=_cmd_token)
    sub.add_parser("where", help="print where to look: docs, UIs, endpoints").set_defaults(
        func=_cmd_where
    )
    gen = sub.add_parser("generate", help="write realistic event files, one CSV per day")
    gen.add_argument("--rows", type=int, default=1_000_000, help="about this many events")
    gen.add_argument("--start", default="2019-10-01", help="first day (YYYY-MM-DD)")
    gen.add_argument("--end", default="2019-11-30", help="last day, inclusive (YYYY-MM-DD)")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--out", help="folder (default: the landing folder, LAKEHOUSE_LANDING_DIR)")
    gen.add_argument(
        "--bad-rate", type=float, default=0.0, help="share of malformed lines to mix in"
    )
    gen.add_argument("--gzip", action="store_true", help="write .csv.gz files")
    gen.add_argument(
        "--if-missing", action="store_true", help="do nothing when the folder has event files"
    )
    gen.add_argument(
        "--extend-to", metavar="YYYY-MM-DD",
        help="write only the days after --end up to this date, continuing the same data set "
        "(same users and products, each day's usual volume): the next daily files",
    )  # fmt: skip
    gen.set_defaults(func=_cmd_generate)
    stream = sub.add_parser(
        "stream", help="drop generated event files into the streaming folder, one at a time"
    )
    stream.add_argument("--rows", type=int, default=1_000_000, help="events over all days")
    stream.add_argument("--start", default="2019-10-01", help="first day (YYYY-MM-DD)")
    stream.add_argument("--end", default="2019-11-30", help="last day, inclusive (YYYY-MM-DD)")
    stream.add_argument("--seed", type=int, default=42)
    stream.add_argument("--interval", type=float, default=5.0, help="seconds between files")
    stream.add_argument("--files", type=int, help="stop after dropping this many files")
    stream.add_argument("--to", help="folder (default: LAKEHOUSE_STREAM_DIR or state/stream)")
    stream.set_defaults(func=_cmd_stream)
    back = sub.add_parser(
        "backfill", help="run the daily job for a range of run dates, in order (Dagster)"
    )
    back.add_argument("start", help="first run date (YYYY-MM-DD)")
    back.add_argument("end", nargs="?", help="last run date, inclusive (default: start)")
    back.add_argument(
        "--rebuild", action="store_true",
        help="build each date even when nothing changed since its last build (by default such "
        "a date builds nothing)",
    )  # fmt: skip
    back.set_defaults(func=_cmd_backfill)
    rep = sub.add_parser(
        "reproduce-run",
        help="rebuild an MLflow training run's data by Delta time travel and check it",
    )
    rep.add_argument("run_id", help="the MLflow run id (a propensity candidate or search run)")
    rep.set_defaults(func=_cmd_reproduce_run)
    rol = sub.add_parser(
        "rollback", help="move a registered model's champion alias back to an earlier version"
    )
    rol.add_argument("model", help="the registered model, e.g. ecom_purchase_propensity")
    rol.add_argument("--to", help="the version (default: the champion before the current one)")
    rol.add_argument("--reason", default="rolled back by hand", help="recorded on both versions")
    rol.set_defaults(func=_cmd_rollback)
    rpt = sub.add_parser("report", help="write an HTML report: runtimes, tables, tests, models")
    rpt.add_argument("--out", help="folder (default: report/ in the state folder)")
    rpt.set_defaults(func=_cmd_report)
    arch = sub.add_parser(
        "architecture", help="draw docs/architecture.md's flow diagram from the dbt manifest"
    )
    arch.add_argument("--manifest", default="target/manifest.json", help="dbt's manifest.json")
    arch.add_argument("--check", action="store_true", help="exit 1 when the drawing is stale")
    arch.set_defaults(func=_cmd_architecture)
    clu = sub.add_parser(
        "cluster", help="a local Spark standalone cluster: a master and workers on loopback"
    )
    clu.add_argument("action", choices=["up", "down", "status"])
    clu.set_defaults(func=_cmd_cluster)
    prof = sub.add_parser("profile", help="statistics of event files beside the published ones")
    prof.add_argument("paths", nargs="*", help="files or folders (default: the landing folder)")
    prof.add_argument("--check", action="store_true", help="exit 2 when a statistic is off")
    prof.set_defaults(func=_cmd_profile)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        return args.func(settings, args)
    except (server.ServerError, jars.JarsMissing, auth.AuthError, ValueError,
            FileNotFoundError) as exc:  # fmt: skip
        print(f"lakehouse {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
