"""Alerts: a failed scheduled run, a failed data test (asset check) or a stale landing folder.

`notify(alert)` hands an alert to every notifier: the alerts log (`<state>/alerts.log`, one
JSON object per line, always), the Dagster run's log (shown in the Dagster UI, when a run
context is given) and, when LAKEHOUSE_ALERT_WEBHOOK is set, an HTTP POST of the same JSON to
that URL (with `Authorization: Bearer $LAKEHOUSE_ALERT_WEBHOOK_TOKEN` when that is set). A
notifier that fails is written to the alerts log and never fails the run; the webhook's URL
and token are never printed (chat webhooks carry their secret in the URL).
"""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from lakehouse.platform.config import Settings

WEBHOOK_ENV, WEBHOOK_TOKEN_ENV = "LAKEHOUSE_ALERT_WEBHOOK", "LAKEHOUSE_ALERT_WEBHOOK_TOKEN"


@dataclass
class Alert:
    kind: str  # run_failed | check_failed | source_stale
    severity: str  # error | warn
    subject: str  # what failed: the job and run date, the test, the source
    message: str
    run_date: str | None = None
    run_id: str | None = None
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def line(self) -> str:
        return f"[{self.severity}] {self.kind}: {self.subject}: {self.message}"


class Notifier(Protocol):
    def send(self, alert: Alert) -> None: ...


class LogNotifier:
    """Appends the alert as a JSON line to the alerts log (created 0600)."""

    def __init__(self, path: Path):
        self.path = path

    def send(self, alert: Alert) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as log:
            log.write(json.dumps(asdict(alert)) + "\n")


class DagsterNotifier:
    """Writes the alert into the Dagster run's log, where the UI shows it."""

    def __init__(self, log):
        self.log = log

    def send(self, alert: Alert) -> None:
        (self.log.error if alert.severity == "error" else self.log.warning)(alert.line())


class WebhookNotifier:
    """POSTs the alert as JSON to a URL (any HTTP endpoint: a chat webhook, an incident tool)."""

    def __init__(self, url: str, token: str = "", timeout: float = 10.0):
        self.url, self.token, self.timeout = url, token, timeout

    def send(self, alert: Alert) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "ecom-lakehouse-alerts"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.url, data=json.dumps(asdict(alert)).encode(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            if response.status >= 300:
                raise RuntimeError(f"the webhook answered HTTP {response.status}")


def alerts_log(settings: Settings) -> Path:
    return settings.state_dir / "alerts.log"


def notifiers(settings: Settings, dagster_log=None) -> list[Notifier]:
    found: list[Notifier] = [LogNotifier(alerts_log(settings))]
    if dagster_log is not None:
        found.append(DagsterNotifier(dagster_log))
    if os.environ.get(WEBHOOK_ENV):
        found.append(
            WebhookNotifier(os.environ[WEBHOOK_ENV], os.environ.get(WEBHOOK_TOKEN_ENV, ""))
        )
    return found


def notify(alert: Alert, settings: Settings, dagster_log=None) -> None:
    """Sends `alert` through every notifier; a failing one is recorded, never raised."""
    sent = notifiers(settings, dagster_log)
    for notifier in sent:
        try:
            notifier.send(alert)
        except Exception as exc:  # noqa: BLE001 - an alert must never fail the run it reports
            failure = Alert(
                "notifier_failed", "warn", type(notifier).__name__,
                f"could not send the alert '{alert.subject}': {type(exc).__name__}: "
                f"{str(exc)[:200]}", alert.run_date, alert.run_id,
            )  # fmt: skip
            LogNotifier(alerts_log(settings)).send(failure)
            if dagster_log is not None:
                dagster_log.warning(failure.line())


def freshness_alerts(sources_json: dict, run_date: str | None, run_id: str | None) -> list[Alert]:
    """An alert per source that `dbt source freshness` found stale (warn or error), from the
    `sources.json` it writes."""
    found = []
    for result in sources_json.get("results", []):
        status = result.get("status")
        if status not in ("warn", "error", "runtime error"):
            continue
        name = result.get("unique_id", "").removeprefix("source.").split(".", 1)[-1]
        if status == "runtime error":
            message = f"freshness could not be checked: {result.get('error', '')[:300]}"
        else:
            age_h = float(result.get("max_loaded_at_time_ago_in_s") or 0) / 3600
            message = (f"newest file landed {age_h:.1f} h ago (at {result.get('max_loaded_at')}); "
                       f"criteria {json.dumps(result.get('criteria', {}))}")  # fmt: skip
        severity = "warn" if status == "warn" else "error"
        found.append(Alert("source_stale", severity, name, message, run_date, run_id))
    return found
