"""The champion gate's decision (lakehouse.ml.propensity.gate_decision): it promotes only past
the margin, and it fails closed."""

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


def _gain(gain, standard_error=0.0):
    return lambda: {"gain": gain, "standard_error": standard_error, "resamples": 200}


@pytest.mark.parametrize(
    ("gain", "standard_error", "min_improvement", "promote"),
    [
        (0.01, 0.001, None, True),  # 0.01 > 1.645 x 0.001
        (0.01, 0.01, None, False),  # within the noise: 0.01 <= 0.01645
        (0.0, 0.0, None, False),  # an equal model
        (-0.04, 0.01, None, False),
        (0.01, 0.001, 0.02, False),  # the var's margin replaces the bootstrap's
        (0.03, 0.05, 0.02, True),
    ],
)
def test_the_new_version_must_beat_the_champion_by_the_margin(
    gain, standard_error, min_improvement, promote
):
    compare = _gain(gain, standard_error)
    promoted, decision = gate_decision(4, 0.45, CHAMPION, compare, False, min_improvement)
    assert promoted is promote
    assert ("promoted" if promote else "kept champion") in decision and "champion v3" in decision
    assert "validation fold" in decision and f"gain {gain:+.4f}" in decision
    assert ("var gate_min_improvement" if min_improvement is not None
            else "bootstrap standard errors") in decision  # fmt: skip


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
