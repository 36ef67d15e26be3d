"""Headline metrics a lesson reports, for ``tlh run`` and the test suite.

What belongs here: recording the few numbers that summarise a lesson run
(test accuracy, seconds per epoch, ...) in the file named by
``TLH_METRICS_FILE`` (set by ``tlh run`` and by the tests' notebook runs).
The lessons do not call anything for it: :data:`HEADLINES` says, per lesson,
which of its variables hold the headline numbers, and :func:`watch` (called
by :func:`tlhelpers.course.start`) reads them after every cell, as soon as
they exist, so a number computed from generated data is marked meaningless
exactly as it was when computed. :func:`log_metric` records one number by hand
(scripts, the lessons' own tests).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["METRICS_ENV", "GENERATED_KEY", "MEANINGLESS_KEY", "MEANINGLESS", "HEADLINES", "log_metric",
           "note_generated", "new_data_section", "generated", "meaningless_now", "read_metrics", "headlines_now",
           "watch"]

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


def log_metric(name: str, value: float | int | str, *, unit: str = "", quiet: bool = False) -> None:
    """Record a headline metric for the run summary (and print it, unless ``quiet``).

    Args:
        name: Metric name, e.g. ``"test_accuracy"``.
        value: Its value (numbers are rounded to 4 decimals in the summary).
        unit: Optional unit shown after the value. Defaults to ``""``.
        quiet: Record without printing. Defaults to False.
    """
    if hasattr(value, "item"):  # a NumPy scalar
        value = value.item()
    if isinstance(value, float):
        value = round(value, 4)
    mark = f" ({MEANINGLESS})" if _active else ""
    if not quiet:
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


def _slug(text: str) -> str:
    return text.replace(" ", "_").replace(",", "").replace("%", "pct")


def _median(values: Any) -> float:
    import numpy as np

    return float(np.median(values))


#: lesson -> headline name -> how to read it from the lesson's variables (a name missing or None: not there yet).
#: A value that is a mapping records one headline per key. Units: ``HEADLINE_UNITS``.
#: tests/test_report.py checks that every variable named here is assigned in its lesson.
HEADLINES: dict[str, dict[str, Callable[[Mapping[str, Any]], Any]]] = {
    "01": {
        "seconds_per_epoch": lambda v: _median(v["timer"].seconds),
        "test_accuracy": lambda v: v["preds"].accuracy,
    },
    "02": {
        "recompute_seconds": lambda v: round(v["seconds_recompute"], 1),
        "cached_seconds": lambda v: round(v["seconds_cached"], 1),
        "test_accuracy_recompute": lambda v: v["test_acc_recompute"],
        "test_accuracy_cached": lambda v: v["test_acc_cached"],
        "folder_frozen_val_accuracy": lambda v: v["folder_history"].history["val_accuracy"][-1],
    },
    "03": {
        "probe_accuracy_preprocessed_once": lambda v: v["double_scaling"][1],
        "probe_accuracy_preprocessed_twice": lambda v: v["double_scaling"][2],
        "frozen_val_accuracy": lambda v: v["history_head"].history["val_accuracy"][-1],
        "fine_tuned_val_accuracy": lambda v: v["history_ft"].history["val_accuracy"][-1],
        "wrapper_head_val_accuracy": lambda v: v["wrapper_acc"],
        "experiments": lambda v: {"experiment_" + _slug(row[0]): row[3] for row in v["rows"][1:]},  # 0: head only
        "cifar10_test_accuracy": lambda v: v["cifar_preds"].accuracy,
    },
    "04": {
        "by_hand_val_accuracy": lambda v: v["by_hand"]["val_accuracy"],
        "comparison": lambda v: {f"val_accuracy_{name}": acc for name, acc, status in
                                 zip(v["table"]["name"], v["table"]["val_accuracy"], v["table"]["status"],
                                     strict=True) if status == "ok"},
    },
    "05": {
        "test_accuracy": lambda v: v["preds"].accuracy,
        "export_top1_agreement": lambda v: v["exported"].top1_agreement,
    },
    "06": {
        "test_accuracy": lambda v: v["trained"].test_accuracy,
        "test_mistakes": lambda v: v["wrong"],
        "agreements": lambda v: {f"agreement_{kind}": r.top1_agreement for kind, r in v["artifacts"].items()},
    },
    "07": {
        "article_route_val_accuracy": lambda v: v["article_acc"],
        "hub_fine_tuned_val_accuracy": lambda v: v["hub_acc"],
        "kerashub_classifier_val_accuracy": lambda v: v["kh_acc"],
        "kerashub_backbone_head_val_accuracy": lambda v: v["own_acc"],
    },
}
#: Units of the headlines that have one.
HEADLINE_UNITS = {"seconds_per_epoch": "s", "recompute_seconds": "s", "cached_seconds": "s"}


def headlines_now(lesson: str, variables: Mapping[str, Any]) -> dict[str, Any]:
    """Return the lesson's headline numbers that ``variables`` (a lesson's namespace) hold now.

    A headline whose variable does not exist yet (or is None, or has not the
    shape its reader expects yet) is left out; every other error surfaces.
    """
    found: dict[str, Any] = {}
    for name, read in HEADLINES.get(lesson, {}).items():
        try:
            value = read(variables)
        except (KeyError, AttributeError, IndexError, TypeError):
            continue
        if value is None:
            continue
        found.update(value if isinstance(value, Mapping) else {name: value})
    return found


class _Watcher:
    """Called after every cell: records each headline the first time it exists."""

    def __init__(self, lesson: str, variables: Mapping[str, Any]) -> None:
        self.lesson, self.variables, self.done = lesson, variables, set()

    def __call__(self, *_: object) -> None:
        for name, value in headlines_now(self.lesson, self.variables).items():
            if name not in self.done:
                self.done.add(name)
                log_metric(name, value, unit=HEADLINE_UNITS.get(name, ""), quiet=True)


def watch(lesson: str) -> bool:
    """Record the lesson's headlines after every cell of the running notebook, when a run collects them.

    Only when ``TLH_METRICS_FILE`` is set (``tlh run``, the tests) and this is an
    IPython kernel; calling it again replaces the earlier watcher.

    Args:
        lesson: ``"01"`` ... ``"07"``.

    Returns:
        Whether a watcher is registered.
    """
    if not os.environ.get(METRICS_ENV):
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    for old in [f for f in shell.events.callbacks["post_run_cell"] if isinstance(f, _Watcher)]:
        shell.events.unregister("post_run_cell", old)
    shell.events.register("post_run_cell", _Watcher(lesson, shell.user_ns))
    return True
