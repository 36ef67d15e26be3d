"""The course floor of ``tlhelpers``: how the lessons run, not what they teach.

A learner never needs to open these to follow a lesson:
    config: smoke / full / rehearsal mode (one switch each), lesson settings, cache and asset paths.
    report: the headline numbers ``tlh run`` collects, and which ones generated data made meaningless.
    realfiles: the small real files smoke mode reads: cache, download once, checks.
    standins: everything that fabricates data, modules or weights (marked meaningless).
    rehearsal: the GPU-shaped runtime imitation (``TLH_REHEARSE=1gpu|2gpu``).
    sources: the one place learner helpers ask where a file, weights or the hardware come from.

A lesson's setup cell calls :func:`start`; the lessons reach the rest of this floor only through the few
names below (another part's settings, the folders the course keeps things in, lesson 05's practice folder).
"""

from __future__ import annotations

from typing import Any

__all__ = ["start", "settings", "cache_root", "models_dir", "practice_folder"]


def start(lesson: int | str, *, seed: int = 42) -> tuple[Any, Any]:
    """Begin a lesson: its data, the versions, the hardware; seed; return its settings and the strategy.

    Prints first whether the lesson runs on real files or on generated ones
    (then its numbers mean nothing), then the TensorFlow and Keras versions,
    then what :func:`tlhelpers.training.setup_accelerator` chose (a GPU
    strategy and mixed precision where the hardware has them). Seeds Python,
    NumPy and TensorFlow. When a run collects the lesson's headline numbers
    (``tlh run``, the tests), they are recorded after every cell from then on
    (:func:`tlhelpers.course.report.watch`).

    Args:
        lesson: The lesson number (``1`` or ``"01"``).
        seed: The random seed. Defaults to 42.

    Returns:
        ``(settings, strategy)``: the lesson's settings in the active mode
        (:class:`tlhelpers.course.config.LessonSettings`) and the
        ``tf.distribute`` strategy to build and compile models in.
    """
    import keras
    import tensorflow as tf

    from tlhelpers import training
    from tlhelpers.course import config, realfiles, report

    key = config.lesson_key(lesson)
    print(realfiles.prepare(key))
    print("TensorFlow", tf.__version__, "| Keras", keras.__version__)
    strategy = training.setup_accelerator()
    training.set_seed(seed)
    report.watch(key)
    return config.settings(key), strategy


def settings(part: int | str) -> Any:
    """Return the settings of a lesson or of one part of it (``"02-folder"``) in the active mode."""
    from tlhelpers.course import config

    return config.settings(part)


def cache_root() -> Any:
    """Return the folder where the course keeps downloads, weights and cached results (created)."""
    from tlhelpers.course import config

    return config.cache_root()


def models_dir() -> Any:
    """Return the folder where lesson 05 saves your model, and lesson 06 and ``tlh demo`` find it (created)."""
    from tlhelpers.course import config

    return config.models_dir()


def practice_folder(root: Any, *, seed: int = 0) -> dict[str, str]:
    """Write lesson 05's practice folder of awkward files (broken, odd, HEIC, tool droppings).

    Returns:
        ``{relative path: expected verdict}`` (:func:`tlhelpers.course.standins.make_messy_folder`).
    """
    from tlhelpers.course import standins

    return standins.make_messy_folder(root, seed=seed)
