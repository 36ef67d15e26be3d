"""The README's main command (``tlh run --smoke``) offline, in its two situations.

1. The real files only as a pre-filled course cache (``<cache>/assets``), no assets folder the lessons could find
   on their own, no network: the lessons run on real photos and real ImageNet weights and tell the course's story.
2. No network and no cache: the lessons still complete, on generated data, and say so first; the summary marks
   every metric meaningless.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tlhelpers import config, report

ASSETS = config.assets_dir()


def _tlh_run(tmp_path: Path, lessons: list[str], *, prefilled: bool) -> tuple[dict, str, Path]:
    cache = tmp_path / "cache"
    cache.mkdir()
    empty = tmp_path / "no_assets_here"
    empty.mkdir()
    if prefilled:
        (cache / "assets").symlink_to(ASSETS, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLH_")}
    env.update(TLH_CACHE_DIR=str(cache), TLH_ASSETS_DIR=str(empty), TLH_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="3")
    runs = tmp_path / "runs"
    result = subprocess.run([sys.executable, "-m", "tlhelpers.cli", "run", *lessons, "--smoke", "--runs-dir",
                             str(runs)], env=env, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (summary,) = runs.glob("*/summary.json")
    return json.loads(summary.read_text()), summary.with_suffix(".md").read_text(), summary.parent


def _first_stdout(executed: Path) -> str:
    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                return "".join(out["text"])
    return ""


@pytest.mark.skipif(ASSETS is None, reason="needs the offline assets (../shared/assets) to pre-fill the cache")
def test_prefilled_cache_gives_real_numbers_that_tell_the_story(tmp_path: Path):
    summary, md, out = _tlh_run(tmp_path, ["3", "4", "5"], prefilled=True)
    by = {r["lesson"][:2]: r for r in summary["lessons"]}
    for key in ("03", "04", "05"):
        assert by[key]["status"] == "passed"
        first = _first_stdout(out / f"{by[key]['lesson']}.ipynb").splitlines()
        if key == "03":  # CIFAR-10 is not among the assets: said first, and only about CIFAR-10
            assert first[0].startswith("GENERATED DATA: CIFAR-10") and "cats_and_dogs" not in first[0], first[:2]
            assert first[1].startswith("Real data: cats_and_dogs_filtered"), first[:2]
        else:
            assert first[0].startswith("Real data: every file"), first[:2]
    m3, m4, m5 = by["03"]["metrics"], by["04"]["metrics"], by["05"]["metrics"]
    # Lesson 03: real photos, real weights. Only its CIFAR-10 part (not in the assets) is generated and marked.
    assert by["03"]["meaningless"] == ["cifar10_test_accuracy"], by["03"]
    assert m3["frozen_val_accuracy"] >= 0.90, m3
    assert m3["fine_tuned_val_accuracy"] >= m3["frozen_val_accuracy"] - 0.02, m3
    assert m3["probe_accuracy_preprocessed_once"] > m3["probe_accuracy_preprocessed_twice"], m3
    # Lesson 04: every pretrained candidate at least 20 points above the scratch CNN.
    assert not by["04"]["generated"] and not by["05"]["generated"]
    pretrained = {k: v for k, v in m4.items() if k.startswith("val_accuracy_") and k != "val_accuracy_scratch"}
    assert len(pretrained) == 2
    for name, value in pretrained.items():
        assert value >= m4["val_accuracy_scratch"] + 0.20, (name, m4)
    # Lesson 05: the held-out test split.
    assert m5["test_accuracy"] >= 0.85, m5
    assert md.count(f"({report.MEANINGLESS})") == 1, md


def test_no_network_no_cache_runs_on_generated_data_and_says_so(tmp_path: Path):
    lessons = ["1", "5"]
    summary, md, out = _tlh_run(tmp_path, lessons, prefilled=False)
    assert len(summary["lessons"]) == len(lessons)
    for r in summary["lessons"]:
        assert r["status"] == "passed", r
        assert r["generated"], r
        assert r["metrics"] and set(r["meaningless"]) == set(r["metrics"]), r  # every metric marked
        first = _first_stdout(out / f"{r['lesson']}.ipynb")
        assert first.startswith("GENERATED DATA") and "meaningless" in first, first[:300]
        row = next(line for line in md.splitlines() if line.startswith(f"| {r['lesson']} "))
        assert row.count(f"({report.MEANINGLESS})") == len(r["metrics"]), row
    assert "every metric logged after it is marked meaningless" in md
