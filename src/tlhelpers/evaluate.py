"""Evaluation: predictions, confusion matrices, per-class accuracy, mistakes.

What belongs here: numbers computed from a trained model and a labelled
dataset. Plotting those numbers lives in :mod:`tlhelpers.plots`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import tensorflow as tf

__all__ = [
    "Predictions",
    "predict_dataset",
    "confusion_matrix",
    "per_class_accuracy",
    "top_losses",
    "worst_mistakes",
    "load_image_file",
    "predict_image_file",
    "predict_image_files",
]


class Predictions(NamedTuple):
    """Everything :func:`predict_dataset` collects.

    Attributes:
        images: uint8 images ``[N, H, W, 3]`` as the model saw them (0..255).
        labels: True labels ``[N]``.
        probs: Predicted class probabilities ``[N, C]``.
    """

    images: np.ndarray
    labels: np.ndarray
    probs: np.ndarray

    @property
    def predicted(self) -> np.ndarray:
        """Predicted labels ``[N]`` (argmax of ``probs``)."""
        return self.probs.argmax(axis=-1)

    @property
    def accuracy(self) -> float:
        """Share of correct predictions, 0..1."""
        return float((self.predicted == self.labels).mean()) if len(self.labels) else float("nan")


def predict_dataset(model: keras.Model, ds: tf.data.Dataset, *, keep_images: int = 64) -> Predictions:
    """Run a model over a batched dataset, keeping labels aligned with predictions.

    Args:
        model: A model returning class probabilities (or logits).
        ds: Batched dataset of ``(images, labels)``.
        keep_images: How many images to keep (for plotting); the rest are
            dropped to save memory. Defaults to 64.

    Returns:
        A :class:`Predictions` with all labels and probabilities.
    """
    images, labels, probs = [], [], []
    kept = 0
    for x, y in ds:
        p = model(x, training=False)
        probs.append(np.asarray(p, dtype=np.float32))
        labels.append(np.asarray(y).reshape(-1))
        if kept < keep_images:
            take = np.asarray(x[: keep_images - kept])
            images.append(np.clip(take, 0, 255).astype(np.uint8))
            kept += len(take)
    if not labels:
        raise ValueError("The dataset is empty: nothing to evaluate.")
    return Predictions(
        images=np.concatenate(images) if images else np.zeros((0, 1, 1, 3), np.uint8),
        labels=np.concatenate(labels).astype(np.int64),
        probs=np.concatenate(probs),
    )


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Count (true, predicted) pairs.

    Args:
        labels: True labels ``[N]``.
        predicted: Predicted labels ``[N]``.
        num_classes: Number of classes.

    Returns:
        An int64 matrix ``[C, C]``: row = true class, column = predicted class.
    """
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    predicted = np.asarray(predicted, dtype=np.int64).reshape(-1)
    if labels.shape != predicted.shape:
        raise ValueError(f"labels and predicted differ in length: {labels.shape} vs {predicted.shape}.")
    if labels.size and (min(labels.min(), predicted.min()) < 0 or max(labels.max(), predicted.max()) >= num_classes):
        raise ValueError(f"Labels must lie in 0..{num_classes - 1}.")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (labels, predicted), 1)
    return cm


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Accuracy of each true class (recall), from a confusion matrix.

    Args:
        cm: Confusion matrix ``[C, C]`` (rows = true class).

    Returns:
        float array ``[C]``; NaN for a class with no examples.
    """
    cm = np.asarray(cm, dtype=np.float64)
    totals = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(cm) / totals, np.nan)


def worst_mistakes(preds: Predictions, k: int = 9) -> np.ndarray:
    """Return the indices of the most confident wrong predictions among the kept images.

    Args:
        preds: From :func:`predict_dataset`.
        k: How many to return. Defaults to 9.

    Returns:
        Indices into ``preds.images`` (at most ``k``), most confident first.
    """
    n = len(preds.images)
    wrong = np.flatnonzero(preds.predicted[:n] != preds.labels[:n])
    confidence = preds.probs[wrong, preds.predicted[wrong]]
    return wrong[np.argsort(-confidence)][:k]


def top_losses(preds: Predictions, k: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """Return the kept images with the largest loss (fastai's ``top_losses``), largest first.

    The loss of one image is the cross-entropy ``-log p(true class)``: a
    confident mistake costs most, a right but hesitant answer costs some, a
    confident right answer almost nothing. Wrong labels in the data often
    show up here first.

    Args:
        preds: From :func:`predict_dataset` (probabilities, not logits).
        k: How many to return. Defaults to 9.

    Returns:
        ``(indices into preds.images, their losses)``, at most ``k`` of each.
    """
    n = len(preds.images)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    p_true = preds.probs[np.arange(n), preds.labels[:n]].astype(np.float64)
    losses = -np.log(np.clip(p_true, 1e-12, 1.0))
    order = np.argsort(-losses, kind="stable")[:k]
    return order, losses[order]


def load_image_file(path: str | os.PathLike, image_size: int) -> np.ndarray:
    """Read one image file of any format Pillow knows as an RGB ``[size, size, 3]`` float32 array in 0..255.

    Grayscale, palette, CMYK and 16-bit images are converted; transparent
    pixels become white.

    Args:
        path: The image file.
        image_size: Side length to resize to.

    Returns:
        The image array.

    Raises:
        ValueError: The file is not a readable image; says which file and why.
    """
    from pathlib import Path

    from PIL import Image, UnidentifiedImageError

    from tlhelpers import folders

    path = Path(path)
    verdict = folders.classify(path)
    if verdict.verdict == folders.UNUSABLE:
        raise ValueError(f"Cannot predict {path}: {verdict.reason}.")
    if verdict.verdict == folders.CONVERTED:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            converted = Path(tmp) / "rgb.png"
            folders.to_rgb(path, converted)
            with Image.open(converted) as im:
                rgb = im.convert("RGB").resize((image_size, image_size), Image.BILINEAR)
    else:
        try:
            with Image.open(path) as im:
                rgb = im.convert("RGB").resize((image_size, image_size), Image.BILINEAR)
        except (OSError, UnidentifiedImageError) as exc:  # pragma: no cover - classify caught these
            raise ValueError(f"Cannot predict {path}: {exc}.") from exc
    return np.asarray(rgb, dtype=np.float32)


def predict_image_file(model: keras.Model, path: str | os.PathLike, *, top_k: int = 3,
                       class_names: Sequence[str] | None = None) -> list[tuple[str, float]]:
    """Predict one image file with a model that takes raw 0..255 images.

    Args:
        model: The classifier; its input size is read from ``model.input_shape``.
        path: The image file (any format Pillow reads).
        top_k: How many labels to return. Defaults to 3.
        class_names: Label names; defaults to those stored in the model by
            :func:`tlhelpers.models.with_class_names`, else ``"class_<i>"``.

    Returns:
        ``[(label, probability), ...]``, most likely first.

    Raises:
        ValueError: The file is not a readable image.
    """
    result = predict_image_files(model, [path], top_k=top_k, class_names=class_names)[0]
    if "error" in result:
        raise ValueError(result["error"])
    return result["top"]


def predict_image_files(model: keras.Model, paths: Sequence[str | os.PathLike], *, top_k: int = 3,
                        class_names: Sequence[str] | None = None, batch_size: int = 32) -> list[dict]:
    """Predict many image files in batches; an unreadable file gets an error entry instead of stopping the rest.

    Args:
        model: The classifier (raw 0..255 images in).
        paths: Image files.
        top_k: Labels per image. Defaults to 3.
        class_names: See :func:`predict_image_file`.
        batch_size: Images per forward pass. Defaults to 32.

    Returns:
        One dict per path, in order: ``{"path", "top": [(label, probability), ...]}``
        or ``{"path", "error"}``.
    """
    from tlhelpers import models

    size = int(model.input_shape[1])
    names = list(class_names or models.class_names_of(model) or [])
    results: list[dict] = []
    pending: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        probs = np.asarray(model.predict(np.stack([img for _, img in pending]), verbose=0))
        for (index, _), p in zip(pending, probs, strict=True):
            labels = names or [f"class_{i}" for i in range(len(p))]
            order = np.argsort(-p)[: max(1, min(top_k, len(p)))]
            results[index]["top"] = [(labels[i], float(p[i])) for i in order]
        pending.clear()

    for path in paths:
        results.append({"path": str(path)})
        try:
            pending.append((len(results) - 1, load_image_file(path, size)))
        except (ValueError, OSError) as exc:
            results[-1]["error"] = str(exc)
        if len(pending) >= batch_size:
            flush()
    flush()
    return results
