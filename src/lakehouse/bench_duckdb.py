"""The benchmark's single-machine reference: the same bronze and silver SQL in DuckDB.

`dbt compile --full-refresh` renders the SQL models of bronze and silver (as a full build);
each compiled statement is translated from Spark SQL to DuckDB with sqlglot and run as
`create table <schema>.<model> as ...` in dependency order, in a DuckDB file database. The
landing source is the same files read as one text column per line, with the `_metadata`
struct Spark provides. A model whose SQL DuckDB cannot run is recorded with its error, not
hidden; the comparison uses the models that ran in both engines.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

LAYERS = ("bronze", "silver")


def _order(manifest: dict) -> list[dict]:
    """SQL models of bronze and silver (tables, incrementals and views), parents first."""
    nodes = {
        uid: n
        for uid, n in manifest["nodes"].items()
        if n["resource_type"] == "model" and n["language"] == "sql" and n["fqn"][1] in LAYERS
    }
    done: list[str] = []

    def visit(uid: str) -> None:
        if uid in done:
            return
        for parent in nodes[uid]["depends_on"]["nodes"]:
            if parent in nodes:
                visit(parent)
        done.append(uid)

    for uid in sorted(nodes):
        visit(uid)
    return [nodes[uid] for uid in done]


def run(manifest_path: Path, compiled_root: Path, landing: str, database: Path,
        seeds: dict[str, Path], threads: int = 2) -> dict:  # fmt: skip
    """Runs every compiled bronze and silver model; returns {model: seconds or error}."""
    import duckdb
    import sqlglot

    manifest = json.loads(manifest_path.read_text())
    database.unlink(missing_ok=True)
    con = duckdb.connect(str(database))
    con.execute(f"set threads = {threads}")
    results: dict[str, dict] = {}
    started = time.perf_counter()
    schemas = {n["schema"] for n in manifest["nodes"].values()} | {"landing"}
    for schema in sorted(schemas):
        con.execute(f'create schema if not exists "{schema}"')
    con.execute(
        "create table landing.event_lines as "
        "select line as value, struct_pack(file_name := parse_filename(filename), "
        "file_modification_time := now()::timestamp) as _metadata "
        f"from read_csv('{landing}/*.csv*', columns = {{'line': 'VARCHAR'}}, header = false, "
        "delim = '\x1f', quote = '', escape = '', filename = true, "
        "strict_mode = false, null_padding = true)"
    )
    results["landing"] = {"seconds": time.perf_counter() - started}
    for name, path in seeds.items():
        schema = next(
            n["schema"] for n in manifest["nodes"].values() if n["name"] == name
        )  # a seed
        con.execute(f'create table "{schema}"."{name}" as select * from read_csv(\'{path}\')')
    for node in _order(manifest):
        compiled = compiled_root / node["package_name"] / node["original_file_path"]
        sql = compiled.read_text()
        try:
            translated = sqlglot.transpile(sql, read="spark", write="duckdb")[0]
            begun = time.perf_counter()
            kind = "view" if node["config"]["materialized"] == "view" else "table"
            con.execute(f'create {kind} "{node["schema"]}"."{node["alias"]}" as {translated}')
            if kind == "table":
                rows = con.execute(
                    f'select count(*) from "{node["schema"]}"."{node["alias"]}"'
                ).fetchone()[0]
            else:
                rows = None
            results[node["name"]] = {
                "seconds": time.perf_counter() - begun, "rows": rows, "layer": node["fqn"][1],
            }  # fmt: skip
        except Exception as error:  # recorded, not hidden: the comparison skips this model
            results[node["name"]] = {"error": str(error).splitlines()[0][:300],
                                     "layer": node["fqn"][1]}  # fmt: skip
    con.close()
    return results
