"""Test-session setup: the test suite always runs the lessons in smoke mode.

Set here, before any kernel starts, so `pytest` (unit tests and `--nbval-lax`
over notebooks/) is offline and fast. Export TLH_SMOKE=0 to run the notebooks
in full mode under nbval instead.
"""

import os

os.environ.setdefault("TLH_SMOKE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
