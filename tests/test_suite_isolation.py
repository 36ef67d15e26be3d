"""The suite's own isolation (conftest.py's autouse fixtures): each test runs offline with the session's own cache,
and what one test does to Keras does not reach the next.

The two Keras tests run in file order; the first changes Keras's global state the way the mixed-precision tests of
`test_export.py` and `test_kerashub.py` do, the second checks that it starts afresh."""

import os
import weakref
from pathlib import Path

import keras

_left_behind: list[weakref.ref] = []


def test_a_test_switches_to_mixed_precision_and_builds_a_model():
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    assert model.layers[0].name == "dense" and model.layers[0].compute_dtype == "float16"
    _left_behind.append(weakref.ref(model))


def test_the_next_test_starts_in_float32_with_fresh_names_and_the_model_collected():
    assert keras.mixed_precision.global_policy().name == "float32"
    assert keras.layers.Dense(1).name == "dense"  # "dense_2" when the previous test's names were still counted
    assert _left_behind and _left_behind[0]() is None, "the previous test's model is still alive"


def test_a_test_is_offline_with_the_sessions_own_cache():
    """Not ``data/cache`` of the checkout nor ``~/.cache/tlhelpers``: what a learner or an earlier run left there
    cannot make a test pass, and no test writes there."""
    from conftest import SESSION_CACHE
    from tlhelpers.course import config, realfiles

    assert not realfiles.network_allowed()
    root = config.cache_root()
    assert root == SESSION_CACHE, root
    assert Path.home() not in root.parents and (config.repo_root() or Path("/nonexistent")) not in root.parents


def test_a_test_fabricates_a_stand_in():
    from tlhelpers.course import report

    report.note_generated("a stand-in preset (random weights)", kind="weights")
    assert report.meaningless_now()


def test_the_next_test_starts_with_an_empty_run_report(capsys):
    from tlhelpers.course import report

    assert not report.meaningless_now() and report.generated() == []
    report.note_generated("a stand-in preset (random weights)", kind="weights")  # said again, not swallowed
    assert "a stand-in preset (random weights): generated stand-in" in capsys.readouterr().out


def test_a_test_after_the_notebooks_sees_the_sessions_environment(monkeypatch, tmp_path):
    """The notebook kernels get the laptop tier's environment (an empty assets folder, offline, their metrics file);
    it stayed in ``os.environ`` after them, so `pytest notebooks tests/test_own_photos.py` skipped (in CI: failed)
    a real-asset test with "Offline asset ... not found (.../no_assets_here)"."""
    import conftest

    class Cell:  # what pytest_runtest_setup reads of an nbval item, and of a test after it
        def __init__(self, path):
            self.fspath = path

    monkeypatch.setattr(conftest, "_kernel_env", {"TLH_ASSETS_DIR": str(tmp_path / "no_assets_here")})
    monkeypatch.setattr(conftest, "_current_notebook", [])
    monkeypatch.setattr(conftest, "_saved_environ", {})
    monkeypatch.setenv("TLH_ASSETS_DIR", "/the/sessions/assets")
    monkeypatch.delenv("TLH_METRICS_FILE", raising=False)
    conftest.pytest_runtest_setup(Cell(tmp_path / "05_lesson.ipynb"))
    assert os.environ["TLH_ASSETS_DIR"].endswith("no_assets_here") and "TLH_METRICS_FILE" in os.environ
    conftest.pytest_runtest_setup(Cell(tmp_path / "test_own_photos.py"))
    assert os.environ["TLH_ASSETS_DIR"] == "/the/sessions/assets" and "TLH_METRICS_FILE" not in os.environ
