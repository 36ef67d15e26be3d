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

#: tier -> modules; the order of docs/architecture.md, bottom (0) to top. Three floors: the learner helpers
#: (``tlhelpers.<room>``), the course machinery (``tlhelpers.course.<room>``) and the command line
#: (``tlhelpers.cli.<room>``); :data:`FLOORS` says which floor may import which.
TIERS: dict[int, tuple[str, ...]] = {
    0: ("atomic", "data", "downloads", "kerascompat", "course.config", "course.report"),
    1: ("features", "squeezenet", "course.realfiles", "course.standins", "course.rehearsal"),
    2: ("course.sources",),
    3: ("backbones", "tfhub", "kerashub", "datasets", "folders"),
    4: ("layers",),
    5: ("models",),
    6: ("training", "evaluate", "explain"),
    7: ("compare", "recipes", "export", "demo", "course"),
    8: ("plots",),
    9: ("cli.prefetch", "cli.runner"),
    10: ("cli.commands",),
    11: ("cli", "cli.__main__"),
}
TIER_OF = {m: t for t, mods in TIERS.items() for m in mods}

#: floor -> what its modules may import from the other floors (beside the tier rule).
#: The learner helpers reach the course machinery only through ``course.sources``, the one place
#: that decides where a file, weights or the hardware come from; nothing below the command line imports it.
FLOORS = {
    "learner": {"learner", "course.sources"},
    "course": {"learner", "course"},
    "cli": {"learner", "course", "cli"},
}


def _floor(module: str) -> str:
    return module.split(".")[0] if module.split(".")[0] in ("course", "cli") else "learner"


def _path(module: str) -> Path:
    parts = module.split(".")
    if (PKG.joinpath(*parts) / "__init__.py").is_file():
        return PKG.joinpath(*parts) / "__init__.py"
    return PKG.joinpath(*parts[:-1], parts[-1] + ".py")


def _is_module(dotted: str) -> bool:
    return bool(dotted) and _path(dotted).is_file()


def _modules() -> list[str]:
    found = []
    for p in PKG.rglob("*.py"):
        rel = p.relative_to(PKG).with_suffix("").parts
        if rel == ("__init__",) or "__pycache__" in rel:
            continue
        found.append(".".join(rel[:-1]) if rel[-1] == "__init__" else ".".join(rel))
    return sorted(found)


def _imports(module: str) -> set[str]:
    """Return the tlhelpers modules ``module`` imports anywhere (top level, functions, TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(_path(module).read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and (node.module + ".").startswith("tlhelpers."):
            base = node.module[len("tlhelpers."):]
            for alias in node.names:
                sub = f"{base}.{alias.name}" if base else alias.name
                if _is_module(sub):
                    found.add(sub)
                elif base:
                    found.add(base)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tlhelpers."):
                    parts = alias.name.split(".")[1:]
                    found.add(next(".".join(parts[:n]) for n in range(len(parts), 0, -1)
                                   if _is_module(".".join(parts[:n]))))
    found.discard(module)
    return found


def test_every_module_has_a_tier_and_a_line_in_the_docs():
    assert sorted(TIER_OF) == _modules(), "place each new module in TIERS and in docs/architecture.md"
    doc = DOC.read_text(encoding="utf-8")
    package_doc = ast.get_docstring(ast.parse((PKG / "__init__.py").read_text(encoding="utf-8"))) or ""
    for module in _modules():
        assert f"`{module}`" in doc, f"docs/architecture.md does not describe {module}"
        floor_doc = package_doc if "." not in module else ast.get_docstring(ast.parse(
            _path(module.split(".")[0]).read_text(encoding="utf-8"))) or ""
        short = module.split(".")[-1] if "." in module else module
        assert re.search(rf"^\s+{re.escape(short)}:", floor_doc, re.M) or module in ("course", "cli", "cli.__main__"), (
            f"the docstring of {module}'s package does not list it")
    for tier, modules in TIERS.items():
        assert re.search(rf"^\| {tier} \| " + ", ".join(f"`{m}`" for m in modules) + r" \|", doc, re.M), (
            f"docs/architecture.md's table row for tier {tier} differs from TIERS")


@pytest.mark.parametrize("module", _modules())
def test_imports_only_go_down(module):
    upward = {m: TIER_OF[m] for m in _imports(module) if TIER_OF[m] >= TIER_OF[module]}
    assert not upward, (f"{module} (tier {TIER_OF[module]}) imports {upward}: same or higher tier. Move the "
                        "shared code down, or pass it in as an argument.")


@pytest.mark.parametrize("module", _modules())
def test_floors_import_only_what_they_may(module):
    allowed = FLOORS[_floor(module)]
    wrong = sorted(m for m in _imports(module) if _floor(m) not in allowed and m not in allowed)
    assert not wrong, (f"{module} ({_floor(module)} floor) imports {wrong}. A learner helper asks "
                       "tlhelpers.course.sources where things come from; it never imports the course's "
                       "machinery or the command line.")


#: What only the course machinery may say: the mode switches and the "generated" marks.
MACHINERY_CALLS = re.compile(r"\b(smoke_mode|rehearsal|offline_sources|note_generated|new_data_section|"
                             r"meaningless_now)\(")


@pytest.mark.parametrize("module", [m for m in _modules() if _floor(m) == "learner"])
def test_learner_helpers_never_branch_on_the_mode(module):
    code = "\n".join(line for line in _path(module).read_text(encoding="utf-8").splitlines()
                     if not line.lstrip().startswith("#"))
    assert not MACHINERY_CALLS.findall(code), (
        f"{module} calls {sorted(set(MACHINERY_CALLS.findall(code)))}: ask tlhelpers.course.sources instead")


def test_the_checker_sees_function_level_and_upward_imports(tmp_path, monkeypatch):
    """The import walk must see imports inside functions, or the direction test could not fail."""
    fake = tmp_path / "tlhelpers"
    (fake / "course").mkdir(parents=True)
    (fake / "cli").mkdir()
    (fake / "cli" / "__init__.py").write_text("")
    (fake / "models.py").write_text("")
    (fake / "course" / "config.py").write_text(
        "def f():\n    from tlhelpers import cli\n    import tlhelpers.models\n    from tlhelpers.course import x\n")
    monkeypatch.setattr(f"{__name__}.PKG", fake)
    assert _imports("course.config") == {"cli", "models", "course"}
    wrong = sorted(m for m in _imports("course.config") if _floor(m) not in FLOORS["course"])
    assert wrong == ["cli"]


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
    tree = ast.parse(_path(module).read_text(encoding="utf-8"))
    imported: set[str] = set()
    bad: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tlhelpers"):
            if node.module in ("tlhelpers", "tlhelpers.course", "tlhelpers.cli"):
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
    places = {p.stem: pattern.findall(p.read_text(encoding="utf-8")) for p in PKG.rglob("*.py")}
    assert {m: f for m, f in places.items() if f and m != "standins"} == {}
    assert len(places["standins"]) >= 5


@pytest.mark.parametrize("module", _modules())
def test_all_lists_every_public_top_level_name(module):
    if module == "cli.__main__":
        return
    tree = ast.parse(_path(module).read_text(encoding="utf-8"))
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
    imported = {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
    missing = exported - public - assigned - imported
    assert missing == set(), f"{module}.__all__ names things that do not exist: {sorted(missing)}"


def test_every_name_the_notebooks_call_exists_and_is_documented():
    import importlib

    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    doc = DOC.read_text(encoding="utf-8")
    used: set[tuple[str, str]] = set()
    for nb in notebooks.glob("*.py"):
        code = "\n".join(line for line in nb.read_text(encoding="utf-8").splitlines() if not line.startswith("#"))
        imported = set()
        for m in re.finditer(r"^from tlhelpers(\.course|\.cli)? import (\([^)]*\)|.+)$", code, re.M):
            prefix = m.group(1)[1:] + "." if m.group(1) else ""
            imported |= {prefix + x.strip() for x in m.group(2).strip("()").split(",") if x.strip()}
        for module in imported & set(TIER_OF):
            short = module.split(".")[-1]
            used |= {(module, name) for name in re.findall(rf"(?<![\w.]){short}\.([A-Za-z]\w*)", code)}
    assert len(used) > 50
    for module, name in sorted(used):
        assert hasattr(importlib.import_module(f"tlhelpers.{module}"), name), f"{module}.{name} does not exist"
        if module != "plots":  # the doc says plots.*
            module = module.split(".")[-1]
            assert f"`{module}.{name}`" in doc, f"docs/architecture.md does not list {module}.{name}"


def test_every_address_and_digest_is_written_once():
    """One registry of downloads (tlhelpers.downloads): an address or a SHA-256 written twice can drift apart."""
    found: dict[str, list[str]] = {}
    for path in sorted(PKG.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for value in re.findall(r"https?://[^\s\"'`)<>]+|\b[0-9a-f]{64}\b", text):
            if "127.0.0.1" not in value and "<" not in value:
                found.setdefault(value.rstrip(".,;:"), []).append(path.stem)
    twice = {value: where for value, where in found.items() if len(where) > 1}
    assert not twice, f"written more than once (keep it in tlhelpers.downloads and read it from there): {twice}"
    assert any(v.startswith("https://download.mlcc.google.com/") for v in found)  # the scan sees the registry
