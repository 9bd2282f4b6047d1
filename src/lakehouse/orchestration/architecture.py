"""The flow diagram of docs/architecture.md, drawn from the dbt manifest so it cannot go stale.

`render(manifest)` gives a Mermaid flowchart: the landing source, every seed and model in its
layer (the folder it lives in), the edges dbt knows (`ref`, `source`; a source over the
project's own table, as earlier runs left it, is a dotted edge from that model), MLflow
beside the Python models that track or register models (a `meta.experiment`), the exposures
that consume gold, the daily schedule that runs it all and the monitoring around it.
`lakehouse architecture` writes it between the markers of docs/architecture.md (`--check` says
whether it is current); tests/test_layout.py checks that the file holds today's drawing and
names every model.
"""

from __future__ import annotations

import json
from pathlib import Path

BEGIN = "<!-- BEGIN generated: lakehouse architecture (from the dbt manifest; do not edit) -->"
END = "<!-- END generated -->"
LAYERS = ("seeds", "bronze", "silver", "gold")


def _layer(node: dict) -> str:
    if node["resource_type"] == "seed":
        return "seeds"
    folder = Path(node["original_file_path"]).parts[1]
    return folder if folder in LAYERS else "other"


def _label(node: dict) -> str:
    kind = "Python" if node.get("language") == "python" else node["config"].get("materialized")
    return f"{node['name']}<br/><i>{kind}</i>"


def _edges(nodes: dict, names: dict) -> list[tuple[str, str]]:
    """(parent, child) name pairs, sorted, for every parent of `nodes` that `names` names."""
    return sorted({
        (names[parent], node["name"])
        for node in nodes.values()
        for parent in node["depends_on"].get("nodes", []) if parent in names
    })  # fmt: skip


def render(manifest: dict) -> str:
    """The Mermaid flowchart (a fenced block) of the project in `manifest`."""
    project = manifest["metadata"].get("project_name")
    nodes = {
        uid: n for uid, n in manifest["nodes"].items()
        if n["resource_type"] in ("model", "seed") and n["package_name"] == project
    }  # fmt: skip
    sources = {uid: s for uid, s in manifest["sources"].items() if s["package_name"] == project}
    # A source over one of the project's own tables (its state as earlier runs left it) is
    # drawn as a dotted edge from that model, not as a second box.
    relations = {
        n.get("relation_name"): n["name"] for n in nodes.values() if n.get("relation_name")
    }
    history = {uid: relations[s["relation_name"]] for uid, s in sources.items()
               if s.get("relation_name") in relations}  # fmt: skip
    lines = ["```mermaid", "flowchart LR"]
    for uid, source in sorted(sources.items()):
        if uid not in history:
            lines.append(f'  {source["name"]}[("{source["source_name"]}.{source["name"]}<br/>'
                         f'<i>landing files</i>")]')  # fmt: skip
    for layer in LAYERS:
        members = sorted((n["name"], n) for n in nodes.values() if _layer(n) == layer)
        if not members:
            continue
        lines.append(f"  subgraph {layer}")
        lines += [f'    {name}["{_label(node)}"]' for name, node in members]
        lines.append("  end")
    ids = {uid: n["name"] for uid, n in {**nodes, **sources}.items() if uid not in history}
    lines += [f"  {a} --> {b}" for a, b in _edges(nodes, ids)]
    lines += [f"  {a} -. earlier runs .-> {b}" for a, b in _edges(nodes, history)]
    tracked = sorted(n["name"] for n in nodes.values() if "experiment" in n["config"]["meta"])
    if tracked:
        lines.append('  mlflow[("MLflow<br/><i>runs, registry, champion alias</i>")]')
        lines += [f"  {name} <-.-> mlflow" for name in tracked]
    for exposure in sorted(manifest.get("exposures", {}).values(), key=lambda e: e["name"]):
        if exposure["package_name"] != project:
            continue
        lines.append(f'  {exposure["name"]}{{{{"{exposure["label"]}<br/><i>exposure</i>"}}}}')
        lines += [f"  {ids[p]} -.-> {exposure['name']}"
                  for p in sorted(exposure["depends_on"]["nodes"]) if p in ids]  # fmt: skip
    tests = sum(1 for n in manifest["nodes"].values() if n["resource_type"] == "test")
    lines += [
        '  schedule(["Dagster daily schedule<br/><i>one dbt build per run date</i>"])',
        f'  checks(["{tests} data tests = asset checks<br/><i>a failure fails the run</i>"])',
        *[f"  schedule ==> {layer}" for layer in LAYERS if layer != "seeds"],
        *[f"  {layer} -.- checks" for layer in LAYERS if layer != "seeds"],
        "```",
    ]
    return "\n".join(lines)


def model_names(manifest: dict) -> list[str]:
    project = manifest["metadata"].get("project_name")
    return sorted(
        n["name"] for n in manifest["nodes"].values()
        if n["resource_type"] in ("model", "seed") and n["package_name"] == project
    )  # fmt: skip


def generated_block(text: str) -> str:
    """The part of `text` between the markers (ValueError when they are missing)."""
    if BEGIN not in text or END not in text:
        raise ValueError(f"the markers {BEGIN!r} and {END!r} are missing")
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")


def update(doc: Path, manifest_path: Path, check: bool = False) -> tuple[bool, str]:
    """Writes today's drawing into `doc` (or with `check` only compares); returns (whether
    the file was current, a sentence)."""
    if not manifest_path.is_file():
        return False, f"{manifest_path} not found: run `dbt parse` first (make architecture does)"
    drawing = render(json.loads(manifest_path.read_text()))
    text = doc.read_text()
    current = generated_block(text) == drawing
    if current:
        return True, f"{doc} is current"
    if check:
        return False, f"{doc} is stale: run `make architecture`"
    head, rest = text.split(BEGIN, 1)
    doc.write_text(f"{head}{BEGIN}\n{drawing}\n{END}{rest.split(END, 1)[1]}")
    return False, f"{doc} updated from {manifest_path}"
