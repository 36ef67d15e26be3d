"""The lessons' setup cell: one repository address everywhere, and a clear sentence when installing fails."""

from __future__ import annotations

import os
import re
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


@pytest.mark.parametrize("path", [ROOT / "README.md", *LESSONS], ids=lambda p: p.name)
def test_badges_point_at_the_course_repository(path):
    text = path.read_text(encoding="utf-8")
    owner_repo = REPO.removeprefix("https://github.com/")
    mentioned = set(re.findall(r"github(?:\.com)?/([\w.-]+/[\w.-]+?)(?:/blob|\.git|\"|\)|$)", text))
    mentioned -= {"googlecolab/colabtools"}
    assert mentioned <= {owner_repo}, f"{path.name} names another repository: {mentioned - {owner_repo}}"
    if path.suffix == ".py":
        assert f"colab.research.google.com/github/{owner_repo}/blob/main/notebooks/{path.stem}.ipynb" in text
        assert f"src=https://github.com/{owner_repo}/blob/main/notebooks/{path.stem}.ipynb" in text


def test_setup_cell_fails_with_one_sentence_when_the_repository_cannot_be_reached(tmp_path):
    code = setup_cell(LESSONS[0])
    env = {**os.environ, "TLH_INSTALL_FROM": f"file://{tmp_path}/no-such-repository",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    message = result.stderr.strip()
    assert "Traceback" not in message and "pip" not in message.split(":")[0]
    assert message.startswith("Could not install tlhelpers from file://"), message
    assert "Internet" in message and "run this cell again" in message
    assert len(message.splitlines()) == 1, message


def test_setup_cell_does_nothing_outside_colab_and_kaggle():
    env = {k: v for k, v in os.environ.items() if k not in ("TLH_INSTALL_FROM", "KAGGLE_KERNEL_RUN_TYPE")}
    result = subprocess.run([sys.executable, "-c", setup_cell(LESSONS[0])], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == "", result.stderr
