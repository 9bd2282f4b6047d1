"""The notifiers (no server): the alerts log, a webhook received by a local HTTP server, a
webhook that fails without failing anything, and dbt's freshness results turned into alerts."""

from __future__ import annotations

import json
import stat

from conftest import free_port
from lakehouse.orchestration import alerts
from lakehouse.platform.config import Settings


def _settings(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("LAKEHOUSE_STATE_DIR", str(tmp_path / "state"))
    return Settings.from_env()


def _log(settings) -> list[dict]:
    return [json.loads(line) for line in alerts.alerts_log(settings).read_text().splitlines()]


def test_an_alert_reaches_the_log_and_the_webhook_with_its_token(
    tmp_path, monkeypatch, webhook_receiver
):
    settings = _settings(tmp_path, monkeypatch)
    monkeypatch.setenv(alerts.WEBHOOK_ENV, webhook_receiver.url)
    monkeypatch.setenv(alerts.WEBHOOK_TOKEN_ENV, "hook-token")
    alert = alerts.Alert("run_failed", "error", "lakehouse_daily 2019-12-01", "dbt build failed",
                         "2019-12-01", "abc123")  # fmt: skip
    alerts.notify(alert, settings)
    ((headers, body),) = webhook_receiver.received
    assert body["kind"] == "run_failed" and body["subject"] == "lakehouse_daily 2019-12-01"
    assert body["run_date"] == "2019-12-01" and body["at"]
    assert headers["Authorization"] == "Bearer hook-token"
    assert headers["Content-Type"] == "application/json"
    assert _log(settings) == [body]
    assert stat.S_IMODE(alerts.alerts_log(settings).stat().st_mode) == 0o600


def test_a_failing_webhook_is_recorded_and_fails_nothing(tmp_path, monkeypatch, webhook_receiver,
                                                          capsys):  # fmt: skip
    settings = _settings(tmp_path, monkeypatch)
    webhook_receiver.status = 500
    secret_url = f"{webhook_receiver.url}?key=secret-in-the-url"
    monkeypatch.setenv(alerts.WEBHOOK_ENV, secret_url)
    alerts.notify(alerts.Alert("check_failed", "error", "unique on x", "2 rows"), settings)
    monkeypatch.setenv(alerts.WEBHOOK_ENV, f"http://127.0.0.1:{free_port()}/nobody")
    alerts.notify(alerts.Alert("check_failed", "warn", "unique on y", "1 row"), settings)
    logged = _log(settings)
    assert [a["kind"] for a in logged] == ["check_failed", "notifier_failed"] * 2
    assert "HTTP Error 500" in logged[1]["message"]
    assert "Connection refused" in logged[3]["message"]
    everything = alerts.alerts_log(settings).read_text() + str(capsys.readouterr())
    assert "secret-in-the-url" not in everything


def test_stale_sources_become_alerts_by_their_severity():
    sources = {"results": [
        {"unique_id": "source.p.landing.event_files", "status": "error",
         "max_loaded_at": "2019-12-01T00:00:00", "max_loaded_at_time_ago_in_s": 4 * 86400,
         "criteria": {"warn_after": {"count": 24, "period": "hour"},
                      "error_after": {"count": 72, "period": "hour"}}},
        {"unique_id": "source.p.landing.other", "status": "warn",
         "max_loaded_at_time_ago_in_s": 90000, "criteria": {}},
        {"unique_id": "source.p.landing.fresh", "status": "pass"},
    ]}  # fmt: skip
    found = alerts.freshness_alerts(sources, "2019-12-05", "r1")
    assert [(a.kind, a.severity, a.subject) for a in found] == [
        ("source_stale", "error", "landing.event_files"),
        ("source_stale", "warn", "landing.other"),
    ]
    assert "newest file landed 96.0 h ago" in found[0].message
