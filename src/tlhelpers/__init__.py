"""tlhelpers: the helper package of the transfer-learning course.

The lessons import the modules they need, e.g. ``from tlhelpers import data,
models, plots``. Importing the package does nothing else: no TensorFlow import,
no downloads, no seeding.

Modules:
    config: smoke/full mode, lesson settings, cache and asset paths.
    data: datasets and ``tf.data`` pipelines.
    models: the scratch CNN and transfer-learning model builders.
    training: seeding, epoch timing, joining training phases.
    evaluate: predictions, confusion matrices, per-class accuracy.
    plots: learning curves, confusion matrices, image grids.
    report: headline metrics for ``tlh run``.
    runner: headless execution of the lessons (``tlh run``).
    cli: the ``tlh`` command line.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
