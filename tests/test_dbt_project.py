"""The project's own DAG through the real dbt CLI: build, Delta tables, OPTIMIZE, docs catalog."""

from __future__ import annotations

import json

import pytest

from conftest import PROJECT_DIR, run_dbt


@pytest.fixture(scope="module")
def built(lakehouse, tmp_path_factory):
    """`dbt build` then `dbt docs generate` of the whole project, once for this module."""
    out = tmp_path_factory.mktemp("dbt-project")
    build = run_dbt(["build"], PROJECT_DIR, out)
    docs = run_dbt(["docs", "generate"], PROJECT_DIR, out)
    manifest = json.loads((out / "target" / "manifest.json").read_text())
    catalog = json.loads((out / "target" / "catalog.json").read_text())
    return {"build": build, "docs": docs, "manifest": manifest, "catalog": catalog}


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


def test_every_model_and_seed_is_a_delta_table(built, spark):
    relations = _relations(built["manifest"], tables_only=True)
    assert len(relations) >= 7
    for relation in relations.values():
        detail = spark.sql(f"describe detail {relation}").first()
        assert detail.format == "delta", relation


def test_optimize_post_hook_compacts_the_sql_model(built, spark):
    history = spark.sql("describe history silver.slv_event_types").orderBy("version").collect()
    operations = [row.operation for row in history]
    last_write = max(i for i, op in enumerate(operations) if op.startswith("CREATE"))
    assert "OPTIMIZE" in operations[last_write + 1 :], operations
    assert spark.sql("describe detail silver.slv_event_types").first().numFiles == 1


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
