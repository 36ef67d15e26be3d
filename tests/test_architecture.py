"""The package's structure, checked statically: rooms, import direction, public names.

docs/architecture.md draws the same map; :data:`TIERS` is its machine-readable
copy. A module may import only modules of LOWER tiers (imports inside
functions count too), so an import cycle cannot exist.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "tlhelpers"
DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"

#: tier -> modules; the order of docs/architecture.md, bottom (0) to top.
TIERS: dict[int, tuple[str, ...]] = {
    0: ("atomic", "config", "data", "downloads", "kerascompat", "report"),
    1: ("features", "rehearsal", "standins", "realfiles", "squeezenet"),
    2: ("backbones", "tfhub", "kerashub", "datasets", "folders"),
    3: ("layers",),
    4: ("models",),
    5: ("training", "evaluate", "explain"),
    6: ("compare", "recipes", "export", "demo"),
    7: ("plots",),
    8: ("prefetch", "runner"),
    9: ("cli",),
}
TIER_OF = {m: t for t, mods in TIERS.items() for m in mods}


def _modules() -> list[str]:
    return sorted(p.stem for p in PKG.glob("*.py") if p.stem != "__init__")


def _imports(module: str) -> set[str]:
    """Return the tlhelpers modules ``module`` imports anywhere (top level, functions, TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse((PKG / f"{module}.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "tlhelpers":
                found |= {a.name for a in node.names if a.name in TIER_OF or (PKG / f"{a.name}.py").exists()}
            elif node.module.startswith("tlhelpers."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("tlhelpers.")}
    found.discard(module)
    return found


def test_every_module_has_a_tier_and_a_line_in_the_docs():
    assert sorted(TIER_OF) == _modules(), "place each new module in TIERS and in docs/architecture.md"
    doc = DOC.read_text(encoding="utf-8")
    package_doc = ast.get_docstring(ast.parse((PKG / "__init__.py").read_text(encoding="utf-8"))) or ""
    for module in _modules():
        assert f"`{module}`" in doc, f"docs/architecture.md does not describe {module}"
        assert re.search(rf"^\s+{module}:", package_doc, re.M), f"the package docstring does not list {module}"
    for tier, modules in TIERS.items():
        assert re.search(rf"^\| {tier} \| " + ", ".join(f"`{m}`" for m in modules) + r" \|", doc, re.M), (
            f"docs/architecture.md's table row for tier {tier} differs from TIERS")


@pytest.mark.parametrize("module", _modules())
def test_imports_only_go_down(module):
    upward = {m: TIER_OF[m] for m in _imports(module) if TIER_OF[m] >= TIER_OF[module]}
    assert not upward, (f"{module} (tier {TIER_OF[module]}) imports {upward}: same or higher tier. Move the "
                        "shared code down, or pass it in as an argument.")


def test_the_checker_sees_function_level_and_upward_imports(tmp_path, monkeypatch):
    """The import walk must see imports inside functions, or the direction test could not fail."""
    fake = tmp_path / "tlhelpers"
    fake.mkdir()
    (fake / "config.py").write_text("def f():\n    from tlhelpers import cli\n    import tlhelpers.models\n")
    monkeypatch.setattr(f"{__name__}.PKG", fake)
    assert _imports("config") == {"cli", "models"}


def _no_cycles(graph: dict[str, set[str]]) -> list[str]:
    """Return one cycle as a list of modules, or [] (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_no_import_cycle_and_the_cycle_finder_finds_one():
    assert _no_cycles({m: _imports(m) for m in _modules()}) == []
    assert _no_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def _private_uses(module: str) -> list[str]:
    """Names starting with one underscore that ``module`` takes from another tlhelpers module."""
    tree = ast.parse((PKG / f"{module}.py").read_text(encoding="utf-8"))
    imported: set[str] = set()
    bad: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tlhelpers"):
            if node.module == "tlhelpers":
                imported |= {a.asname or a.name for a in node.names}
            bad += [f"{node.module}.{a.name}" for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")]
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in imported
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            bad.append(f"{node.value.id}.{node.attr}")
    return bad


@pytest.mark.parametrize("module", _modules())
def test_no_private_name_crosses_a_module_boundary(module):
    assert _private_uses(module) == []


def test_fabricating_functions_live_in_standins_only():
    pattern = re.compile(r"^def (make_(?!pipeline\b)\w+|standin_\w+|sample_folder)\(", re.M)  # make_pipeline: batches
    places = {p.stem: pattern.findall(p.read_text(encoding="utf-8")) for p in PKG.glob("*.py")}
    assert {m: f for m, f in places.items() if f and m != "standins"} == {}
    assert len(places["standins"]) >= 5


@pytest.mark.parametrize("module", _modules())
def test_all_lists_every_public_top_level_name(module):
    tree = ast.parse((PKG / f"{module}.py").read_text(encoding="utf-8"))
    public = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
              and not n.name.startswith("_")}
    exported: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            exported = set(ast.literal_eval(node.value))
    assert public - exported == set(), f"{module}.__all__ misses {sorted(public - exported)}"
    assert exported, f"{module} has no __all__"
    assigned = {name.id for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
                for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                for name in (t.elts if isinstance(t, ast.Tuple) else [t]) if isinstance(name, ast.Name)}
    missing = exported - public - assigned
    assert missing == set(), f"{module}.__all__ names things that do not exist: {sorted(missing)}"


def test_every_name_the_notebooks_call_exists_and_is_documented():
    import importlib

    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    doc = DOC.read_text(encoding="utf-8")
    used: set[tuple[str, str]] = set()
    for nb in notebooks.glob("*.py"):
        code = "\n".join(line for line in nb.read_text(encoding="utf-8").splitlines() if not line.startswith("#"))
        imported = set()
        for m in re.finditer(r"^from tlhelpers import (\([^)]*\)|.+)$", code, re.M):
            imported |= {x.strip() for x in m.group(1).strip("()").split(",") if x.strip()}
        for module in imported & set(TIER_OF):
            used |= {(module, name) for name in re.findall(rf"(?<![\w.]){module}\.([A-Za-z]\w*)", code)}
    assert len(used) > 50
    for module, name in sorted(used):
        assert hasattr(importlib.import_module(f"tlhelpers.{module}"), name), f"{module}.{name} does not exist"
        if module != "plots":  # the doc says plots.*
            assert f"`{module}.{name}`" in doc, f"docs/architecture.md does not list {module}.{name}"


def test_every_address_and_digest_is_written_once():
    """One registry of downloads (tlhelpers.downloads): an address or a SHA-256 written twice can drift apart."""
    found: dict[str, list[str]] = {}
    for path in sorted(PKG.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        for value in re.findall(r"https?://[^\s\"'`)<>]+|\b[0-9a-f]{64}\b", text):
            if "127.0.0.1" not in value and "<" not in value:
                found.setdefault(value.rstrip(".,;:"), []).append(path.stem)
    twice = {value: where for value, where in found.items() if len(where) > 1}
    assert not twice, f"written more than once (keep it in tlhelpers.downloads and read it from there): {twice}"
    assert any(v.startswith("https://download.mlcc.google.com/") for v in found)  # the scan sees the registry
