"""The daily schedule: the whole dbt project as Dagster assets, run once a day for a run date.

Why Dagster: dagster-dbt reads dbt's manifest and turns every model, seed and snapshot (SQL and
Python alike) into an asset with dbt's lineage, every data test into an asset check, and the
landing source into an upstream asset, so the Dagster UI shows the same graph as `dbt docs`
from the raw files to the predictions. Partitions give each day's run a run date, runs are
kept with their logs in local storage, and a job can be executed in-process (the tests do).
Airflow with astronomer-cosmos maps dbt nodes to tasks instead, and needs a scheduler, a
metadata database and a webserver running for one local run.

What runs: one job, `lakehouse_daily`, partitioned by day. The partition key is the run date
(the last day of data the run sees; the dbt var `run_date`), and the job runs `dbt source
freshness` then `dbt build --vars '{run_date: <key>}'`; a stale landing folder, a failed data
test and a failed run raise alerts (lakehouse.orchestration.alerts); a rerun of a date that
would change nothing builds nothing (lakehouse.orchestration.reruns). The schedule
`lakehouse_daily_schedule` fires every day at 02:00 UTC for the day that just ended. `make
dagster` opens the UI on 127.0.0.1 with its storage under the state folder.

Loading this module needs the dbt manifest, which dagster-dbt prepares (see `project.py`).
"""

import json
import shutil
import sys
from datetime import datetime
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    DagsterInstance,
    DailyPartitionsDefinition,
    Definitions,
    build_schedule_context,
    build_schedule_from_partitioned_job,
    define_asset_job,
)
from dagster_dbt import DbtCliResource, dbt_assets

from lakehouse.orchestration import alerts, reruns
from lakehouse.orchestration.project import DBT_PROJECT
from lakehouse.orchestration.selection import DAILY_BUILD, DAILY_EXCLUDE
from lakehouse.platform.config import DBT_PARTIAL_PARSE_FILE, Settings

# The first day of the Kaggle data: the earliest run date a partition can have.
FIRST_RUN_DATE = "2019-10-01"
JOB_NAME = "lakehouse_daily"


def dagster_dir(settings: Settings) -> Path:
    """Where Dagster keeps its runs (DAGSTER_HOME) and the dbt targets of its runs."""
    return settings.state_dir / "dagster"


daily = DailyPartitionsDefinition(start_date=FIRST_RUN_DATE, timezone="UTC")


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    partitions_def=daily,
    exclude=DAILY_EXCLUDE,
)
def lakehouse_dbt(context: AssetExecutionContext, dbt: DbtCliResource):
    """The landing source's freshness, then `dbt build` of the selected assets for the
    partition's run date; a stale source, a failed check or a failed build raises an alert.
    A date whose inputs did not change since its last build of the same assets builds nothing
    and says why (lakehouse.orchestration.reruns), unless the run's tag asks to rebuild."""
    run_date, run_id = context.partition_key, context.run.run_id
    settings = Settings.from_env()
    target = dagster_dir(settings) / "dbt" / f"{run_date}-{run_id[:8]}"
    given = {**settings.dbt_vars, "run_date": run_date}
    run_vars = json.dumps(given)
    context.log.info(f"dbt build with vars {run_vars}; dbt target and log in {target}")

    def alert(a: alerts.Alert) -> None:
        alerts.notify(a, settings, context.log)

    # nothing changed since this date's last build of the same assets: build nothing
    selection = reruns.selection_key([k.to_user_string() for k in context.selected_asset_keys],
                                     [k.to_user_string() for k in lakehouse_dbt.keys])  # fmt: skip
    if context.run.tags.get(reruns.REBUILD_TAG) != "true":
        same, changed = reruns.unchanged(settings, run_date, selection, given)
        if same:
            context.log.info(same)
            return
        context.log.info(f"run date {run_date}: building; {'; '.join(changed)}")
    before = reruns.inputs(settings, given)
    reruns.forget(settings, run_date, selection)
    # freshness: a stale landing folder is alerted; the build still runs (it loads nothing)
    fresh = dbt.cli(["source", "freshness", "--vars", run_vars],
                    target_path=target / "freshness", raise_on_error=False).wait()  # fmt: skip
    sources = target / "freshness" / "sources.json"
    if sources.is_file():
        for stale in alerts.freshness_alerts(json.loads(sources.read_text()), run_date, run_id):
            alert(stale)
    elif not fresh.is_successful():
        alert(
            alerts.Alert(
                "source_stale",
                "error",
                "landing",
                f"dbt source freshness failed without results; see {target / 'freshness'}",
                run_date,
                run_id,
            )
        )
    # the build reuses the parse of freshness (the same vars): 7 s less on 2 cores
    parsed = target / "freshness" / DBT_PARTIAL_PARSE_FILE
    if parsed.is_file():
        shutil.copyfile(parsed, target / DBT_PARTIAL_PARSE_FILE)
    # dagster-dbt adds the selection: every asset but DAILY_EXCLUDE
    args = [*DAILY_BUILD, "--vars", run_vars]
    failed = []
    try:
        for event in dbt.cli(args, context=context, target_path=target).stream():
            if isinstance(event, AssetCheckResult) and not event.passed:
                failed.append(event)
            yield event
    except Exception as exc:
        _alert_checks(alert, failed, run_date, run_id)
        alert(alerts.Alert("run_failed", "error", f"{JOB_NAME} {run_date}",
                           f"{type(exc).__name__}: {str(exc)[:500]} (dbt log: {target})",
                           run_date, run_id))  # fmt: skip
        raise
    _alert_checks(alert, failed, run_date, run_id)
    reruns.record(settings, run_date, selection, before)


def _alert_checks(alert, failed: list, run_date: str, run_id: str) -> None:
    for check in failed:
        severity = "warn" if str(check.severity).endswith("WARN") else "error"
        subject = f"{check.check_name} on {check.asset_key.to_user_string()}"
        metadata = {k: getattr(v, "value", v) for k, v in (check.metadata or {}).items()}
        rows = metadata.get("dagster_dbt/failed_row_count")
        message = f"data test {metadata.get('status', 'failed')}" + (
            f": {rows} failing rows" if rows is not None else "")  # fmt: skip
        alert(alerts.Alert("check_failed", severity, subject, message, run_date, run_id))


# Partitioned by the assets. One run at a time: `make dagster` runs Dagster with the queue of
# dagster.yaml beside this file (max_concurrent_runs 1), so a backfill's dates run in order.
daily_job = define_asset_job(JOB_NAME, selection=[lakehouse_dbt])
daily_schedule = build_schedule_from_partitioned_job(
    daily_job, name=f"{JOB_NAME}_schedule", hour_of_day=2, minute_of_hour=0
)

defs = Definitions(
    assets=[lakehouse_dbt],
    jobs=[daily_job],
    schedules=[daily_schedule],
    resources={
        "dbt": DbtCliResource(
            project_dir=DBT_PROJECT,
            profiles_dir=str(DBT_PROJECT.project_dir),
            dbt_executable=str(Path(sys.executable).parent / "dbt"),  # the venv's dbt
        )
    },
)


def run_scheduled(tick: datetime, instance: DagsterInstance):
    """Executes, in this process, the run the daily schedule requests at `tick` (a UTC time):
    the whole DAG for the day before. Returns (run date, the job's execution result)."""
    schedule = defs.resolve_schedule_def(daily_schedule.name)
    with build_schedule_context(instance=instance, scheduled_execution_time=tick) as context:
        requests = list(schedule.evaluate_tick(context).run_requests or [])
    if len(requests) != 1:
        raise RuntimeError(f"the schedule requested {len(requests)} runs at {tick}, not one")
    request = requests[0]
    job = defs.resolve_job_def(JOB_NAME)
    result = job.execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=request.tags,
        raise_on_error=False,
    )  # fmt: skip
    return request.partition_key, result


def run_dates(run_dates: list[str], instance: DagsterInstance, layers: list[str] | None = None,
              models: list[str] | None = None, rebuild: bool = False) -> list:  # fmt: skip
    """Executes the daily job for each run date in order, in this process (a backfill, or a
    rerun of dates); stops at the first failure. `layers` limits each run to the assets of
    those layers (for example ["bronze", "silver"]), `models` to the named models (with their
    checks); None runs the whole DAG. A date whose inputs did not change since its last build
    of the same assets builds nothing (lakehouse.orchestration.reruns) unless `rebuild`.
    Returns the execution results."""
    job = defs.resolve_job_def(JOB_NAME)
    selection = None
    if layers or models:
        layers, models = layers or [], models or []
        selection = [key for key in lakehouse_dbt.keys
                     if key.path[0] in layers or key.path[-1] in models]  # fmt: skip
    results = []
    for run_date in sorted(run_dates):
        result = job.execute_in_process(
            instance=instance, partition_key=run_date, asset_selection=selection,
            tags={reruns.REBUILD_TAG: "true"} if rebuild else None, raise_on_error=False,
        )  # fmt: skip
        results.append(result)
        if not result.success:
            break
    return results
