"""Feature caching: run a frozen backbone once, then train the head on its outputs.

What belongs here: computing pooled backbone features for a whole dataset
(batch by batch, bounded memory, labels kept aligned) and training a head on
them. With a frozen base, every epoch would otherwise push every image through
the same unchanging network again.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import tensorflow as tf

__all__ = ["FeatureSet", "extract_features"]


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


def extract_features(feature_model: keras.Model, ds: tf.data.Dataset, *, progress: bool = True,
                     desc: str = "features") -> FeatureSet:
    """Compute a model's outputs for every batch of a dataset, once.

    Args:
        feature_model: Raw images in, feature vectors out (e.g.
            ``TransferModel.features``); run in inference mode.
        ds: Batched dataset of ``(images, labels)``.
        progress: Print a progress line per 10 % (and at the end). Defaults to True.
        desc: Name shown in the progress line. Defaults to ``"features"``.

    Returns:
        A :class:`FeatureSet` (features stay float32 in memory: N x D x 4 bytes).
    """
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def _run(x: tf.Tensor) -> tf.Tensor:
        return tf.cast(feature_model(x, training=False), tf.float32)

    total = int(ds.cardinality()) if int(ds.cardinality()) > 0 else None
    feats, labels = [], []
    start = time.perf_counter()
    next_report = 0.1
    for i, (x, y) in enumerate(ds, 1):
        feats.append(_run(x).numpy())
        labels.append(np.asarray(y).reshape(-1))
        if progress and total and i / total >= next_report:
            print(f"\r{desc}: {i}/{total} batches, {time.perf_counter() - start:.0f}s", end="", file=sys.stdout)
            next_report += 0.1
    if not feats:
        raise ValueError("The dataset is empty: no features to compute.")
    seconds = time.perf_counter() - start
    out = FeatureSet(np.concatenate(feats), np.concatenate(labels).astype(np.int64), seconds)
    if progress:
        print(f"\r{desc}: {len(out.labels)} images -> {out.features.shape} in {seconds:.1f}s")
    return out
