"""Every lesson, ``tlh train`` and ``tlh compare`` in the GPU-shaped rehearsal (one GPU, two GPUs).

The full-mode configuration of each lesson (backbones, hub contracts, image and
batch sizes, unfreeze points, strategy and precision code) runs on a CPU set
up as a Colab T4 (mixed precision, XLA as Keras decides on one GPU) and as a
Kaggle T4 x2 (two-replica MirroredStrategy). Only data, steps and weight
values are stand-ins. The stand-in weight files are laid out once per test
session in a cache of their own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted(p.stem for p in (ROOT / "notebooks").glob("0*.ipynb"))
SHAPES = ["1gpu", "2gpu"]
pytestmark = [pytest.mark.rehearsal, pytest.mark.slow]


@pytest.fixture(scope="session")
def rehearsal_env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("rehearsal-cache")
    env = {**os.environ, "TLH_CACHE_DIR": str(cache), "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    env.pop("TLH_SMOKE", None)
    return env, cache


def tlh(args: list[str], env: dict, *, timeout: int = 1500) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tlhelpers.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_runs_in_full_configuration(lesson, shape, rehearsal_env, tmp_path):
    env, cache = rehearsal_env
    shutil.rmtree(cache / "rehearsal" / "compare", ignore_errors=True)  # lesson 04 resumes finished candidates
    result = tlh(["run", lesson[:2], "--rehearse", shape, "--runs-dir", str(tmp_path)], env)
    summaries = list(tmp_path.glob("*/summary.json"))
    assert summaries, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(summaries[0].read_text())
    assert summary["run"]["mode"] == f"rehearsal-{shape}"
    (entry,) = summary["lessons"]
    assert entry["status"] == "passed", f"{lesson} failed at cell {entry['failed_cell']}: {entry['error']}"
    executed = Path(entry["executed"]).read_text(encoding="utf-8")
    assert f"REHEARSAL {shape}" in executed  # the kernel really was set up as that runtime
    if lesson.startswith("04"):
        rows = json.loads((cache / "rehearsal" / "compare" / "lesson04_rehearsal" / "comparison.json").read_text())
        failed = {r["name"]: r["error"] for r in rows if r["status"] != "ok"}
        assert not failed, failed  # compare records failures and goes on; the rehearsal must not
        assert len(rows) == 9


@pytest.fixture(scope="session")
def small_folder(tmp_path_factory):
    from tlhelpers import config
    from tlhelpers.standins import sample_folder

    assets = config.assets_dir()
    target = tmp_path_factory.mktemp("photos") / "pets"
    if assets is not None and (assets / "cats_and_dogs_filtered").is_dir():
        return sample_folder(assets / "cats_and_dogs_filtered" / "train", target, per_class=12)
    from tlhelpers.standins import make_synthetic_folder

    return make_synthetic_folder(target, per_class=12) / "train"


# The library code behind both commands (fit_two_phase, compare) runs in both shapes in lessons 04 and 05;
# the commands themselves run once each, in the shape that stresses them most.
@pytest.mark.parametrize("shape", ["1gpu"])
def test_tlh_train_full_defaults(shape, rehearsal_env, small_folder, tmp_path):
    env, _ = rehearsal_env
    env = {**env, "TLH_REHEARSE": shape}
    out = tmp_path / "model.keras"
    result = tlh(["train", str(small_folder), "--epochs", "1", "--fine-tune-epochs", "1", "--out", str(out)], env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"REHEARSAL {shape}" in result.stdout
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["settings"]["backbone"] == "MobileNetV2" and report["settings"]["image_size"] == 224  # full defaults


@pytest.mark.parametrize("shape", ["2gpu"])
def test_tlh_compare_full_candidates(shape, rehearsal_env, small_folder, tmp_path):
    env, _ = rehearsal_env
    env = {**env, "TLH_REHEARSE": shape}
    result = tlh(["compare", "--data", str(small_folder), "--backbones", "EfficientNetV2B0,MobileNetV2,scratch",
                  "--epochs", "1", "--fine-tune-epochs", "1", "--out", str(tmp_path / "cmp")], env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert {r["name"]: r["status"] for r in rows} == {"EfficientNetV2B0": "ok", "MobileNetV2": "ok", "scratch": "ok"}
