"""The README's main command (``tlh run --smoke``) offline, in its two situations.

The first situation is the one nbval runs the notebooks in (conftest.py): when pytest runs the notebooks too, the
check reads the metrics their kernels wrote instead of running lessons 03-06 a second time.

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

from tlhelpers.course import config, realfiles, report

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


LATE = ["03", "04", "05", "06"]


def _lesson_metrics(request, tmp_path: Path, said: dict[str, list[str]]) -> tuple[dict[str, dict], str]:
    """Each lesson's metrics file: those the nbval kernels wrote in this session, else from a `tlh run` of our own."""
    import conftest

    ran = {Path(str(i.fspath)).stem[:2] for i in request.session.items if str(i.fspath).endswith(".ipynb")}
    if set(LATE) <= ran:
        files = {key: next(conftest.NBVAL_METRICS.glob(f"{key}_*.json"), None) for key in LATE}
        missing = [k for k, f in files.items() if f is None]
        assert not missing, f"the notebooks of lessons {missing} wrote no metrics under nbval: see their failures"
        return {k: report.read_metrics(f) for k, f in files.items()}, "nbval"
    summary, _, out = _tlh_run(tmp_path, [k.lstrip("0") for k in LATE], prefilled=True)
    by = {}
    for r in summary["lessons"]:
        assert r["status"] == "passed", r
        first = _first_stdout(out / f"{r['lesson']}.ipynb").splitlines()
        assert first[0] == said[r["lesson"][:2]][0], (first[:2], said[r["lesson"][:2]])  # the lesson said it first
        by[r["lesson"][:2]] = {**r["metrics"], report.GENERATED_KEY: r["generated"],
                               report.MEANINGLESS_KEY: r["meaningless"]}
    return by, "tlh run"


@pytest.mark.after_notebooks
@pytest.mark.usefixtures("assets_root")
def test_prefilled_cache_gives_real_numbers_that_tell_the_story(request, tmp_path: Path, monkeypatch):
    import conftest

    # What each lesson says first, in the laptop tier's environment: real data, except lesson 03's CIFAR-10 part.
    for key, value in conftest.laptop_tier_env(tmp_path / "said", ASSETS).items():
        monkeypatch.setenv(key, value)
    said = {key: realfiles.prepare(int(key)).splitlines() for key in LATE}
    assert said["03"][0].startswith("GENERATED DATA: CIFAR-10") and "cats_and_dogs" not in said["03"][0], said["03"]
    assert said["03"][1].startswith("Real data: cats_and_dogs_filtered"), said["03"]
    for key in ("04", "05", "06"):
        assert said[key][0].startswith("Real data: every file"), said[key]

    by, source = _lesson_metrics(request, tmp_path, said)
    print(f"\nlesson metrics from {source}: " + "; ".join(f"{k}: {v}" for k, v in by.items()))
    m3, m4, m5, m6 = by["03"], by["04"], by["05"], by["06"]
    # Lesson 03: real photos, real weights. Only its CIFAR-10 part (not in the assets) is generated and marked.
    assert m3.get(report.MEANINGLESS_KEY) == ["cifar10_test_accuracy"], m3
    assert m3["frozen_val_accuracy"] >= 0.90, m3
    assert m3["fine_tuned_val_accuracy"] >= m3["frozen_val_accuracy"] - 0.02, m3
    assert m3["probe_accuracy_preprocessed_once"] > m3["probe_accuracy_preprocessed_twice"], m3
    # Lesson 04: every pretrained candidate at least 15 points above the scratch CNN. Measured margins on 100
    # validation photos: 22, 22 and 19 points for SqueezeNet (scratch 62 %, 62 %, 65 %: the scratch CNN moves by a
    # few photos between runs on CPU threads), 28 and more for MobileNetV2-0.35 (2026-11-23 and 2026-12-03 CI).
    for m in (m4, m5, m6):
        assert not m.get(report.GENERATED_KEY) and not m.get(report.MEANINGLESS_KEY), m
    pretrained = {k: v for k, v in m4.items() if k.startswith("val_accuracy_") and k != "val_accuracy_scratch"}
    assert len(pretrained) == 2
    for name, value in pretrained.items():
        assert value >= m4["val_accuracy_scratch"] + 0.15, (name, m4)
    # Lesson 05: the held-out test split.
    assert m5["test_accuracy"] >= 0.85, m5
    # Lesson 06: the same recipe in one call; float32 exports agree with the Keras model on every test photo.
    assert m6["test_accuracy"] >= 0.85, m6
    assert m6["agreement_saved_model"] == 1.0 and m6["agreement_litert"] == 1.0, m6
    assert m6["agreement_litert_dynamic"] >= 0.95, m6


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
