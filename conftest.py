"""Test-session setup: the test suite always runs the lessons in smoke mode.

Set here, before any kernel starts, so `pytest` (unit tests and `--nbval-lax`
over notebooks/) is offline and fast. Export TLH_SMOKE=0 to run the notebooks
in full mode under nbval instead.

The notebooks run in the README's main situation, the laptop tier: when the
real offline assets exist, each nbval kernel sees them only as a pre-filled
course cache (``<cache>/assets``), with no assets folder of its own and no
network. Each lesson's metrics go to ``NBVAL_METRICS/<notebook>.json``;
``tests/test_laptop_tier.py`` checks them after the notebooks ran (it runs
the lessons itself when pytest was not asked to run the notebooks).
"""

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TLH_SMOKE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


import pytest

#: Where the nbval kernels write their lessons' metrics (one JSON file per notebook).
NBVAL_METRICS = Path(tempfile.mkdtemp(prefix="tlh-nbval-metrics-"))
_kernel_env: dict[str, str] = {}
_current_notebook: list[str] = []
#: What the notebook kernels' environment replaced, to put back for the tests after them (None: was unset).
_saved_environ: dict[str, str | None] = {}


#: Set by CI (.ci/run): a test that needs a missing offline asset fails instead of skipping.
REQUIRE_ASSETS_ENV = "TLH_REQUIRE_ASSETS"


def real_asset(relative: str) -> Path:
    """Return an offline asset's path (``../shared/assets/<relative>`` or under ``TLH_ASSETS_DIR``).

    The one way a test reaches the real assets. Missing, the test is skipped with the reason on a developer's
    machine, and fails in CI (``TLH_REQUIRE_ASSETS=1``), so CI can never go green with its real-data tests skipped.
    """
    from tlhelpers.course import config as tlh_config

    try:
        return tlh_config.require_asset(relative)
    except FileNotFoundError as exc:
        if os.environ.get(REQUIRE_ASSETS_ENV, "").strip() == "1":
            pytest.fail(f"{REQUIRE_ASSETS_ENV}=1 and a real offline asset is missing: {exc}", pytrace=False)
        pytest.skip(f"real offline assets absent: {exc}")


@pytest.fixture
def assets_root() -> Path:
    """Return the offline assets folder, through :func:`real_asset` (skipped without it; failed in CI)."""
    return real_asset(".")


def laptop_tier_env(root: Path, assets: Path) -> dict[str, str]:
    """Return the laptop tier's environment under ``root``: the assets as a pre-filled cache, nothing else."""
    cache, empty = root / "cache", root / "no_assets_here"
    cache.mkdir(parents=True, exist_ok=True)
    empty.mkdir(exist_ok=True)
    if not (cache / "assets").exists():
        (cache / "assets").symlink_to(assets, target_is_directory=True)
    return {"TLH_CACHE_DIR": str(cache), "TLH_ASSETS_DIR": str(empty), "TLH_OFFLINE": "1"}


def _is_notebook_cell(item) -> bool:
    return str(getattr(item, "fspath", "")).endswith(".ipynb")


#: tests/test_rehearsal_lessons.py: the test that starts the lesson runs (run first)...
_STARTS_LANES = "test_the_lesson_runs_start_with_the_session"
#: ... and the tests that wait for them (run last)
_WAITS_FOR_LANES = "test_lesson_runs_in_full_configuration"


def pytest_collection_modifyitems(session, config, items):
    """Order the session: lesson runs start first and are waited for last; notebook checks follow the notebooks.

    The lanes of tests/test_rehearsal_lessons.py run in subprocesses beside the rest of the suite. The checks
    marked ``after_notebooks`` read what the notebooks measured, so they follow the last notebook cell.
    """
    late = [i for i in items if i.get_closest_marker("after_notebooks")]
    if late and any(_is_notebook_cell(i) for i in items):
        items[:] = [i for i in items if i not in late] + late
    first = [i for i in items if getattr(i, "originalname", "") == _STARTS_LANES]
    last = [i for i in items if getattr(i, "originalname", "") == _WAITS_FOR_LANES]
    if last:
        items[:] = first + [i for i in items if i not in first and i not in last] + last


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before a notebook's kernel starts (at its first cell), point its metrics file and the laptop tier at it."""
    if not _is_notebook_cell(item):
        _restore_environ()  # the kernels have started: a test after the notebooks sees the session's environment
        return
    stem = Path(str(item.fspath)).stem
    if _current_notebook and _current_notebook[-1] == stem:
        return
    _current_notebook.append(stem)
    if not _kernel_env and os.environ.get("TLH_SMOKE", "").strip().lower() in ("1", "true", "yes", "on"):
        from tlhelpers.course import config as tlh_config

        assets = tlh_config.assets_dir()
        if assets is not None and not os.environ.get("TLH_CACHE_DIR"):
            _kernel_env.update(laptop_tier_env(Path(tempfile.mkdtemp(prefix="tlh-nbval-laptop-")), assets))
    kernel_env = {**_kernel_env, "TLH_METRICS_FILE": str(NBVAL_METRICS / f"{stem}.json")}
    for key in kernel_env:
        _saved_environ.setdefault(key, os.environ.get(key))
    os.environ.update(kernel_env)


def _restore_environ() -> None:
    """Put back what ``pytest_runtest_setup`` changed for the notebook kernels (None: the variable was unset)."""
    for key, value in _saved_environ.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    _saved_environ.clear()
    _current_notebook.clear()


@pytest.fixture(autouse=True)
def _fresh_generated_marks(monkeypatch):
    """Each test starts with nothing generated: what one test generated must not mark another's metrics or charts."""
    from tlhelpers.course import report

    monkeypatch.setattr(report, "_generated", [])
    monkeypatch.setattr(report, "_active", {})
    monkeypatch.setattr(report, "_meaningless", [])


#: The test session's own course cache: no test reads what an earlier session or a learner left in
#: ``data/cache`` or ``~/.cache/tlhelpers``, and none writes there.
SESSION_CACHE = Path(tempfile.mkdtemp(prefix="tlh-test-cache-"))


@pytest.fixture(autouse=True)
def _isolated_and_offline(monkeypatch):
    """Every test runs offline (``TLH_OFFLINE=1``: no download is tried) with the session's own cache.

    A test that needs another cache or the network path sets or removes the variable itself; the notebooks under
    nbval are not tests with fixtures and get the laptop tier's environment instead (``pytest_runtest_setup``).
    """
    monkeypatch.setenv("TLH_CACHE_DIR", str(SESSION_CACHE))
    monkeypatch.setenv("TLH_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test leaves Keras as it found it: no global dtype policy, fresh layer names, its models collected.

    A test's ``mixed_float16`` stays its own, and a model it built is gone before the next test starts
    (``tests/test_suite_isolation.py``). Tests that never imported Keras pay nothing.
    """
    yield
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.backend.clear_session(free_memory=True)
