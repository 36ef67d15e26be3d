"""Test-session setup: the test suite always runs the lessons in smoke mode.

Set here, before any kernel starts, so `pytest` (unit tests and `--nbval-lax`
over notebooks/) is offline and fast. Export TLH_SMOKE=0 to run the notebooks
in full mode under nbval instead.
"""

import os

os.environ.setdefault("TLH_SMOKE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_generated_marks(monkeypatch):
    """Each test starts with nothing generated: what one test generated must not mark another's metrics or charts."""
    from tlhelpers import report

    monkeypatch.setattr(report, "_generated", [])
    monkeypatch.setattr(report, "_active", {})
    monkeypatch.setattr(report, "_meaningless", [])
