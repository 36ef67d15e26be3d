"""The command-line floor of ``tlhelpers``: the ``tlh`` program and the tools behind it.

Nothing here is needed to follow a lesson; these are what a teacher or CI runs:
    commands: argument parsing and friendly messages (``tlh run/train/predict/...``).
    runner: runs lessons headless and writes ``runs/<timestamp>/summary.md`` (``tlh run``).
    prefetch: every download the lessons make, checked (``tlh prefetch``/``tlh doctor``).

``python -m tlhelpers.cli ...`` is the same as ``tlh ...``.
"""

from tlhelpers.cli.commands import main

__all__ = ["main"]
