"""The benchmark's report: ratios between the figures, `results.md`, `results.json` and the
chart in `docs/benchmark/`."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

# The caching comparison retrains the whole propensity search twice; it is measured up to this
# size (the default one), not repeated at every larger size.
CACHE_MAX_ROWS = 1_000_000


def _seconds(size: dict, phase: str) -> float | None:
    """A phase's seconds, or None where it was not measured (--skip, or stopped)."""
    return size[phase]["seconds"] if phase in size else None


def _over(part: float | None, whole: float | None) -> float | None:
    return part / whole if part is not None and whole else None


def _same_sql(size: dict) -> tuple[float | None, float | None, dict]:
    """(Spark's summed node seconds, DuckDB's seconds, DuckDB's results) over the SQL models
    both engines ran; Nones where the DuckDB phase was not run."""
    if "duckdb" not in size:
        return None, None, {}
    sql_models = {k.split(".")[-1]: v for k, v in size["full_build"]["nodes"].items()
                  if v["kind"] == "model"}  # fmt: skip
    duck = {k: v for k, v in size["duckdb"].items() if "seconds" in v and k in sql_models}
    spark_sql = sum(sql_models[k]["seconds"] for k in duck)
    duck_sql = sum(v["seconds"] for v in duck.values()) + size["duckdb"]["landing"]["seconds"]
    return spark_sql, duck_sql, duck


def ratios(size: dict) -> dict:
    full = size["full_build"]
    spark_sql, duck_sql, duck = _same_sql(size)
    bronze = full["layers"].get("bronze", 0.0)
    cache = size.get("propensity_training_cache")  # measured up to CACHE_MAX_ROWS
    bare = _seconds(size, "bare_copy")
    return {
        "pipeline_over_equivalent": _over(full["seconds"], _seconds(size, "equivalent")),
        "pipeline_over_plain_pyspark": _over(full["seconds"], _seconds(size, "plain_pyspark")),
        "pipeline_over_bare_copy": _over(full["seconds"], bare),
        "bronze_over_bare_copy": _over(bronze, bare),
        "duckdb_over_pipeline_sql": _over(duck_sql, spark_sql),
        "duckdb_models_compared": sorted(duck),
        "duckdb_models_failed": sorted(
            k for k, v in size.get("duckdb", {}).items() if "error" in v
        ),  # fmt: skip
        # the same SQL must give the same tables: row counts of DuckDB against Spark
        "duckdb_rows_differ": sorted(
            k
            for k, n in size.get("spark_rows", {}).items()
            if k in size.get("duckdb", {}) and size["duckdb"][k].get("rows") != n
        ),  # fmt: skip
        "incremental_over_full": _over(_seconds(size, "daily_run"), full["seconds"]),
        "rerun_over_full": _over(
            _seconds(size, "rerun") if size.get("rerun", {}).get("built") is False else None,
            full["seconds"],
        ),
        "rerun_rebuilt_over_full": _over(_rebuilt_seconds(size), full["seconds"]),
        "next_day_over_full": _over(_seconds(size, "next_day"), full["seconds"]),
        "retrain_day_over_full": _over(_seconds(size, "retrain_day"), full["seconds"]),
        "uncached_over_cached_training": cache["uncached"] / cache["cached"] if cache else None,
    }


def _rebuilt_seconds(size: dict) -> float | None:
    """The rerun of a date built anyway: `rerun_rebuilt`, or `rerun` itself where it was
    measured before the daily job skipped unchanged dates (no `built` key)."""
    if "rerun_rebuilt" in size:
        return size["rerun_rebuilt"]["seconds"]
    rerun = size.get("rerun")
    return rerun["seconds"] if rerun and "built" not in rerun else None


def _wall_span(nodes: dict, layer: str) -> float | None:
    """Seconds from the first start to the last end of a layer's nodes in one build (None for
    results recorded before the nodes carried their times)."""
    from datetime import datetime

    spans = [(n["started_at"], n["completed_at"]) for n in nodes.values()
             if n["layer"] == layer and "started_at" in n]  # fmt: skip
    if not spans:
        return None
    first = min(datetime.fromisoformat(a.replace("Z", "+00:00")) for a, _ in spans)
    last = max(datetime.fromisoformat(b.replace("Z", "+00:00")) for _, b in spans)
    return (last - first).total_seconds()


def headline(size: dict) -> dict:
    """The figures the README and the benchmark issue compare, one key each (seconds).

    bronze_s: wall time from the first bronze node's start to the last one's end in the full
    build (other layers' nodes may run beside them). spark_sql_s / duckdb_sql_s: the SQL
    models both engines ran, Spark's summed node time in the full build against DuckDB's on the
    same compiled SQL. equivalent_s: the build's statements replayed without dbt on a fresh
    server (lakehouse.bench.equivalent; null where that phase was not run)."""
    full = size["full_build"]
    nodes = full["nodes"]
    spark_sql, duck_sql, _ = _same_sql(size)
    rss = full.get("server_peak_rss_bytes")
    return {
        "events": size["input_rows"],
        "full_build_s": full["seconds"],
        "equivalent_s": _seconds(size, "equivalent"),
        "notebook_s": _seconds(size, "plain_pyspark"),
        "bare_copy_s": _seconds(size, "bare_copy"),
        "bronze_s": _wall_span(nodes, "bronze"),
        "spark_sql_s": spark_sql,
        "duckdb_sql_s": duck_sql,
        "daily_run_s": _seconds(size, "daily_run"),
        "server_peak_rss_gib": rss / 2**30 if rss else None,
    }


def measured(project: Path) -> dict:
    """Where and when a size ran: this machine's processor, the project's commit (with
    `+changes` when the work tree differs from it) and the time, UTC."""
    git = ["git", "-C", str(project)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"  # fmt: skip
    dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    return {"cpu": machine()["cpu"], "commit": commit + ("+changes" if dirty else ""),
            "finished": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"}  # fmt: skip


def machine() -> dict:
    mem = next(
        int(line.split()[1]) * 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor(),
    )  # fmt: skip
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gib": round(mem / 2**30, 1),
            "python": platform.python_version(), "os": platform.platform()}  # fmt: skip


def cpu_check(repeats: int = 3) -> float:
    """Seconds one core takes for a fixed piece of work (the SHA-256 of 64 MiB and a loop of
    six million Python steps, about 0.4 s), the best of `repeats`. The same processor ran the
    same nodes 1.37 times as long one afternoon as that morning (2026-12-06), so each size
    records this before its first phase and after its last: columns whose checks differ were
    measured on a machine of another speed, whatever its processor's name."""
    data = bytes(range(256)) * (64 * 4096)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        hashlib.sha256(data).digest()
        total = 0
        for i in range(6_000_000):
            total += i * i % 7
        best = min(best, time.perf_counter() - started)
    return best


def _cpu_checks(size: dict) -> str:
    """The size's CPU checks, before its first phase and after its last (s)."""
    found = size.get("cpu_check_s") or {}
    if "start" not in found:
        return "not recorded"
    end = f"{found['end']:.2f}" if "end" in found else "n/a"
    return f"{found['start']:.2f} / {end}"


def write_report(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    m = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Latest run {results['finished']} by `make bench` on {m['cpus']} cores ({m['cpu']}), "
        f"{m['memory_gib']} GiB memory; each column's processor, commit and date are in its "
        "first row (compare columns measured on one processor only), and the machine's speed "
        "in the CPU check row: columns whose checks differ ran on a slower or faster day. Raw "
        "figures: "
        "`results.json`; chart: `benchmark.png`.",
        "",
        "| | " + " | ".join(f"{s['input_rows']:,} rows" for s in results["sizes"]) + " |",
        "| --- | " + " | ".join("---" for _ in results["sizes"]) + " |",
    ]

    def row(label, fn):
        lines.append(f"| {label} | " + " | ".join(fn(s) for s in results["sizes"]) + " |")

    row("measured on (processor, commit, finished)", lambda s: (
        f"{w['cpu']}, {w['commit']}, {w['finished']}" if (w := s.get("measured"))
        else "not recorded"))  # fmt: skip
    row("CPU check before the first phase / after the last (s; one core, fixed work)",
        _cpu_checks)  # fmt: skip
    row("full `dbt build` (s)", lambda s: f"{s['full_build']['seconds']:.0f}")
    for layer in ("seeds", "bronze", "silver", "gold"):
        row(f"&nbsp;&nbsp;{layer}, summed node time (s)",
            lambda s, la=layer: f"{s['full_build']['layers'].get(la, 0):.0f}")  # fmt: skip
    row("input rows per second (full build)",
        lambda s: f"{s['full_build']['rows_per_second']:,.0f}")  # fmt: skip

    def gib(value) -> str:
        return "not recorded" if value is None else f"{value / 2**30:.2f}"

    row("peak RSS server JVM / dbt (GiB)", lambda s: (
        f"{gib(s['full_build']['server_peak_rss_bytes'])} / "
        f"{gib(s['full_build']['dbt_peak_rss_bytes'])}"))  # fmt: skip

    def seconds(phase):
        return lambda s: f"{s[phase]['seconds']:.0f}" if phase in s else "n/a"

    row("daily run, one new day, no retraining (s)", seconds("daily_run"))
    row("rerun of that date, no new file: nothing changed, built nothing (s)", lambda s: (
        f"{s['rerun']['seconds']:.0f}" if s.get("rerun", {}).get("built") is False
        else "n/a"))  # fmt: skip
    row("rerun of that date, no new file, built anyway (s)",
        lambda s: "n/a" if (v := _rebuilt_seconds(s)) is None else f"{v:.0f}")  # fmt: skip
    row("next day on the same server, no retraining (s)", seconds("next_day"))
    row("retrain day, one new day (s)", seconds("retrain_day"))
    row("equivalent work: the build's statements without dbt (s)", seconds("equivalent"))
    row("plain PySpark script (s)", seconds("plain_pyspark"))
    row("bare CSV-to-Delta copy (s)", seconds("bare_copy"))
    row("propensity training cached / uncached (s)", lambda s: (
        f"{c['cached']:.0f} / {c['uncached']:.0f}" if (c := s.get("propensity_training_cache"))
        else "n/a" if s["rows_requested"] <= CACHE_MAX_ROWS
        else f"measured up to {CACHE_MAX_ROWS:,} only"))  # fmt: skip
    for key, label in [
        ("pipeline_over_equivalent", "**ratio** pipeline / equivalent work"),
        ("pipeline_over_plain_pyspark", "**ratio** pipeline / plain PySpark"),
        ("pipeline_over_bare_copy", "**ratio** pipeline / bare copy"),
        ("bronze_over_bare_copy", "**ratio** bronze layer / bare copy"),
        ("duckdb_over_pipeline_sql", "**ratio** DuckDB / pipeline, same bronze+silver SQL"),
        ("incremental_over_full", "**ratio** daily run / full build"),
        ("rerun_over_full", "**ratio** rerun, built nothing / full build"),
        ("rerun_rebuilt_over_full", "**ratio** rerun built anyway / full build"),
        ("next_day_over_full", "**ratio** next day / full build"),
        ("retrain_day_over_full", "**ratio** retrain day / full build"),
        ("uncached_over_cached_training", "**ratio** uncached / cached training"),
    ]:
        row(label, lambda s, k=key: (
            "n/a" if s["ratios"].get(k) is None else f"{s['ratios'][k]:.2f}"))  # fmt: skip
    failed = sorted({m for s in results["sizes"] for m in s["ratios"]["duckdb_models_failed"]})
    lines += [
        "",
        "How each figure is obtained (`lakehouse.bench`): the full build is `dbt build` with the "
        "daily job's selection (as `make run`: no unit tests or `sql_guarantee` tests) from an "
        "empty state on a new server; the daily runs follow on that server, each through the daily"
        " job's check (`lakehouse.orchestration.reruns`: a date whose files, code, vars, champions"
        " and tables did not change since its last build builds nothing), the rerun built anyway "
        "with `--rebuild`; the next day is a second new day without retraining, on a server that "
        "ran the day before as a scheduled job's has; the retrain day is a third, forced to "
        "retrain both models, where the recommender validates the baselines and the shipped "
        "method and the propensity search refits its winner only (the full build compared and "
        "searched everything three days before: `recommender_compare_every_days`, "
        "`propensity_search_every_days`). The equivalent work replays the full build's"
        " own statements and Python models from its target folder without dbt, on as many threads "
        "(no parsing, Thrift sessions, metadata queries or run-result recording). The equivalent "
        "work, the bare copy (CSV to Delta, explicit schema) and the plain PySpark script (the "
        "notebooks' way: no quarantine, tests, registry or search) each run on a fresh server of "
        "their own over the full build's files. Layer rows are summed node times: nodes overlap on"
        " the build's threads. The CPU check (`report.cpu_check`) times one fixed piece of "
        "single-core work, the best of three, on the idle machine before the size's first phase"
        " and after its last.",
        "",
        "DuckDB ran the compiled SQL of "
        + (
            ", ".join(
                sorted({m for s in results["sizes"] for m in s["ratios"]["duckdb_models_compared"]})
            )
            or "no model"
        )
        + ".",
    ]
    differ = sorted({m for s in results["sizes"] for m in s["ratios"]["duckdb_rows_differ"]})
    lines.append(
        "Row counts of every bronze and silver table agree between DuckDB and Spark."
        if not differ else "Row counts differ between DuckDB and Spark for: " + ", ".join(differ)
    )  # fmt: skip
    if failed:
        lines.append("DuckDB could not run (translated Spark SQL it does not support): "
                     + ", ".join(failed) + "; those are left out of the ratio.")  # fmt: skip
    (out / "results.md").write_text("\n".join(lines) + "\n")
    _chart(results, out / "benchmark.png")


def _chart(results: dict, path: Path) -> None:
    """Two panels: wall times of whole runs, and the full build's summed node time per layer
    (node times overlap on the build's threads, so they do not add up to its wall time)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    walls = [("bare copy", "bare_copy"), ("plain PySpark", "plain_pyspark"),
             ("equivalent work", "equivalent"), ("dbt full build", "full_build"),
             ("daily run", "daily_run")]  # fmt: skip
    layers = ["seeds", "bronze", "silver", "gold"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5),
                                      gridspec_kw={"width_ratios": [5, 4]})  # fmt: skip
    width = 0.8 / len(results["sizes"])
    for i, s in enumerate(results["sizes"]):
        label = f"{s['input_rows']:,} rows"
        left.bar([x + i * width for x in range(len(walls))],  # a phase not measured: no bar
                 [_seconds(s, phase) or 0 for _, phase in walls], width, label=label)  # fmt: skip
        node_seconds = [s["full_build"]["layers"].get(la, 0) for la in layers]
        right.bar([x + i * width for x in range(len(layers))], node_seconds, width, label=label)
    for ax, names, title, ylabel in [
        (left, [n for n, _ in walls], "wall time", "seconds"),
        (right, layers, "full build: summed node time per layer", "node seconds"),
    ]:
        ax.set_xticks([x + width * (len(results["sizes"]) - 1) / 2 for x in range(len(names))])
        ax.set_xticklabels(names, rotation=20, ha="right")
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.legend()
    fig.suptitle(f"ecom lakehouse benchmark, {results['machine']['cpus']} cores")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
