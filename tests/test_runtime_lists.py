"""The replica lists in .ci/runtimes are what their documented refresh command makes of the published lists.

The published lists (../shared/runtimes, with their sources) are cut by `python .ci/runtimes/refresh.py` with
pip's own resolver on the runtime's Python; this test runs that command again and compares, so a hand edit or a
stale list fails here. It needs the package index (as `.ci/run` does) and the runtimes' Pythons.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT.parent / "shared" / "runtimes"
CASES = {"colab-gpu": "colab-gpu-2026-08-19.txt", "kaggle-gpu": "kaggle-gpu-2026-05.txt"}


def _pins(path: Path) -> dict[str, str]:
    return dict(line.split("==", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


@pytest.mark.slow
@pytest.mark.parametrize("runtime", sorted(CASES))
def test_the_checked_in_list_is_what_refresh_makes_of_the_published_one(runtime, tmp_path):
    published = PUBLISHED / CASES[runtime]
    assert published.is_file(), f"{published} is missing: the published lists come with the course's shared folder"
    out = tmp_path / f"{runtime}.txt"
    done = subprocess.run([sys.executable, str(ROOT / ".ci/runtimes/refresh.py"), runtime, "--source", str(published),
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    checked_in = ROOT / ".ci" / "runtimes" / f"{runtime}.txt"
    everything = {re.sub(r"[-_.]+", "-", k).lower(): v for k, v in _pins(published).items()}
    if runtime == "kaggle-gpu":
        everything["protobuf"] = "5.29.5"  # Kaggle's own pin over its Colab base image
    # the same packages; those the platform publishes at the same versions (pip picks the newest of the others)
    assert set(_pins(out)) == set(_pins(checked_in))
    assert {k: v for k, v in _pins(out).items() if k in everything} == \
        {k: v for k, v in _pins(checked_in).items() if k in everything}
    # every pin is the published version unless the header says pip chose it
    (unlisted,) = re.findall(r"^# not in the published list, chosen by pip for a dependency: (.*)$",
                             checked_in.read_text(), re.M)
    said = set() if unlisted == "none" else set(unlisted.split(", "))
    for name, version in _pins(checked_in).items():
        assert everything.get(name) == version or f"{name}=={version}" in said, (name, version)
    for name in ("tensorflow", "keras", "keras-hub", "tensorflow-datasets", "protobuf", "numpy"):
        assert name in _pins(checked_in), name
