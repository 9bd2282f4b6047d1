"""The project's own DAG through the real dbt CLI: build, Delta tables, OPTIMIZE, docs catalog."""

from __future__ import annotations

import re

import pytest
from pyspark.sql import functions as F

from lakehouse.orchestration.selection import DAILY_EXCLUDE


@pytest.fixture(scope="module")
def built(project_build):
    return project_build


def _relations(manifest, tables_only: bool = False) -> dict[str, str]:
    """unique_id -> schema.table of every model and seed of this project (only the tables:
    seeds, table and incremental models, when `tables_only`)."""
    return {
        uid: f"{node['schema']}.{node['alias']}"
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "seed")
        and node["package_name"] == "ecom_lakehouse"
        and (
            not tables_only
            or node["resource_type"] == "seed"
            or node["config"]["materialized"] in ("table", "incremental")
        )
    }


def test_build_is_green_with_sql_and_python_models(built):
    out = built["build"].output
    assert "Completed successfully" in out
    assert "python table model gold.ml_event_type_weights" in out
    assert "ERROR=0" in out and "PASS=0" not in out


def test_the_daily_build_leaves_unit_tests_and_sql_guarantees_to_the_test_suite(built, dbt):
    """The scheduled build runs no unit test and no data test tagged sql_guarantee (selection
    DAILY_EXCLUDE); `dbt test` runs every one of them against the built tables, and they
    pass."""
    manifest = built["manifest"]
    unit_tests = [uid for uid in manifest["unit_tests"]
                  if uid.startswith("unit_test.ecom_lakehouse.")]  # fmt: skip
    tag = DAILY_EXCLUDE.removeprefix("tag:")
    guarantees = [node["name"] for node in manifest["nodes"].values()
                  if node["resource_type"] == "test" and tag in node["tags"]]  # fmt: skip
    assert len(unit_tests) >= 10 and len(guarantees) >= 10
    assert "START unit_test" not in built["build"].output
    assert not [name for name in guarantees if f" {name} " in built["build"].output]
    assert "START test" in built["build"].output  # the other data tests ran
    proc = dbt(["test", "-s", "test_type:unit", DAILY_EXCLUDE])
    ran = f" {len(guarantees)} data tests, {len(unit_tests)} unit tests in "
    assert ran in proc.output, proc.output[-3000:]
    assert "ERROR=0 " in proc.output and "FAIL " not in proc.output


def test_row_rules_counts_the_rows_that_break_each_rule(built, dbt):
    """The one-query row test: each rule counts its own broken rows; nulls pass every rule but
    not_null; a clean row breaks nothing."""
    rows = "(1, 2, 'x', 3), (null, -1, 'y', 9), (3, null, null, null), (4, -5, 'z', 0)"
    call = (
        f'{{{{ test_row_rules(model="(select * from values {rows} as t(a, b, c, d))", '
        "not_null=['a', 'b'], non_negative=['b'], accepted_values={'c': ['x']}, "
        "between={'d': [1, 5]}) }}"
    )
    out = dbt(["show", "--inline", call]).output
    broken = dict(re.findall(r"\| (\w+\([\w, ]+\)) +\| +(\d+) \|", out))
    assert broken == {"not_null(a)": "1", "not_null(b)": "1", "non_negative(b)": "2",
                      "accepted_values(c)": "2", "between(d, 1, 5)": "2"}, out  # fmt: skip


def test_a_key_with_alternate_keys_finds_a_repeat_in_any_of_them(built, dbt):
    """unique_combination with alternate_keys checks (a, b) and (a, c) in one scan: a group of
    `a` fails when b or c repeats in it (a null counts as a value), and only then."""
    rows = (
        "(1, 1, 'x'), (1, 2, 'y'), "  # clean
        "(2, 1, 'x'), (2, 1, 'y'), "  # b repeats
        "(3, 1, 'x'), (3, 2, 'x'), "  # c repeats
        "(4, null, 'x'), (4, null, 'y'), "  # b null twice
        "(5, 1, null), (5, 2, 'x')"  # one null: clean
    )
    call = (
        f'{{{{ test_unique_combination(model="(select * from values {rows} as t(a, b, c))", '
        "columns=['a', 'b'], alternate_keys=['c']) }}"
    )
    out = dbt(["show", "--inline", call]).output
    failing = {int(a) for a in re.findall(r"^\| +(\d+) \| +\d+ \|$", out, re.M)}
    assert failing == {2, 3, 4}, out


def test_an_event_type_of_the_var_without_its_seed_row_fails_a_test(built, dbt):
    """var event_types lets an event type through bronze; without its row in slv_event_types
    (its weight) its events would drop out of the interactions, so the table's test names it."""
    call = ("{{ test_has_row_for_each(model=ref('slv_event_types'), column_name='event_type', "
            "values=['view', 'purchase', 'refund']) }}")  # fmt: skip
    out = dbt(["show", "--inline", call]).output
    assert re.findall(r"\| (\w+) +\|", out) == ["missing_value", "refund"], out


def test_python_models_receive_every_meta_key_they_read(built):
    """dbt hands a Python model only the meta keys its parser finds in a call of its own or
    one passed straight to another call: `int(dbt.config.meta_get("x") or 0)` is missed, and
    the model then reads None (the sample size of the recommender's evaluation was lost that
    way once)."""
    python = [
        node
        for node in built["manifest"]["nodes"].values()
        if node.get("language") == "python" and node["package_name"] == "ecom_lakehouse"
    ]
    assert len(python) >= 8
    for node in python:
        read = set(re.findall(r'meta_get\(\s*"(\w+)"', node["raw_code"]))
        assert read <= set(node["config"].get("meta_keys_used") or []), node["name"]


def test_every_model_and_seed_is_a_delta_table(built, spark):
    relations = _relations(built["manifest"], tables_only=True)
    assert len(relations) >= 7
    for relation in relations.values():
        detail = spark.sql(f"describe detail {relation}").first()
        assert detail.format == "delta", relation


def test_tables_rebuilt_whole_are_written_compact(built, spark):
    """Optimized writes: a table rebuilt whole has one file (per partition) without OPTIMIZE."""
    for table in ("silver.slv_event_types", "silver.slv_products", "gold.ml_user_scoring_set"):
        assert spark.sql(f"describe detail {table}").first().numFiles == 1, table
        operations = [h.operation for h in spark.sql(f"describe history {table}").collect()]
        assert "OPTIMIZE" not in operations, (table, operations)


def test_python_model_read_the_sql_model_through_dbt_ref(built, spark):
    rows = spark.table("gold.ml_event_type_weights").collect()
    source = {
        r.event_type: r.interaction_weight for r in spark.table("silver.slv_event_types").collect()
    }
    assert {r.event_type for r in rows} == set(source)
    assert abs(sum(r.weight_share for r in rows) - 1.0) < 1e-9
    total = sum(source.values())
    for row in rows:
        assert row.weight_share == pytest.approx(source[row.event_type] / total)


def test_docs_catalog_lists_every_column_of_every_model(built):
    catalog, manifest = built["catalog"], built["manifest"]
    assert not catalog.get("errors")
    for uid in _relations(manifest):
        assert uid in catalog["nodes"], f"{uid} missing from catalog.json"
        in_catalog = set(catalog["nodes"][uid]["columns"])
        documented = set(manifest["nodes"][uid]["columns"])
        assert in_catalog, f"{uid} has no columns in the catalog"
        assert documented <= in_catalog, (uid, documented - in_catalog)
        assert in_catalog <= documented, f"{uid}: undocumented columns {in_catalog - documented}"


def _parents(manifest, uid) -> list[str]:
    return [p for p in manifest["parent_map"][uid] if p.split(".")[1] == "ecom_lakehouse"]


def _layer(uid: str, manifest) -> str:
    node = manifest["nodes"].get(uid) or manifest["sources"].get(uid) or {}
    if uid.startswith("source."):
        # a source over the project's own table (as earlier runs left it) is in its layer
        own = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"
               and n.get("relation_name") == node.get("relation_name")]  # fmt: skip
        return own[0]["fqn"][1] if own else "source"
    if uid.startswith("seed."):
        return "seed"
    return node["fqn"][1]  # the folder: bronze, silver or gold


def test_lineage_reads_bronze_silver_gold_without_a_gap(built):
    manifest = built["manifest"]
    order = {"source": 0, "seed": 0, "bronze": 1, "silver": 2, "gold": 3}
    models = {
        uid for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["package_name"] == "ecom_lakehouse"
    }  # fmt: skip
    for uid in models:
        layer = _layer(uid, manifest)
        parents = [_layer(p, manifest) for p in _parents(manifest, uid)]
        if manifest["nodes"][uid]["config"]["materialized"] == "streaming" and layer == "bronze":
            continue  # reads the streaming landing folder, not a table
        assert parents, f"{uid} reads nothing of the project"
        # A model reads its own layer or the one below it (seeds are lookups, any layer).
        assert all(0 <= order[layer] - order[p] <= 1 or p == "seed" for p in parents), (
            uid, parents)  # fmt: skip
    # Every exposure is fed by gold or silver tables.
    for exposure in manifest["exposures"].values():
        assert exposure["depends_on"]["nodes"], exposure["name"]


def test_features_read_only_the_daily_aggregates_cut_to_their_window(built):
    """Structural half of the leakage proof: the training and scoring sets reach events only
    through the silver daily aggregates, and every read of those in their compiled SQL is cut
    to a date range that ends on the snapshot's last day (the data half: test_features.py)."""
    manifest = built["manifest"]
    daily = {"slv_user_daily_activity", "slv_user_product_daily", "slv_user_session_daily"}
    ends = {"ml_user_training_set": "2019-10-31", "ml_user_scoring_set": "2019-11-30"}
    for name, end in ends.items():
        node = manifest["nodes"][f"model.ecom_lakehouse.{name}"]
        parents = {p.split(".")[-1] for p in _parents(manifest, node["unique_id"])}
        assert "brz_events" not in parents and daily <= parents, (name, parents)
        sql = (built["out"] / "target" / "compiled" / "ecom_lakehouse" /
               node["original_file_path"]).read_text()  # fmt: skip
        reads = re.findall(r"from silver\.(slv_user_\w+)\s+where ([^\n]+)", sql)
        assert {t for t, _ in reads} == daily, reads
        features = [w for _, w in reads if f"event_date <= cast('{end}' as date)" in w]
        assert len(features) == 3, (name, reads)


def test_gold_sql_models_have_enforced_contracts(built):
    manifest = built["manifest"]
    gold_sql = [
        node for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1] == "gold"
        and node["language"] == "sql"
    ]  # fmt: skip
    assert {n["name"] for n in gold_sql} >= {"ml_user_training_set", "ml_class_balance"}
    for node in gold_sql:
        assert node["contract"]["enforced"], node["name"]
        assert all(c.get("data_type") for c in node["columns"].values()), node["name"]


def test_contract_not_null_is_a_delta_check_constraint(built, spark):
    props = spark.sql("describe detail gold.ml_user_training_set").first().properties
    check = props["delta.constraints.contract_not_null"]
    assert "user_id is not null" in check and "label is not null" in check
    table = spark.table("gold.ml_user_training_set")
    rows = table.count()
    bad = table.limit(1).withColumn("user_id", F.lit(None).cast("bigint"))
    with pytest.raises(Exception, match="contract_not_null"):
        bad.write.mode("append").saveAsTable("gold.ml_user_training_set")
    assert spark.table("gold.ml_user_training_set").count() == rows


@pytest.mark.parametrize(
    ("bad_vars", "message"),
    [
        # one of each kind in `make test` (each is a dbt command); the rest in `make test-all`
        ("{run_date: '2019-02-30'}", "'run_date' must be a date written YYYY-MM-DD"),
        ("{prediction_start: '2019-10-15'}", "observation_end < prediction_start"),
        ("{}", "the landing folder '/nonexistent/landing' does not exist"),
        *[
            pytest.param(bad, message, marks=pytest.mark.slow)
            for bad, message in [
                ("{observation_end: '2019-10-3x'}", "must be a date written YYYY-MM-DD"),
                ("{train_ratio: 1.5}", "strictly between 0 and 1"),
                ("{observation_days: 'two'}", "'observation_days' must be a whole number of days"),
                ("{retrain_max_psi: 0}", "'retrain_max_psi' must be a number above 0"),
                ("{retrain_min_auc: 1.5}", "'retrain_min_auc' must be a number above 0"),
                ("{purchase_value: 30}", "give both, or neither for the F1 rule"),
                ("{als_grid: {rank: 64}}", "maps each ALS parameter to a non-empty list of values"),
                ("{propensity_tuning_max_users: -5}", "must be a whole number of users"),
                ("{recommender_compare_every_days: 1.5}", "from 0 to 9999 (0: compare every"),
                ("{propensity_search_every_days: -1}", "from 0 to 9999 (0: search the whole"),
            ]
        ],
    ],
)
def test_invalid_vars_fail_before_any_table_is_touched(
    built, spark, dbt, monkeypatch, bad_vars, message
):
    def version():
        return spark.sql("describe history silver.slv_user_daily_activity").first().version

    if bad_vars == "{}":
        monkeypatch.setenv("LAKEHOUSE_LANDING_DIR", "/nonexistent/landing")
    before = version()
    proc = dbt(["build", "--vars", bad_vars], check=False)
    assert proc.returncode != 0
    assert message in proc.output
    assert "START sql" not in proc.output
    assert version() == before


def test_the_windows_follow_the_run_date(built, dbt):
    """run_date 2019-11-19: label 2019-10-21..2019-11-19, training features the 31 days before
    it; scoring features the 31 days ending on it, predicting the 30 days after."""

    dbt(["compile", "-s", "ml_run_windows", "--vars", "{run_date: '2019-11-19'}"])
    compiled = next(dbt.target.rglob("compiled/**/ml_run_windows.sql")).read_text()
    windows = dict(
        (name, (start, end))
        for name, start, end in re.findall(
            r"'(\w+)' as window_name,\s+cast\('([\d-]+)' as date\) as start_date,"
            r"\s+cast\('([\d-]+)' as date\) as end_date", compiled)
    )  # fmt: skip
    assert windows == {
        "training_features": ("2019-09-20", "2019-10-20"),
        "training_label": ("2019-10-21", "2019-11-19"),
        "scoring_features": ("2019-10-20", "2019-11-19"),
        "forecast": ("2019-11-20", "2019-12-19"),
        "recommendation_validation": ("2019-10-21", "2019-11-04"),
        "recommendation_holdout": ("2019-11-05", "2019-11-19"),
    }


@pytest.mark.slow  # an operations command over several tables: `make test-all` runs it
def test_vacuum_cleans_the_tables_it_is_given_and_refuses_a_short_retention(built, dbt):
    """Two tables (a VACUUM costs seconds per table); without `models` it takes every Delta
    table of the project."""
    out = dbt(["run-operation", "vacuum_tables", "--args",
               "{models: [slv_event_types, brz_file_loads]}"]).output  # fmt: skip
    assert "vacuum silver.slv_event_types: removed 0 file(s) older than 168 hours" in out
    assert "vacuum bronze.brz_file_loads: removed 0 file(s) older than 168 hours" in out
    assert "vacuum: 2 Delta tables, 0 file(s) removed (retention 168 hours)" in out
    short = dbt(["run-operation", "vacuum_tables", "--args", "{retention_hours: 24}"],
                check=False)  # fmt: skip
    assert short.returncode != 0
    assert "vacuum_retention_hours is 24: it must be at least 168" in short.output


def test_a_build_while_another_holds_the_lock_fails_naming_it_and_touches_nothing(
    built, dbt, spark, lakehouse, monkeypatch, build_lock_holder
):
    def version():
        return spark.sql("describe history silver.slv_event_types").first().version

    before = version()
    holder = build_lock_holder(lakehouse.state_dir)
    try:
        monkeypatch.setenv("LAKEHOUSE_BUILD_LOCK_TIMEOUT", "2")
        blocked = dbt(["run", "-s", "slv_event_types"], check=False)
    finally:
        holder.kill()
        holder.wait()
    assert blocked.returncode != 0
    assert f"Another build holds {lakehouse.state_dir / 'build.lock'} (pid {holder.pid}" in (
        blocked.output
    )
    assert "START sql" not in blocked.output
    assert version() == before
    dbt(["run", "-s", "slv_event_types"])  # the holder gone, the same run goes through
    assert version() == before + 1
