"""Feature drift: a reference distribution of every feature, and the population stability index
(PSI) of a new snapshot against it.

At training time `reference` cuts each feature at its deciles (approximate quantiles, computed
on the server) and records the share of users in each bin; the JSON goes into the model's MLflow
run. Later `psi` counts a new snapshot's users in the same bins (one aggregation for all
features) and compares the shares: PSI = sum over bins of (new - ref) * ln(new / ref), with
empty bins floored at 0.0001 so a bin that empties or fills does not give infinity. Below 0.1 is
usually read as stable, 0.1 to 0.25 as a moderate shift, above 0.25 as a large one.
"""

from __future__ import annotations

import math

BINS = 10
FLOOR = 1e-4


def _edges(values: list[float]) -> list[float]:
    """Sorted distinct inner cut points."""
    return sorted({float(v) for v in values if v is not None and not math.isnan(float(v))})


def _bin_expression(feature: str, edges: list[float]):
    """A Spark column: the bin index (0..len(edges)) of `feature` between the cut points, a
    value equal to a cut point going to the bin above it."""
    from pyspark.sql import functions as F

    index = F.lit(0)
    for edge in edges:
        index = index + F.when(F.col(feature) >= F.lit(edge), 1).otherwise(0)
    return index


def _shares(df, edges_by_feature: dict[str, list[float]]) -> tuple[int, dict[str, list[float]]]:
    """(rows, {feature: share of rows in each bin}) in one aggregation. Each feature's bin is
    computed once, in a projection, and the aggregation counts bins of those columns: counting
    over the nested bin expressions themselves made one expression of thousands of branches
    (3.8 s against 2.5 s for one aggregation of the 1 M scoring snapshot, 22 features)."""
    from pyspark.sql import functions as F

    features = list(edges_by_feature.items())
    binned = df.select(*[_bin_expression(feature, edges).alias(f"__bin{i}")
                         for i, (feature, edges) in enumerate(features)])  # fmt: skip
    aggregates = [F.count(F.lit(1)).alias("__rows")]
    for i, (feature, edges) in enumerate(features):
        for b in range(len(edges) + 1):
            aggregates.append(F.count(F.when(F.col(f"__bin{i}") == b, 1)).alias(f"{feature}__{b}"))
    row = binned.agg(*aggregates).first().asDict()
    rows = int(row.pop("__rows") or 0)
    shares = {
        feature: [(row[f"{feature}__{b}"] or 0) / rows if rows else 0.0
                  for b in range(len(edges) + 1)]
        for feature, edges in edges_by_feature.items()
    }  # fmt: skip
    return rows, shares


def reference(df, features: list[str]) -> dict:
    """The reference distribution of `features` in `df`: decile cut points and bin shares."""
    probabilities = [i / BINS for i in range(1, BINS)]
    quantiles = df.approxQuantile(features, probabilities, 0.001)
    edges = {f: _edges(q) for f, q in zip(features, quantiles, strict=True)}
    rows, shares = _shares(df, edges)
    return {"rows": rows, "features": {f: {"edges": edges[f], "shares": shares[f]}
                                       for f in features}}  # fmt: skip


def psi(ref: dict, df) -> dict[str, float]:
    """PSI of every feature of `ref` between the reference and the snapshot `df`."""
    edges = {f: spec["edges"] for f, spec in ref["features"].items()}
    _, shares = _shares(df, edges)
    out = {}
    for feature, spec in ref["features"].items():
        total = 0.0
        for expected, actual in zip(spec["shares"], shares[feature], strict=True):
            e, a = max(expected, FLOOR), max(actual, FLOOR)
            total += (a - e) * math.log(a / e)
        out[feature] = total
    return out
