"""Feature drift (lakehouse.ml.drift) on the test server: which bin each value falls in, the
shares of a snapshot, and the PSI against a reference, worked out by hand on a few rows."""

from __future__ import annotations

import math

import pytest

from lakehouse.ml import drift

EDGES = {"x": [1.0, 2.0, 3.0], "flat": [], "y": [0.5]}


@pytest.fixture(scope="module")
def snapshot(spark):
    # x: below the first cut point, on each cut point (the bin above), above the last, null
    # (below every cut point) and NaN (above them all); flat has no cut points (one bin)
    rows = [
        (0.0, 7, 0.1),
        (1.0, 7, 0.5),
        (2.0, 7, 0.9),
        (3.0, 7, 0.2),
        (9.0, 7, 0.3),
        (None, 7, None),
        (float("nan"), 7, 0.6),
        (2.5, 7, 0.7),
    ]
    return spark.createDataFrame(rows, "x double, flat int, y double")


def test_each_value_goes_to_the_bin_of_the_cut_points_at_or_below_it(snapshot):
    rows, shares = drift._shares(snapshot, EDGES)
    assert rows == 8
    # x bins: 0 <- 0.0, null; 1 <- 1.0; 2 <- 2.0, 2.5; 3 <- 3.0, 9.0, NaN
    assert shares["x"] == [2 / 8, 1 / 8, 2 / 8, 3 / 8]
    assert shares["flat"] == [1.0]
    # y bins: 0 <- 0.1, 0.2, 0.3, null; 1 <- 0.5, 0.9, 0.6, 0.7
    assert shares["y"] == [4 / 8, 4 / 8]


def test_psi_is_zero_against_itself_and_the_formula_against_a_shifted_reference(snapshot):
    itself = drift.psi(
        {"features": {f: {"edges": e, "shares": drift._shares(snapshot, {f: e})[1][f]}
                      for f, e in EDGES.items()}},
        snapshot,
    )  # fmt: skip
    assert itself == {"x": 0.0, "flat": 0.0, "y": 0.0}

    reference = {"features": {"y": {"edges": [0.5], "shares": [0.75, 0.25]}}}
    expected = (0.5 - 0.75) * math.log(0.5 / 0.75) + (0.5 - 0.25) * math.log(0.5 / 0.25)
    assert drift.psi(reference, snapshot)["y"] == pytest.approx(expected)


def test_an_empty_bin_is_floored_instead_of_infinite(snapshot):
    reference = {"features": {"flat": {"edges": [100.0], "shares": [0.0, 1.0]}}}
    # every row is below 100: the reference's empty bin 0 is floored at drift.FLOOR
    found = drift.psi(reference, snapshot)["flat"]
    expected = (1.0 - drift.FLOOR) * math.log(1.0 / drift.FLOOR) + (drift.FLOOR - 1.0) * math.log(
        drift.FLOOR / 1.0
    )
    assert found == pytest.approx(expected)
