"""`lakehouse report` (`make report`): a static HTML report of how the lakehouse runs.

Reads, over Spark Connect, what the runs recorded: `ops.node_results` (one row per node of
every dbt invocation, written by the on-run-end hook, failed runs included), each table's Delta
detail (files and bytes), and `gold.ml_model_monitoring` (realised quality per scoring run
date). Writes one PNG per chart and an `index.html` that shows them with how each figure was
obtained. Nothing is sent anywhere; open the file in a browser.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

from lakehouse.platform.config import Settings, schema_name

LAYERS = ("bronze", "silver", "gold")
LAST_RUNS = 15


def _schema(name: str) -> str:
    return schema_name(name)


def _table_exists(spark, name: str) -> bool:
    schema, table = name.split(".")
    if not spark.sql(f"show schemas like '{schema}'").count():
        return False
    return spark.sql(f"show tables in {schema} like '{table}'").count() > 0


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def _slowest_nodes(spark, results: str, ax) -> str:
    latest = spark.sql(
        f"select invocation_id, max(completed_at) as at, first(run_date) as run_date from "
        f"{results} where command in ('build', 'run') group by invocation_id "
        "order by at desc limit 1"
    ).collect()
    if not latest:
        _no_data(ax, "no build recorded yet")
        return "no build recorded yet"
    inv = latest[0]
    rows = spark.sql(
        f"select name, resource_type, seconds from {results} where invocation_id = "
        f"'{inv.invocation_id}' order by seconds desc limit 15"
    ).toPandas()[::-1]
    colours = {"model": "#4c72b0", "test": "#dd8452", "seed": "#55a868"}
    names = [n if len(n) <= 45 else n[:42] + "..." for n in rows["name"]]
    ax.barh(names, rows["seconds"],
            color=[colours.get(t, "#8172b3") for t in rows["resource_type"]])  # fmt: skip
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlabel("seconds (dbt's execution time of the node)")
    ax.set_title(f"Slowest nodes of the latest build (run date {inv.run_date})")
    return f"invocation {inv.invocation_id}, finished {inv.at}"


def _runtime_per_layer(spark, results: str, ax) -> str:
    pdf = spark.sql(
        f"""select invocation_id, min(min(started_at)) over (partition by invocation_id)
                   as started, first(run_date) as run_date,
               coalesce(layer, 'other') as layer, sum(seconds) as seconds
            from {results} where command in ('build', 'run')
            group by invocation_id, coalesce(layer, 'other')"""
    ).toPandas()
    if pdf.empty:
        _no_data(ax, "no build recorded yet")
        return "no build recorded yet"
    wide = pdf.pivot_table(index=["started", "invocation_id"], columns="layer",
                           values="seconds", aggfunc="sum").fillna(0).sort_index()  # fmt: skip
    wide = wide.tail(LAST_RUNS)
    dates = pdf.groupby("invocation_id")["run_date"].first()
    labels = [f"{dates[i]}\n{str(s)[5:16]}" for s, i in wide.index]
    bottom = None
    for layer in [c for c in (*LAYERS, "seeds", "other") if c in wide.columns]:
        ax.bar(labels, wide[layer], bottom=bottom, label=layer)
        bottom = wide[layer] if bottom is None else bottom + wide[layer]
    ax.set_ylabel("summed node seconds")
    ax.set_title(f"Runtime per layer, last {len(wide)} runs (run date, start)")
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", labelsize=7, rotation=45)
    return f"{len(wide)} runs"


def _files_and_size(spark, results: str, ax) -> str:
    found = []
    for layer in LAYERS:
        schema = _schema(layer)
        if not spark.sql(f"show schemas like '{schema}'").count():
            continue
        for row in spark.sql(f"show tables in {schema}").collect():
            try:
                detail = spark.sql(f"describe detail {schema}.{row.tableName}").first()
            except Exception:  # noqa: BLE001, S112 - a view has no Delta detail
                continue
            if detail is not None and detail.format == "delta":
                found.append((f"{layer}.{row.tableName}", detail.numFiles, detail.sizeInBytes))
    if not found:
        _no_data(ax, "no tables yet")
        return "no tables yet"
    found.sort(key=lambda t: t[2])
    names, files, size = zip(*found, strict=True)
    bars = ax.barh(names, [b / 2**20 for b in size], color="#4c72b0")
    for bar, n in zip(bars, files, strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {n} files",
                va="center", fontsize=7)  # fmt: skip
    ax.set_xlabel("MiB in the current version (Delta `describe detail`)")
    ax.set_title("Files and size per table")
    ax.tick_params(axis="y", labelsize=7)
    return f"{len(found)} Delta tables, {sum(size) / 2**20:.1f} MiB in {sum(files)} files"


def _test_failures(spark, results: str, ax) -> str:
    pdf = (
        spark.sql(
            f"""select invocation_id, min(started_at) as started, first(run_date) as run_date,
               sum(case when status = 'fail' then 1 else 0 end) as failed,
               sum(case when status = 'warn' then 1 else 0 end) as warned,
               sum(case when status = 'error' then 1 else 0 end) as errored,
               count(*) as tests
            from {results} where resource_type in ('test', 'unit_test')
            group by invocation_id order by started"""
        )
        .toPandas()
        .tail(LAST_RUNS)
    )
    if pdf.empty:
        _no_data(ax, "no test recorded yet")
        return "no test recorded yet"
    labels = [f"{d}\n{str(s)[5:16]}" for d, s in zip(pdf["run_date"], pdf["started"], strict=True)]
    ax.bar(labels, pdf["failed"], color="#c44e52", label="fail")
    ax.bar(labels, pdf["errored"], bottom=pdf["failed"], color="#8c1c13", label="error")
    ax.bar(labels, pdf["warned"], bottom=pdf["failed"] + pdf["errored"], color="#dd8452",
           label="warn")  # fmt: skip
    ax.set_ylabel("tests not passing")
    ax.set_title("Data and unit test results per invocation")
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", labelsize=7, rotation=45)
    return f"{int(pdf['tests'].sum())} test results in {len(pdf)} invocations"


def _gold_rows(spark, name: str, ax, empty: str):
    """(the gold table `name` as pandas, "") or, when it is missing or empty, (None, why),
    with the why written on the chart."""
    table = f"{_schema('gold')}.{name}"
    why = f"gold.{name} not built yet"
    if _table_exists(spark, table):
        pdf = spark.table(table).toPandas()  # one row per run date (and feature): small
        if not pdf.empty:
            return pdf, ""
        why = empty
    _no_data(ax, why)
    return None, why


def _model_quality(spark, results: str, ax) -> str:
    pdf, why = _gold_rows(spark, "ml_model_monitoring", ax, "no scored window has passed yet")
    if pdf is None:
        return why
    pdf = pdf.sort_values("run_date")
    x = pdf["run_date"].astype(str)
    for column, style in (("auc_roc", "o-"), ("auc_pr", "s-"), ("ece", "^--"),
                          ("top_decile_buying_rate", "d-")):  # fmt: skip
        ax.plot(x, pdf[column], style, label=column)
    ax.set_ylim(0, 1)
    ax.set_xlabel("scoring run date")
    ax.set_title("Realised quality of each scoring run date, and drift")
    twin = ax.twinx()
    twin.bar(x, pdf["max_feature_psi"].fillna(0), alpha=0.2, color="grey", label="max PSI")
    twin.set_ylabel("largest feature PSI (bars)")
    ax.legend(fontsize=8, loc="upper left")
    ax.tick_params(axis="x", labelsize=7, rotation=45)
    return f"{len(pdf)} scoring run dates, measured on {pdf['measured_on'].max()}"


def _feature_drift(spark, results: str, ax) -> str:
    pdf, why = _gold_rows(spark, "ml_feature_drift", ax, "no drift measured yet (no champion)")
    if pdf is None:
        return why
    name = sorted(pdf["registered_model_name"].unique())[-1]
    wide = pdf[pdf["registered_model_name"] == name].pivot_table(
        index="run_date", columns="feature", values="psi").sort_index()  # fmt: skip
    top = wide.max().sort_values(ascending=False).index[:8]
    for feature in top:
        ax.plot(wide.index.astype(str), wide[feature], "o-", label=feature)
    ax.set_ylabel("PSI against the champion's training data")
    ax.set_title(f"Feature drift of {name}: the 8 features that drifted most")
    ax.legend(fontsize=7, ncol=2)
    ax.tick_params(axis="x", labelsize=7, rotation=45)
    return f"{len(wide)} run dates, {wide.shape[1]} features of {name}"


CHARTS = [
    ("slowest_nodes", "Slowest nodes", "ops.node_results of the latest build or run: dbt's "
     "execution time per node (models blue, tests orange, seeds green).", _slowest_nodes),
    ("runtime_per_layer", "Runtime per layer", "ops.node_results: node seconds summed per "
     "layer (the model's folder) for each of the last runs.", _runtime_per_layer),
    ("files_and_size", "Files and size", "Delta `describe detail` of every table now: size "
     "of the current version and its number of files.", _files_and_size),
    ("test_failures", "Test failures over time", "ops.node_results: data and unit tests that "
     "failed, errored or warned, per invocation.", _test_failures),
    ("model_quality", "Model monitoring", "gold.ml_model_monitoring: realised AUC-ROC, AUC-PR, "
     "calibration error and top-decile buying rate of each scoring run date once its window "
     "passed, with the largest feature PSI that date.", _model_quality),
    ("feature_drift", "Feature drift", "gold.ml_feature_drift: each feature's PSI between the "
     "run date's scoring snapshot and the champion's training data.", _feature_drift),
]  # fmt: skip


def write(spark, out: Path) -> list[Path]:
    """Writes the charts and index.html into `out`; returns the chart files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    results = f"{_schema('ops')}.node_results"
    has_results = _table_exists(spark, results)
    sections, charts = [], []
    for name, title, how, draw in CHARTS:
        fig, ax = plt.subplots(figsize=(10, 5.5))
        if has_results or draw in (_files_and_size, _model_quality, _feature_drift):
            found = draw(spark, results, ax)
        else:
            _no_data(ax, "ops.node_results does not exist yet: run a build")
            found = "no run recorded yet"
        fig.tight_layout()
        path = out / f"{name}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        charts.append(path)
        sections.append(
            f"<h2>{html.escape(title)}</h2><p>{html.escape(how)} "
            f"<i>{html.escape(found)}</i></p><img src='{path.name}' alt='{name}'>"
        )
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    (out / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>Lakehouse report</title>"
        "<style>body{font-family:sans-serif;max-width:980px;margin:2em auto}img{width:100%}"
        f"</style></head><body><h1>Lakehouse report</h1><p>Generated {now}.</p>"
        + "".join(sections)
        + "</body></html>"
    )
    return charts


def run(settings: Settings, out: Path) -> list[Path]:
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.remote(settings.connect_url).create()
    try:
        return write(spark, out)
    finally:
        spark.stop()
