"""The benchmark's single-machine reference: the same bronze and silver SQL in DuckDB.

`dbt compile --full-refresh` renders the SQL models of bronze and silver (as a full build);
each compiled statement is translated from Spark SQL to DuckDB with sqlglot and run as
`create table <schema>.<model> as ...` in dependency order, in a DuckDB file database. The
landing listing is the folder's files (DuckDB's read_blob without the content), and the lines
bronze reads are every landing file read as one text column per line: the compiled SQL names
the files a Spark build chose, which after the build are none, so that one model is given the
full build's read here. A model whose SQL DuckDB cannot run is recorded with its error, not
hidden; the comparison uses the models that ran in both engines.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

LAYERS = ("bronze", "silver")
# Java date-pattern letters used by the project, longest first, and their strftime codes.
JAVA_TO_STRFTIME = [("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"),
                    ("ss", "%S"), ("X", "Z")]  # fmt: skip


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


def _translate(sql: str) -> str:
    """Spark SQL to DuckDB with sqlglot, plus the gaps found in this project's SQL:
    `split(s, re, -1)` (DuckDB's regex split takes no limit; -1 means none) and
    `try_to_timestamp(s, java_pattern)` (DuckDB: `try_strptime` with a strftime pattern; the
    zone letter X is only ever 'Z' here, the bronze model writes it), and `unix_timestamp(ts)`
    of a timestamp (DuckDB: `epoch`)."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="spark")
    for node in tree.find_all(exp.RegexpSplit):
        if node.args.get("limit") is not None:
            node.set("limit", None)
    for node in list(tree.find_all(exp.Anonymous)):
        args = node.expressions
        if node.name.lower() == "try_to_timestamp" and len(args) == 2 and args[1].is_string:
            pattern = args[1].this
            for java, strftime in JAVA_TO_STRFTIME:
                pattern = pattern.replace(java, strftime)
            converted = [args[0], exp.Literal.string(pattern)]
            node.replace(exp.Anonymous(this="try_strptime", expressions=converted))
    for node in list(tree.find_all(exp.Anonymous)):  # xxhash64: DuckDB's own 64-bit hash
        if node.name.lower() == "xxhash64":
            node.replace(exp.Anonymous(this="hash", expressions=node.expressions))
    for node in list(tree.find_all(exp.StrToUnix)):  # unix_timestamp(ts): seconds of a time
        node.replace(exp.Anonymous(this="epoch", expressions=[
            exp.Cast(this=node.this, to=exp.DataType.build("timestamp"))]))  # fmt: skip
    return tree.sql(dialect="duckdb")


def _full_build_sql(name: str, landing: str) -> str | None:
    """The DuckDB SQL of a model whose compiled SQL depends on what the Spark build already
    loaded (the files it chose to read), for a full build; None for every other model."""
    if name == "brz_landed_lines":
        return (
            "select line, parse_filename(filename) as source_file, cast(null as bigint) as "
            "file_size, cast(null as timestamp) as file_modified_at, false as is_too_long "
            f"from read_csv('{landing}/*.csv*', columns = {{'line': 'VARCHAR'}}, "
            "header = false, delim = '\x1f', quote = '', escape = '', filename = true, "
            "strict_mode = false, null_padding = true) "
            "where line != 'event_time,event_type,product_id,category_id,category_code,brand,"
            "price,user_id,user_session' and trim(line) != ''"
        )
    return None


def run(manifest_path: Path, compiled_root: Path, landing: str, database: Path,
        seeds: dict[str, Path], threads: int = 2) -> dict:  # fmt: skip
    """Runs every compiled bronze and silver model; returns {model: seconds or error}."""
    import duckdb

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
        "create table landing.event_files as select filename as path, size as length, "
        f"last_modified as modificationtime from read_blob('{landing}/*.csv*')"
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
        if node["name"] == "brz_event_lines":  # parse every landed file, as a full build does
            sql = re.sub(r"where (false|source_file in \([^)]*\))", "where true", sql, count=1)
        try:
            translated = _full_build_sql(node["name"], landing) or _translate(sql)
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
