"""Headline metrics a lesson reports, for people and for ``tlh run``.

What belongs here: recording the few numbers that summarise a lesson run
(test accuracy, seconds per epoch, ...). :func:`log_metric` prints the value
and, when ``tlh run`` executes the lesson, also stores it in the run summary
(the file named by ``TLH_METRICS_FILE``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["METRICS_ENV", "GENERATED_KEY", "MEANINGLESS_KEY", "MEANINGLESS", "log_metric", "note_generated",
           "new_data_section", "generated", "meaningless_now", "read_metrics"]

METRICS_ENV = "TLH_METRICS_FILE"
#: Key of the metrics file listing what this lesson generated instead of real data.
GENERATED_KEY = "_generated"
#: Key of the metrics file listing the metrics logged after generated data came in (meaningless).
MEANINGLESS_KEY = "_meaningless"
#: The mark every metric of a lesson on generated data carries.
MEANINGLESS = "generated data: meaningless"
_generated: list[str] = []  # everything generated in this process (the summary lists it)
_active: dict[str, str] = {}  # what -> "data" or "weights": what marks the metrics now
_meaningless: list[str] = []


def note_generated(what: str, *, kind: str = "data") -> None:
    """Record that this lesson uses generated data (or random weights) instead of ``what``.

    From then on, until the lesson loads its next dataset (see
    :func:`new_data_section`), :func:`log_metric` marks every metric
    ``(generated data: meaningless)``, and so does the ``tlh run`` summary.
    Metrics logged before (from real data) stay unmarked.

    Args:
        what: What was replaced, in words (e.g. ``"cats_and_dogs_filtered photos"``).
        kind: ``"data"`` (cleared by the next :func:`new_data_section`) or
            ``"weights"`` (random weights: they mark every later metric).
    """
    _active[what] = kind
    if what in _generated:
        return
    _generated.append(what)
    print(f"NOTICE: {what}: generated stand-in; the numbers computed from it are meaningless.", flush=True)
    _store(GENERATED_KEY, list(_generated))


def new_data_section() -> None:
    """Start a new part of a lesson that loads its own dataset (the dataset loaders call this).

    A generated dataset of the previous part no longer marks the metrics
    (random weights still do); a generated dataset of the new part marks them
    again.
    """
    for what in [w for w, kind in _active.items() if kind == "data"]:
        del _active[what]


def meaningless_now() -> bool:
    """Tell whether a metric (or chart) made now comes from generated data or random weights."""
    return bool(_active)


def generated() -> list[str]:
    """Return what this process has replaced by generated data (empty: everything is real)."""
    return list(_generated)


def _store(name: str, value: object) -> None:
    target = os.environ.get(METRICS_ENV)
    if not target:
        return
    path = Path(target)
    metrics = read_metrics(path)
    metrics[name] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2))


def log_metric(name: str, value: float | int | str, *, unit: str = "") -> None:
    """Print a headline metric and record it for the run summary.

    Args:
        name: Metric name, e.g. ``"test_accuracy"``.
        value: Its value (numbers are rounded to 4 decimals in the summary).
        unit: Optional unit shown after the value. Defaults to ``""``.
    """
    if isinstance(value, float):
        value = round(value, 4)
    mark = f" ({MEANINGLESS})" if _active else ""
    print(f"[metric] {name} = {value}{(' ' + unit) if unit else ''}{mark}")
    _store(name, value)
    if _active:
        _meaningless.append(name)
        _store(MEANINGLESS_KEY, list(dict.fromkeys(_meaningless)))


def read_metrics(path: str | os.PathLike) -> dict[str, object]:
    """Read the metrics a lesson recorded.

    Args:
        path: The metrics JSON file.

    Returns:
        ``{name: value}``; empty when the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        return {}
    return json.loads(path.read_text() or "{}")
