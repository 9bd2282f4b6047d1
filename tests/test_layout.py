"""The project's layout, checked without a server: the README front page, links that resolve,
layer selection that takes a whole layer, the runtime's sub-packages, declared dependencies,
and the one definition of the event parser."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import BIN_DIR, PROJECT_DIR
from lakehouse.orchestration import architecture

LAYERS = ("bronze", "silver", "gold")
DOCS = [PROJECT_DIR / "README.md", *sorted((PROJECT_DIR / "docs").rglob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_readme_is_a_short_front_page():
    size = (PROJECT_DIR / "README.md").stat().st_size
    assert size <= 10 * 1024, f"README.md is {size} bytes; move reference material to docs/"


@pytest.mark.parametrize("page", DOCS, ids=lambda p: str(p.relative_to(PROJECT_DIR)))
def test_every_relative_link_and_cited_file_exists(page):
    text = page.read_text()
    targets = [t for t in LINK.findall(text) if not t.startswith(("http:", "https:", "mailto:"))]
    # files cited in code spans, such as `src/lakehouse/ml/propensity.py`
    cited = re.findall(r"`((?:src|models|python_models|macros|tests|docs|seeds)/[^`*{}<> ]+)`",
                       text)  # fmt: skip
    missing = []
    for target in targets:
        path = target.split("#", 1)[0]
        if path and not (page.parent / path).exists():
            missing.append(target)
    missing += [c for c in cited if not (PROJECT_DIR / c.rstrip("/")).exists()]
    assert not missing, f"{page.name} points at files that do not exist: {missing}"


# dbt's own `ls -s <layer>`, the selection the docs recommend, for each layer: one parse, then
# each selection on that manifest (three `dbt ls` commands parse three times: 35 s, not 15 s).
LIST_LAYERS = """
import json, sys
from dbt.cli.main import dbtRunner
out, layers = sys.argv[1], sys.argv[2:]
parsed = dbtRunner().invoke(["parse", "--quiet", "--target-path", out])
assert parsed.success, parsed.exception
selected = {}
for layer in layers:
    listed = dbtRunner(manifest=parsed.result).invoke(
        ["ls", "-s", layer, "--resource-type", "model", "--output", "path", "--quiet",
         "--target-path", out])
    assert listed.success, listed.exception
    selected[layer] = sorted(listed.result)
with open(out + "/selected.json", "w") as f:
    json.dump(selected, f)
"""


@pytest.fixture(scope="module")
def selections(tmp_path_factory):
    """`dbt ls -s <layer>` of each layer and the manifest dbt parsed for it."""
    out = tmp_path_factory.mktemp("dbt-ls")
    proc = subprocess.run([str(BIN_DIR / "python"), "-c", LIST_LAYERS, str(out), *LAYERS],
                          cwd=PROJECT_DIR, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    selected = json.loads((out / "selected.json").read_text())
    return selected, json.loads((out / "manifest.json").read_text())


def test_selecting_a_layer_selects_its_sql_and_python_models(selections):
    selected, _ = selections
    for layer in LAYERS:
        files = sorted(
            str(p.relative_to(PROJECT_DIR))
            for folder, suffix in (("models", ".sql"), ("python_models", ".py"))
            for p in (PROJECT_DIR / folder / layer).rglob(f"*{suffix}")
        )
        assert selected[layer] == files, layer
        assert any(f.endswith(".py") for f in files) or layer == "gold" or layer == "bronze"


def test_the_architecture_diagram_is_todays_and_names_every_model(selections):
    _, manifest = selections
    drawn = architecture.generated_block((PROJECT_DIR / "docs" / "architecture.md").read_text())
    assert drawn == architecture.render(manifest), "docs/architecture.md: run make architecture"
    names = architecture.model_names(manifest)
    assert len(names) >= 30
    missing = [n for n in names if not re.search(rf"\b{n}\[", drawn)]
    assert not missing, missing
    assert "mlflow" in drawn and "schedule" in drawn


def test_every_python_model_is_described_beside_it():
    for model in (PROJECT_DIR / "python_models").rglob("*.py"):
        yml = model.parent / f"_{model.parent.name}__python_models.yml"
        names = [m["name"] for m in yaml.safe_load(yml.read_text())["models"]]
        assert model.stem in names, f"{model} is not described in {yml.name}"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_runtime_has_no_import_cycles_and_never_imports_the_benchmark():
    root = PROJECT_DIR / "src" / "lakehouse"
    modules = {
        ".".join(p.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__"): p
        for p in root.rglob("*.py")
    }
    graph = {
        name: {m for m in _imports(path) if m.startswith("lakehouse") and m != name}
        for name, path in modules.items()
    }
    for name, deps in graph.items():
        if not name.startswith("lakehouse.bench"):
            assert not any(d.startswith("lakehouse.bench") for d in deps), name
    # depth-first search for a cycle between modules (a module's package counts as itself)
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in graph.get(name, ()):
            dep = dep if dep in graph else dep.rsplit(".", 1)[0]
            if state.get(dep) == 1:
                raise AssertionError(f"import cycle: {' -> '.join([*path, dep])}")
            if dep in graph and not state.get(dep):
                visit(dep, [*path, dep])
        state[name] = 2

    for name in graph:
        if not state.get(name):
            visit(name, [name])


def test_every_package_the_code_imports_is_declared_and_locked():
    pyproject = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
    declared = {
        re.split(r"[\[<>=~!; ]", dep, maxsplit=1)[0].lower().replace("_", "-")
        for dep in pyproject["project"]["dependencies"]
        + pyproject["project"]["optional-dependencies"]["dev"]
    }
    distribution = {  # import name -> distribution name, where they differ
        "sklearn": "scikit-learn", "yaml": "pyyaml", "pyhive": "pyhive",
        "dbt_common": "dbt-common", "dagster_dbt": "dagster-dbt", "dbt": "dbt-core",
    }  # fmt: skip
    stdlib = set(__import__("sys").stdlib_module_names)
    local = {"lakehouse", "conftest", "dbt"}
    imported = set()
    for folder in ("src", "tests", "python_models"):
        for path in (PROJECT_DIR / folder).rglob("*.py"):
            imported |= {m.split(".")[0] for m in _imports(path)}
    third_party = {m for m in imported if m not in stdlib and m not in local and m != "mlflow"}
    third_party |= {"mlflow"}
    undeclared = sorted(
        m for m in third_party if distribution.get(m, m).lower().replace("_", "-") not in declared
    )
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
    locked = (PROJECT_DIR / "requirements.lock").read_text().lower()
    for name in declared:
        assert re.search(rf"^{re.escape(name)}==", locked, re.M), f"{name} is not in the lock"


def test_batch_and_stream_read_the_one_parser_definition():
    """The parse rules live in one var; the macro and the streaming model both read it, and
    neither holds its own copy of a reason code or an event type."""
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    reasons = [rule[0] for rule in project["vars"]["event_parse"]["reject_rules"]]
    assert len(reasons) == len(set(reasons)) >= 7
    stream_yml = yaml.safe_load(
        (PROJECT_DIR / "python_models" / "bronze" / "_bronze__python_models.yml").read_text()
    )
    meta = stream_yml["models"][0]["config"]["meta"]
    assert meta["event_parse"] == "{{ var('event_parse') }}"
    code = "\n".join(
        p.read_text()
        for p in [*(PROJECT_DIR / "src" / "lakehouse" / "streaming").glob("*.py"),
                  PROJECT_DIR / "macros" / "event_parsing.sql",
                  *(PROJECT_DIR / "models" / "bronze").glob("*.sql")]
    ).replace("materialized='view'", "")  # fmt: skip
    for literal in [*reasons, *project["vars"]["event_types"]]:
        assert f"'{literal}'" not in code and f'"{literal}"' not in code, literal
    assert json.dumps(project["vars"]["event_types"]) == json.dumps(
        ["view", "cart", "remove_from_cart", "purchase"]
    )
