"""The lessons' setup cell: one repository address everywhere, and a clear sentence when installing fails."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("0*.py"))
REPO = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["urls"]["Source"]


def setup_cell(path: Path) -> str:
    cells = path.read_text(encoding="utf-8").split("\n# %%")
    found = [c.split("\n", 1)[1] for c in cells if "COURSE_REPO = " in c and not c.startswith(" [markdown]")]
    assert len(found) == 1, f"{path.name}: expected one setup cell naming COURSE_REPO"
    return found[0]


def test_every_lesson_has_the_same_setup_cell_naming_the_pyproject_repository():
    cells = {p.name: setup_cell(p) for p in LESSONS}
    assert len(set(cells.values())) == 1, "the setup cells drifted apart; copy one into the others"
    for name, cell in cells.items():
        assert f'COURSE_REPO = "{REPO}"' in cell, name


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name[:2])
def test_the_setup_cell_is_a_collapsed_form_on_colab(path):
    """Machinery out of sight: Colab shows a `@title` form cell as its title only (the code one double-click away)."""
    import nbformat

    notebook = nbformat.read(path.with_suffix(".ipynb"), as_version=4)
    cell = next(c for c in notebook.cells if c.cell_type == "code" and "COURSE_REPO = " in c.source)
    assert cell.metadata.get("cellView") == "form", f"{path.with_suffix('.ipynb').name}: the setup cell is not a form"
    assert re.match(r"# ?@title \S", cell.source), f"{path.name}: the setup cell's first line is not its @title"


@pytest.mark.parametrize("path", [ROOT / "README.md", *LESSONS], ids=lambda p: p.name)
def test_badges_point_at_the_course_repository(path):
    text = path.read_text(encoding="utf-8").split("## Sources")[0]  # the Sources section links other projects
    owner_repo = REPO.removeprefix("https://github.com/")
    mentioned = set(re.findall(r"github(?:\.com)?/([\w.-]+/[\w.-]+?)(?:/blob|\.git|\"|\)|$)", text))
    mentioned -= {"googlecolab/colabtools"}
    assert mentioned <= {owner_repo}, f"{path.name} names another repository: {mentioned - {owner_repo}}"
    if path.suffix == ".py":
        assert f"colab.research.google.com/github/{owner_repo}/blob/main/notebooks/{path.stem}.ipynb" in text
        assert f"src=https://github.com/{owner_repo}/blob/main/notebooks/{path.stem}.ipynb" in text


def run_cell(source: str, *, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run lesson 01's setup cell as Colab runs it, installing from ``source`` (TLH_INSTALL_FROM)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TLH_")}
    return subprocess.run([sys.executable, "-c", setup_cell(LESSONS[0])], capture_output=True, text=True,
                          env={**base, "TLH_INSTALL_FROM": source, **(env or {})}, timeout=timeout)


def checkout_copy(tmp_path: Path, **changes: str) -> Path:
    """A copy of this checkout's package (pyproject, README, src) with pyproject lines replaced."""
    target = tmp_path / "course"
    shutil.copytree(ROOT / "src", target / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "README.md", target / "README.md")
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for old, new in changes.items():
        assert old in text, old
        text = text.replace(old, new)
    (target / "pyproject.toml").write_text(text, encoding="utf-8")
    return target


def assert_one_sentence_cause(result: subprocess.CompletedProcess, source: str, cause: str, pip_says: str) -> None:
    """The cell fails with pip's own last lines on stdout and one sentence naming the cause as its error."""
    assert result.returncode != 0, result.stdout
    message = result.stderr.strip()
    assert "Traceback" not in message, message
    assert len(message.splitlines()) == 1, message
    assert message.startswith(f"Could not install tlhelpers from {source}: "), message
    assert cause in message, message
    assert "pip:" in result.stdout and re.search(pip_says, result.stdout), result.stdout


def test_setup_cell_names_a_missing_repository(tmp_path):
    source = f"file://{tmp_path}/no-such-repository"
    result = run_cell(source)
    assert_one_sentence_cause(result, source, "is not a repository or folder that exists", "No such file")
    assert "Internet" not in result.stderr  # the old cell's guess


def test_setup_cell_names_an_unsupported_python(tmp_path):
    course = checkout_copy(tmp_path, **{'requires-python = ">=3.11,<3.14"': 'requires-python = ">=3.99"'})
    result = run_cell(f"file://{course}")
    here = ".".join(map(str, sys.version_info[:3]))
    assert_one_sentence_cause(result, f"file://{course}", f"this runtime's Python {here} is outside the versions",
                              "requires a different Python")


def test_setup_cell_names_a_version_conflict(tmp_path):
    course = checkout_copy(tmp_path, **{'"keras>=3.13,<3.16",': '"keras>=3.13,<3.16", "keras<3",'})
    result = run_cell(f"file://{course}")
    assert_one_sentence_cause(result, f"file://{course}", "conflict with packages", "conflicting dependencies|"
                              "ResolutionImpossible")


def test_setup_cell_names_no_network(tmp_path):
    # No package index answers (a closed port on this machine), no local wheel folders, no pip configuration:
    # pip cannot fetch the build tools a source install needs, as on a notebook with its Internet off.
    course = checkout_copy(tmp_path)
    offline = {"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_RETRIES": "1",
               "PIP_DEFAULT_TIMEOUT": "5", "PIP_FIND_LINKS": "", "PIP_EXTRA_INDEX_URL": ""}
    result = run_cell(f"file://{course}", env=offline)
    assert_one_sentence_cause(result, f"file://{course}", "there is no network", "Connection refused|NewConnection")


def test_old_python_bound_would_refuse_the_runtimes_pythons():
    """The replicas' Pythons (Colab 3.13, Kaggle 3.12) are inside requires-python, and so is this one."""
    from packaging.specifiers import SpecifierSet

    spec = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    lists = sorted((ROOT / ".ci" / "runtimes").glob("*.txt"))
    assert lists, "no replica lists in .ci/runtimes"
    for path in lists:
        (python,) = re.findall(r"^# python: (\S+)", path.read_text(), re.M)
        assert f"{python}.0" in spec, f"{path.name}: Python {python} is outside requires-python {spec}"
    assert ".".join(map(str, sys.version_info[:3])) in spec


def test_setup_cell_does_nothing_outside_colab_and_kaggle():
    env = {k: v for k, v in os.environ.items() if k not in ("TLH_INSTALL_FROM", "KAGGLE_KERNEL_RUN_TYPE")}
    result = subprocess.run([sys.executable, "-c", setup_cell(LESSONS[0])], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == "", result.stderr


def test_setup_cell_on_a_tpu_runtime_says_to_switch_to_a_gpu_runtime_before_installing(tmp_path):
    result = run_cell(f"file://{tmp_path}/never-read", env={"TPU_ACCELERATOR_TYPE": "v5litepod-1"}, timeout=60)
    assert result.returncode != 0 and "pip:" not in result.stdout
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "TPU runtime" in message and "T4 GPU" in message, message
