"""Every lesson, ``tlh train`` and ``tlh compare`` in the GPU-shaped rehearsal (one GPU, two GPUs), and every lesson
in smoke mode as ``tlh run --smoke`` runs it (the laptop tier: real files as a pre-filled cache, offline).

Which shapes run is ``TLH_TEST_SHAPES`` (comma-separated among ``smoke``, ``1gpu``, ``2gpu``; default
``1gpu,2gpu``); ``TLH_TEST_2GPU_LESSONS`` (default ``01,02,05,06,07``) the lessons whose 2gpu rehearsal runs;
``TLH_TEST_REHEARSE_LESSONS`` (lesson numbers, default all) picks the lessons
rehearsed, and ``TLH_TEST_REHEARSE_COMMANDS=0`` leaves out ``tlh train``/``tlh compare``. CI (.ci/run) splits
the rehearsal across the stacks so that each (lesson, shape) runs once: the Colab replica (.ci/runtimes/replica.sh)
runs every lesson in smoke mode and lessons 01, 05 in 1gpu, the Kaggle replica every lesson in smoke mode and
01, 05 in 2gpu, one at a time; the newest-pins environment lessons 02, 03, 04, 06 in 1gpu and 02, 06 in 2gpu, and
both commands. Every lesson in both shapes in the replicas did not fit CI's 70-minute budget on 2 cores (measured on
2026-12-03, see README "Supported versions"). On TensorFlow 2.20 (both replicas) the 1gpu rehearsal decides XLA as
one GPU does but compiles without it (:data:`tlhelpers.course.rehearsal.SLOW_CPU_XLA`).

The full-mode configuration of each lesson (backbones, hub contracts, image and
batch sizes, unfreeze points, strategy and precision code) runs on a CPU set
up as a Colab T4 (mixed precision, XLA as Keras decides on one GPU) and as a
Kaggle T4 x2 (two-replica MirroredStrategy). Only data, steps and weight
values are stand-ins. The stand-in weight files are laid out once per test
session in a cache of their own.

The lesson runs are subprocesses that spend much of their time in
single-threaded work (XLA compilation, graph tracing, Python), so they run two
at a time, in two lanes started by the session's first test (conftest.py puts
it first, and the tests that wait for the runs last, so the rest of the suite
runs beside the lanes); each lane has its own
cache (no two runs ever write the same stand-in file or data copy at once) and
each test waits for its own run. The lanes are balanced by measured run
times.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import laptop_tier_env

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted(p.stem for p in (ROOT / "notebooks").glob("0*.ipynb"))
KNOWN_SHAPES = ("smoke", "1gpu", "2gpu")
SHAPES = [s.strip() for s in os.environ.get("TLH_TEST_SHAPES", "1gpu,2gpu").split(",") if s.strip()]
if set(SHAPES) - set(KNOWN_SHAPES):
    raise ValueError(f"TLH_TEST_SHAPES={os.environ['TLH_TEST_SHAPES']!r}: use some of {', '.join(KNOWN_SHAPES)}")
REHEARSED = [n.strip() for n in os.environ.get("TLH_TEST_REHEARSE_LESSONS", "01,02,03,04,05,06,07").split(",")]
#: Lessons whose 2gpu rehearsal runs. CI (.ci/run) runs 07's since its heads on cached features no longer train
#: mirrored: 136 s alone on 2 cores (2026-12-04; 323 s before). 03 and 04 are left out by default to keep CI within
#: its budget on 2 cores
#: (with all twelve rehearsal runs CI took over 80 minutes, in the newest pins on 408f2cc and again with the
#: shapes in the replicas on 2026-12-03): their 2gpu code paths, every
#: comparison candidate built and compiled in a two-replica strategy and fit_two_phase under it, are the unit tests
#: tests/test_rehearsal.py::test_compare_builds_every_candidate_in_the_strategy and
#: ::test_two_replicas_fit_two_phase_builds_and_compiles_in_scope; `tlh run 3 --rehearse 2gpu` runs them by hand.
TWO_GPU = [n.strip() for n in os.environ.get("TLH_TEST_2GPU_LESSONS", "01,02,05,06,07").split(",")]
COMMANDS = os.environ.get("TLH_TEST_REHEARSE_COMMANDS", "1").strip() != "0"
#: (lesson, shape) runs: every lesson in smoke, the rehearsed lessons in each rehearsal shape
RUNS = [(lesson, shape) for lesson in LESSONS for shape in SHAPES
        if shape == "smoke" or (lesson[:2] in REHEARSED and (shape != "2gpu" or lesson[:2] in TWO_GPU))]
pytestmark = [pytest.mark.rehearsal, pytest.mark.slow,
              pytest.mark.skipif(not SHAPES, reason="TLH_TEST_SHAPES is empty here: CI runs these shapes in the "
                                 "Colab and Kaggle replicas (.ci/run)")]


@pytest.fixture(scope="session")
def rehearsal_env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("rehearsal-cache")
    env = {**os.environ, "TLH_CACHE_DIR": str(cache), "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    env.pop("TLH_SMOKE", None)
    return env, cache


def tlh(args: list[str], env: dict, *, timeout: int = 3000) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tlhelpers.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def _lanes() -> list[list[tuple[str, str]]]:
    """Split the (lesson, shape) runs into lanes of similar total time, heaviest first (``TLH_TEST_LANES``, 2)."""
    # seconds, both shapes, from the CI run of a04797f (one at a time); 06 from `tlh run 6 --rehearse`; 07 (the
    # routes, KerasHub with a full-size ResNet-50 stand-in) from `tlh run 7 --rehearse 1gpu|2gpu` on 2026-12-04:
    # 90 s (beside a test run) + 136 s (alone); 03 (the TF tutorial's MobileNetV2 instead of VGG16) 190 s + 174 s,
    # one at a time on 2026-12-04; 02 without its former Part 3: 23 s in 1gpu (beside a test run) + 28 s; smoke
    # runs from the laptop-tier runs in the README (41 s and 53 s for 02 and 07, 2026-12-04)
    rehearsed = {"04": 748, "03": 364, "06": 414, "05": 167, "07": 226, "02": 51, "01": 75}
    smoke = {"04": 138, "03": 215, "06": 90, "05": 46, "07": 53, "02": 41, "01": 12}

    def weight(run: tuple[str, str]) -> float:
        key = run[0][:2]
        return smoke.get(key, 100) if run[1] == "smoke" else rehearsed.get(key, 200) / 2

    # both rehearsal shapes of a lesson share a lane (and its stand-in weights); a smoke run goes on its own
    units = [[r for r in RUNS if r[0] == lesson and r[1] != "smoke"] for lesson in LESSONS]
    units += [[r] for r in RUNS if r[1] == "smoke"]
    count = max(1, int(os.environ.get("TLH_TEST_LANES", "2")))
    lanes: list[list[tuple[str, str]]] = [[] for _ in range(count)]
    load = [0.0] * count
    for unit in sorted((u for u in units if u), key=lambda u: -sum(map(weight, u))):
        lane = load.index(min(load))
        lanes[lane] += unit
        load[lane] += sum(map(weight, unit))
    return lanes


@pytest.fixture(scope="session")
def lesson_runs(rehearsal_env, tmp_path_factory, request):
    """Start every selected lesson rehearsal once, in two lanes; ``{(lesson, shape): Future}``."""
    env, _ = rehearsal_env
    selected = {(item.callspec.params["lesson"], item.callspec.params["shape"]) for item in request.session.items
                if getattr(item, "originalname", "") == "test_lesson_runs_in_full_configuration"}
    futures: dict[tuple[str, str], Future] = {}
    pool = ThreadPoolExecutor(max_workers=len(_lanes()), thread_name_prefix="rehearsal-lane")

    def run_lane(jobs: list[tuple[str, str]], cache: Path, mine: dict[tuple[str, str], Future]) -> None:
        lane_env = {**env, "TLH_CACHE_DIR": str(cache)}
        for lesson, shape in jobs:
            if mine[(lesson, shape)].cancelled():
                continue
            shutil.rmtree(cache / "rehearsal" / "compare", ignore_errors=True)  # lesson 04 resumes finished runs
            out = tmp_path_factory.mktemp(f"run-{lesson[:2]}-{shape}")
            start = time.monotonic()
            try:
                if shape == "smoke":  # a cache of its own: never a rehearsal stand-in file where smoke mode looks
                    shutil.rmtree(cache / "smoke" / "cache" / "compare", ignore_errors=True)
                    smoke_env = {**{k: v for k, v in env.items() if not k.startswith("TLH_")},
                                 **laptop_tier_env(cache / "smoke", _assets())}
                    result = tlh(["run", lesson[:2], "--smoke", "--runs-dir", str(out)], smoke_env)
                else:
                    result = tlh(["run", lesson[:2], "--rehearse", shape, "--runs-dir", str(out)], lane_env)
                # lesson 04's comparison is read now: the lane's next run starts by removing it
                table = cache / "rehearsal" / "compare" / "lesson04_rehearsal" / "comparison.json"
                rows = json.loads(table.read_text()) if lesson.startswith("04") and table.is_file() else None
                mine[(lesson, shape)].set_result((result, out, rows, time.monotonic() - start))
            except Exception as exc:  # noqa: BLE001 - the test reports it
                mine[(lesson, shape)].set_exception(exc)

    for i, lane in enumerate(_lanes()):
        jobs = [job for job in lane if job in selected]
        mine = {job: Future() for job in jobs}
        futures.update(mine)
        pool.submit(run_lane, jobs, tmp_path_factory.mktemp(f"rehearsal-lane{i}-cache"), mine)
    yield futures
    for future in futures.values():
        future.cancel()
    pool.shutdown(wait=True)


def test_the_lesson_runs_start_with_the_session(lesson_runs):
    """Start the lanes (conftest.py runs this test first and the lesson checks last), so the lesson runs go on
    beside the unit tests and the notebooks instead of after them."""
    assert lesson_runs and all(isinstance(f, Future) for f in lesson_runs.values())


@pytest.mark.parametrize(("lesson", "shape"), RUNS)
def test_lesson_runs_in_full_configuration(lesson, shape, lesson_runs):
    result, out, rows, seconds = lesson_runs[(lesson, shape)].result(timeout=4800)
    print(f"{lesson} rehearsal {shape}: {seconds:.0f} s (beside another lane)")
    summaries = list(out.glob("*/summary.json"))
    assert summaries, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(summaries[0].read_text())
    assert summary["run"]["mode"] == ("smoke" if shape == "smoke" else f"rehearsal-{shape}")
    (entry,) = summary["lessons"]
    assert entry["status"] == "passed", f"{lesson} failed at cell {entry['failed_cell']}: {entry['error']}"
    executed = Path(entry["executed"]).read_text(encoding="utf-8")
    if shape == "smoke":  # the laptop tier: every file is real but CIFAR-10 (not among the offline assets)
        generated = re.findall(r"  ([^\"\\]+?): NOT AVAILABLE, generated stand-in instead", executed)
        assert all("CIFAR-10" in what for what in generated), f"{lesson} ran on generated {generated}"
        assert "Real data:" in executed or lesson.startswith("01"), f"{lesson} printed no real files"
        return
    assert f"REHEARSAL {shape}" in executed  # the kernel really was set up as that runtime
    if shape == "1gpu":  # TensorFlow 2.20 (the replicas): XLA decided, compiled without it, and said so
        from tlhelpers.course import rehearsal

        assert ("compiled without XLA" in executed) == rehearsal.cpu_xla_is_slow()
    if lesson.startswith("04"):
        assert rows is not None, "lesson 04 wrote no comparison.json in the rehearsal cache"
        failed = {r["name"]: r["error"] for r in rows if r["status"] != "ok"}
        assert not failed, failed  # compare records failures and goes on; the rehearsal must not
        assert len(rows) == 9


@pytest.fixture(scope="session")
def small_folder(tmp_path_factory):
    from tlhelpers.course import config
    from tlhelpers.course.standins import sample_folder

    assets = config.assets_dir()
    target = tmp_path_factory.mktemp("photos") / "pets"
    if assets is not None and (assets / "cats_and_dogs_filtered").is_dir():
        return sample_folder(assets / "cats_and_dogs_filtered" / "train", target, per_class=12)
    from tlhelpers.course.standins import make_synthetic_folder

    return make_synthetic_folder(target, per_class=12) / "train"


def _assets() -> Path:
    from tlhelpers.course import config

    assets = config.assets_dir()
    if assets is None:
        pytest.fail("the smoke shape runs on the real offline assets: put them at ../shared/assets or TLH_ASSETS_DIR")
    return assets


# The library code behind both commands (fit_two_phase, compare) runs in both shapes in lessons 04 and 05;
# the commands themselves run once each, in the shape that stresses them most.
if ("1gpu" in SHAPES and COMMANDS) or not SHAPES:  # defined only where its shape runs (a replica runs one shape)
    @pytest.mark.parametrize("shape", ["1gpu"])
    def test_tlh_train_full_defaults(shape, rehearsal_env, small_folder, tmp_path):
        env, _ = rehearsal_env
        env = {**env, "TLH_REHEARSE": shape}
        out = tmp_path / "model.keras"
        result = tlh(["train", str(small_folder), "--epochs", "1", "--fine-tune-epochs", "1", "--out", str(out)],
                     env)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert f"REHEARSAL {shape}" in result.stdout
        report = json.loads(out.with_suffix(".report.json").read_text())
        settings = report["settings"]
        assert settings["backbone"] == "MobileNetV2" and settings["image_size"] == 224  # full defaults


if ("2gpu" in SHAPES and COMMANDS) or not SHAPES:  # defined only where its shape runs (a replica runs one shape)
    @pytest.mark.parametrize("shape", ["2gpu"])
    def test_tlh_compare_full_candidates(shape, rehearsal_env, small_folder, tmp_path):
        env, _ = rehearsal_env
        env = {**env, "TLH_REHEARSE": shape}
        result = tlh(["compare", "--data", str(small_folder), "--backbones", "EfficientNetV2B0,MobileNetV2,scratch",
                      "--epochs", "1", "--fine-tune-epochs", "1", "--out", str(tmp_path / "cmp")], env)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        rows = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
        assert {r["name"]: r["status"] for r in rows} == {"EfficientNetV2B0": "ok", "MobileNetV2": "ok",
                                                          "scratch": "ok"}
