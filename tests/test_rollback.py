"""Rolling a champion back: `lakehouse rollback` moves the alias to the champion before the
current one (or to a given version), records why on both versions, and a run date whose
promoted version was rolled back scores with the restored champion. Runs against a real MLflow
registry (SQLite, in a temporary state folder); no server needed. The daily job's rerun check
reads the same champions from the store's tables, and must agree with MLflow's client.
"""

from __future__ import annotations

import pytest

from lakehouse import cli
from lakehouse.ml import propensity, tracking
from lakehouse.orchestration import reruns
from lakehouse.platform.config import Settings

NAME = "ecom_purchase_propensity"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One MLflow store for the module (creating its tables takes seconds)."""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("LAKEHOUSE_STATE_DIR", str(tmp_path_factory.mktemp("rollback-state")))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = Settings.from_env()
    tracking.configure(settings, "rollback-test")
    yield settings
    monkeypatch.undo()


@pytest.fixture
def registry(store, tmp_path, monkeypatch):
    """Three versions of NAME (a new registered model per test); the gate promoted v1, then
    v2, then v3."""
    from mlflow import MlflowClient

    monkeypatch.setenv("LAKEHOUSE_STATE_DIR", str(store.state_dir))
    client = MlflowClient()
    if client.search_registered_models(filter_string=f"name = '{NAME}'"):
        client.delete_registered_model(NAME)
    client.create_registered_model(NAME)
    for number in (1, 2, 3):
        model = tmp_path / f"model-{number}"
        model.mkdir()
        client.create_model_version(NAME, source=str(model))
        tracking.promote(NAME, str(number), reason=f"beat v{number - 1} on validation")
    return store


def test_promote_records_the_champion_it_replaced(registry):
    champion = tracking.champion(NAME)
    assert str(champion.version) == "3"
    assert champion.tags["previous_champion"] == "2"
    assert champion.tags["champion_reason"] == "beat v2 on validation"
    assert tracking.version(NAME, 1).tags["previous_champion"] == ""


def test_rollback_returns_to_the_previous_champion_and_says_why(registry, monkeypatch, capsys):
    code = cli.main(["rollback", NAME, "--reason", "v3 realised AUC 0.52 on 2019-11-24"])
    assert code == 0
    out = capsys.readouterr().out
    assert "champion moved from v3 back to v2" in out
    assert str(tracking.champion(NAME).version) == "2"
    demoted = tracking.version(NAME, 3).tags
    assert demoted["rolled_back_reason"] == "v3 realised AUC 0.52 on 2019-11-24"
    assert demoted["rolled_back_at"]
    assert tracking.champion(NAME).tags["champion_reason"].startswith("rollback from v3")
    # a run date whose search promoted v3 now scores with the restored champion
    config = {"experiment": "rollback-test", "registered_model_name": NAME}
    assert propensity.scoring_version(config, registry, promoted=3, kept=2) == 2
    assert propensity.scoring_version(config, registry, promoted=None, kept=1) == 1
    # rolling back again walks one more step back; --to names any version
    assert cli.main(["rollback", NAME]) == 0
    assert str(tracking.champion(NAME).version) == "1"
    assert cli.main(["rollback", NAME, "--to", "3"]) == 0
    assert str(tracking.champion(NAME).version) == "3"
    assert propensity.scoring_version(config, registry, promoted=2, kept=1) == 3


def test_rollback_without_an_earlier_champion_names_the_versions(registry, capsys):
    assert cli.main(["rollback", NAME, "--to", "1"]) == 0
    capsys.readouterr()
    assert cli.main(["rollback", NAME]) == 1
    err = capsys.readouterr().err
    assert "v1 records no earlier champion" in err and "versions: 1, 2, 3" in err
    assert str(tracking.champion(NAME).version) == "1"


def test_the_rerun_check_reads_the_champions_mlflow_gives(registry, tmp_path, monkeypatch):
    """reruns.champions queries the SQLite store's tables: the same answer as MLflow's client,
    after a rollback and with a registered model that has no champion."""
    from mlflow import MlflowClient

    client = MlflowClient()
    if not client.search_registered_models(filter_string="name = 'no_champion_yet'"):
        client.create_registered_model("no_champion_yet")
    assert cli.main(["rollback", NAME]) == 0
    found = reruns.champions(registry)
    assert found[NAME] == 2 and found["no_champion_yet"] is None
    assert found == reruns.champions_from_mlflow(registry)
    # before the first training there is no store file: no champion, and no store created
    monkeypatch.setenv("LAKEHOUSE_STATE_DIR", str(tmp_path / "fresh"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # MLflow sets it
    fresh = Settings.from_env()
    assert reruns.champions(fresh) == {}
    assert not (fresh.mlflow_dir / "mlflow.db").exists()
