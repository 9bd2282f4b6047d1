"""The champion gate's decision (lakehouse.ml.propensity.gate_decision): it fails closed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lakehouse.ml.propensity import ChampionUnusable, gate_decision

CHAMPION = SimpleNamespace(version="3")


def _broken():
    raise OSError("models:/ecom_purchase_propensity/3: artifact folder not found")


def test_no_champion_registered_promotes_without_a_comparison():
    def never():
        raise AssertionError("nothing to compare with")

    promote, decision = gate_decision(4, 0.44, None, never, force_promote=False)
    assert promote and decision.startswith("promoted: no champion yet")


@pytest.mark.parametrize(("new", "old", "promote"), [(0.45, 0.44, True), (0.44, 0.44, False),
                                                     (0.40, 0.44, False)])  # fmt: skip
def test_the_new_version_must_beat_the_champion(new, old, promote):
    promoted, decision = gate_decision(4, new, CHAMPION, lambda: old, force_promote=False)
    assert promoted is promote
    assert ("promoted" if promote else "kept champion") in decision and "champion v3" in decision


def test_a_champion_that_cannot_score_stops_the_node_and_names_the_way_out():
    with pytest.raises(ChampionUnusable) as failure:
        gate_decision(4, 0.99, CHAMPION, _broken, force_promote=False)
    message = str(failure.value)
    assert "champion v3 cannot be loaded or cannot score" in message
    assert "artifact folder not found" in message and "force_promote: true" in message
    assert failure.value.user_facing  # printed without a traceback


def test_force_promote_replaces_a_champion_that_cannot_score():
    promote, decision = gate_decision(4, 0.2, CHAMPION, _broken, force_promote=True)
    assert promote and "by force_promote" in decision and "artifact folder not found" in decision
