"""Feature caching: run a frozen backbone once and keep its outputs.

What belongs here: computing pooled backbone features for a whole dataset
(batch by batch, bounded memory, labels kept aligned), and the progress bar it
shows. With a frozen base, every epoch would otherwise push every image through
the same unchanging network again. Training a head on the cached features is
the lessons' own ``model.fit`` (lesson 02), not a helper here.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import tensorflow as tf

__all__ = ["FeatureSet", "extract_features", "progress_bar"]


class FeatureSet(NamedTuple):
    """Cached features of one split.

    Attributes:
        features: float32 ``[N, D]``.
        labels: int64 ``[N]``.
        seconds: Wall time the extraction took.
    """

    features: np.ndarray
    labels: np.ndarray
    seconds: float


def progress_bar(total: int | None, desc: str, *, enabled: bool = True, unit: str = "batch") -> Any:
    """Return a tqdm progress bar that is live in notebooks and terminals and silent in logs.

    In a notebook (with ipywidgets) it is a widget, in a terminal a text bar;
    when standard output is neither (a log file, CI), the bar is disabled so
    no carriage-return fragments pile up, and the caller prints one summary
    line at the end.

    Args:
        total: Number of steps, or None when unknown.
        desc: Label in front of the bar.
        enabled: False disables it everywhere. Defaults to True.
        unit: What one step is. Defaults to ``"batch"``.

    Returns:
        A ``tqdm`` object (use it as a context manager, call ``update``).
    """
    import importlib.util

    in_notebook = "ipykernel" in sys.modules and importlib.util.find_spec("ipywidgets") is not None
    if in_notebook:
        from tqdm.notebook import tqdm
    else:
        from tqdm import tqdm
    live = enabled and (in_notebook or sys.stdout.isatty())
    return tqdm(total=total, desc=desc, unit=unit, disable=not live, file=sys.stdout, leave=False)


def extract_features(feature_model: keras.Model, ds: tf.data.Dataset, *, progress: bool = True,
                     desc: str = "features", cache_file: str | os.PathLike | None = None,
                     augmentation: Any = None, passes: int = 1) -> FeatureSet:
    """Compute a model's outputs for every batch of a dataset, once.

    Memory: only the features are kept (float32, N x D x 4 bytes, e.g. 45,000
    CIFAR-10 images x 2,048 features = 369 MB); images stream batch by batch.

    Args:
        feature_model: Raw images in, feature vectors out (e.g.
            ``TransferModel.features``); run in inference mode.
        ds: Batched dataset of ``(images, labels)``.
        progress: Print a progress line per 10 % (and at the end). Defaults to True.
        desc: Name shown in the progress line. Defaults to ``"features"``.
        cache_file: A ``.npz`` file: loaded if it exists, else written after
            computing. Delete it when the data or the model change. Defaults to
            None (memory only).
        augmentation: A layer applied (``training=True``) to the images of
            every pass after the first, to cache K augmented copies of a
            training set. Defaults to None.
        passes: How many passes over ``ds`` (the first one without
            augmentation). Defaults to 1.

    Returns:
        A :class:`FeatureSet`.
    """
    import tensorflow as tf

    if cache_file is not None and Path(cache_file).is_file():
        import zipfile

        try:
            with np.load(cache_file) as stored:
                out = FeatureSet(stored["features"], stored["labels"], 0.0)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            warnings.warn(f"The cached {desc} in {cache_file} could not be read ({type(exc).__name__}: {exc}); "
                          "computing them again.", stacklevel=2)
        else:
            if progress:
                print(f"{desc}: loaded {out.features.shape} from {cache_file}")
            return out
    if passes < 1 or (passes > 1 and augmentation is None):
        raise ValueError(f"passes must be >= 1, and passes > 1 needs an augmentation layer (got passes={passes}).")

    @tf.function(reduce_retracing=True)
    def _run(x: tf.Tensor) -> tf.Tensor:
        return tf.cast(feature_model(x, training=False), tf.float32)

    @tf.function(reduce_retracing=True)
    def _run_augmented(x: tf.Tensor) -> tf.Tensor:
        return tf.cast(feature_model(augmentation(x, training=True), training=False), tf.float32)

    per_pass = int(ds.cardinality()) if int(ds.cardinality()) > 0 else None
    total = per_pass * passes if per_pass else None
    feats, labels = [], []
    start = time.perf_counter()
    with progress_bar(total, desc, enabled=progress) as bar:
        for k in range(passes):
            run = _run if k == 0 else _run_augmented
            for x, y in ds:
                feats.append(run(x).numpy())
                labels.append(np.asarray(y).reshape(-1))
                bar.update(1)
    if not feats:
        raise ValueError("The dataset is empty: no features to compute.")
    seconds = time.perf_counter() - start
    out = FeatureSet(np.concatenate(feats), np.concatenate(labels).astype(np.int64), seconds)
    if cache_file is not None:  # never half a file at cache_file, whenever the process dies
        from tlhelpers import atomic

        atomic.write_with(cache_file, lambda partial: np.savez(partial, features=out.features, labels=out.labels))
    if progress:
        print(f"{desc}: {len(out.labels)} images -> {out.features.shape} in {seconds:.1f}s")
    return out
