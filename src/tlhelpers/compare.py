"""Compare backbones fairly: same data, head, epochs, schedule and seed; accuracy beside cost.

What belongs here: training several candidate models the same way and
measuring, for each, what a reader needs to choose one: accuracy and loss
(before training, on validation and on test), parameters, size on disk,
training time, inference throughput and single-image latency, peak memory.
Also the data-efficiency sweep (accuracy versus labelled images per class).
Plots of these tables live in :mod:`tlhelpers.plots`.

Candidates are given as:

* a ``keras.applications`` registry name (``"VGG16"``), optionally with a
  width multiplier: ``"MobileNetV2@0.35"``; includes bring-your-own backbones
  registered with :func:`tlhelpers.backbones.register` (``"SqueezeNet"``);
* ``"hub:<name or handle>"`` for a TF-Hub model (:mod:`tlhelpers.tfhub`);
* ``"kerashub:<preset or preset folder>"`` for a KerasHub preset (:mod:`tlhelpers.kerashub`);
* ``"scratch"`` for the small CNN trained from scratch;
* ``(name, builder)`` with ``builder(num_classes, image_size)`` returning a
  :class:`tlhelpers.models.TransferModel` or a plain ``keras.Model``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import statistics
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tlhelpers import atomic

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import tensorflow as tf

__all__ = ["COLUMNS", "PeakRSS", "Candidate", "candidate", "compare", "pareto_front", "data_efficiency",
           "measure_speed"]

COLUMNS = ["name", "kind", "status", "error", "image_size", "epochs", "val_accuracy_before", "val_accuracy",
           "val_loss", "test_accuracy", "test_loss", "params_total", "params_trainable", "saved_mb",
           "feature_seconds", "seconds_per_epoch", "train_seconds", "throughput_img_s", "latency_ms", "peak_rss_mb"]


class PeakRSS:
    """Context manager sampling this process's resident memory every 20 ms; ``growth_mb`` is peak minus start.

    TensorFlow keeps memory it allocated, so in one process the growth of a
    later run only counts what it needed beyond what earlier runs left.
    """

    def __enter__(self) -> PeakRSS:
        import psutil

        self._proc = psutil.Process()
        self.start = self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        """Peak resident memory minus the resident memory at entry, in MiB."""
        return (self.peak - self.start) / 2**20


@dataclasses.dataclass
class Candidate:
    """One model to compare.

    Attributes:
        name: Row name in the table.
        kind: ``"keras"``, ``"hub"``, ``"kerashub"``, ``"scratch"`` or ``"custom"``.
        build: ``build(num_classes, image_size)`` returning a TransferModel-like
            object (``model``, ``features``, ``head``, ``base``) or a ``keras.Model``.
    """

    name: str
    kind: str
    build: Callable[[int, int], Any]


def candidate(spec: str | tuple[str, Callable[[int, int], Any]] | Candidate) -> Candidate:
    """Turn a candidate description into a :class:`Candidate` (see the module docstring).

    Args:
        spec: ``"VGG16"``, ``"MobileNetV2@0.35"``, ``"hub:inception_v3"``,
            ``"kerashub:resnet_50_imagenet"``, ``"scratch"``, ``(name, builder)`` or a :class:`Candidate`.

    Returns:
        The candidate. Unknown names fail when built, so the comparison records
        the failure and carries on.
    """
    if isinstance(spec, Candidate):
        return spec
    if isinstance(spec, tuple):
        return Candidate(spec[0], "custom", spec[1])
    from tlhelpers import backbones, models

    if spec == "scratch":
        return Candidate("scratch", "scratch", lambda n, size: models.build_scratch_cnn((size, size, 3), n))
    if spec.startswith("hub:"):
        handle = spec[4:]
        return Candidate(spec, "hub", lambda n, size: models.build_hub_model(handle, n, image_size=size))
    if spec.lower().startswith("kerashub:"):
        return Candidate(spec, "kerashub", lambda n, size: models.build_transfer_model(spec, n, image_size=size))
    name, alpha = backbones.parse_spec(spec)
    return Candidate(spec, "keras", lambda n, size: models.build_transfer_model(name, n, image_size=size, alpha=alpha))


def measure_speed(model: Any, images: Any, *, repeats: int = 5) -> tuple[float, float]:
    """Measure batched inference throughput and single-image latency of a model.

    Args:
        model: Raw images in, probabilities out.
        images: One batch ``[B, H, W, 3]``.
        repeats: Timed calls (after one warm-up call). Defaults to 5.

    Returns:
        ``(images per second on the batch, median milliseconds for one image)``.
    """
    import tensorflow as tf

    run = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    batch = tf.convert_to_tensor(images, tf.float32)
    one = batch[:1]
    run(batch).numpy()
    run(one).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(batch).numpy()
        times.append(time.perf_counter() - start)
    single = []
    for _ in range(max(repeats * 2, 10)):
        start = time.perf_counter()
        run(one).numpy()
        single.append(time.perf_counter() - start)
    return int(batch.shape[0]) / statistics.median(times), 1000 * statistics.median(single)


def _evaluate(model: Any, ds: Any) -> tuple[float, float]:
    loss, acc = model.evaluate(ds, verbose=0)
    return float(acc), float(loss)


def _load_rows(path: Path) -> Any:
    """Return a saved JSON file of results ([] when absent; [] and one line naming it when it cannot be read)."""
    if not path.is_file():
        return []
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        warnings.warn(f"The saved results {path} could not be read ({type(exc).__name__}: {exc}); the candidates "
                      "they held are trained again.", stacklevel=2)
        return []


def compare(
    candidates: Sequence[Any],
    train_ds: tf.data.Dataset,
    val_ds: tf.data.Dataset,
    test_ds: tf.data.Dataset | None = None,
    *,
    num_classes: int,
    image_size: int,
    epochs: int = 5,
    fine_tune_epochs: int = 0,
    unfreeze_from: int | str | float = 0.3,
    head_lr: float = 1e-3,
    fine_tune_lr: float = 1e-5,
    seed: int = 42,
    out_dir: str | os.PathLike | None = None,
    strategy: tf.distribute.Strategy | None = None,
    verbose: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Train every candidate the same way and measure it; one failing candidate does not stop the others.

    Pretrained candidates train their head on features computed once
    (``training.fit_two_phase``), then optionally fine-tune; the scratch CNN
    trains end to end for the same number of epochs with the same optimizer.

    Args:
        candidates: See :func:`candidate`.
        train_ds: Batched ``(raw 0..255 images, labels)``.
        val_ds: Batched validation data (model selection, early stopping).
        test_ds: Batched test data, or None.
        num_classes: Number of classes.
        image_size: Input side length for every candidate.
        epochs: Epochs of head training (scratch: of training). Defaults to 5.
        fine_tune_epochs: Fine-tuning epochs for pretrained candidates. Defaults to 0.
        unfreeze_from: Where fine-tuning starts (see ``models.unfreeze``). Defaults to 0.3.
        head_lr: Adam learning rate of head (and scratch) training. Defaults to 1e-3.
        fine_tune_lr: Learning rate of fine-tuning. Defaults to 1e-5.
        seed: Seed set before each candidate. Defaults to 42.
        out_dir: Where to write ``comparison.csv``, ``comparison.json`` and
            ``histories.json`` after each candidate. Candidates already there
            with status ``ok`` are skipped (resume). Defaults to None.
        strategy: The ``tf.distribute`` strategy every candidate is built and
            compiled in (from ``training.setup_accelerator()``). Defaults to
            the current one.
        verbose: Keras verbosity. Defaults to 0.
        progress: Print a line as each candidate starts and ends. Defaults to True.

    Returns:
        A DataFrame with :data:`COLUMNS`, one row per candidate;
        ``df.attrs["histories"]`` maps names to their learning curves.
    """
    import pandas as pd

    out = Path(out_dir) if out_dir is not None else None
    recipe = _recipe(train_ds, val_ds, test_ds, num_classes=num_classes, image_size=image_size, epochs=epochs,
                     fine_tune_epochs=fine_tune_epochs, unfreeze_from=unfreeze_from, head_lr=head_lr,
                     fine_tune_lr=fine_tune_lr, seed=seed)
    same = out is not None and _load_rows(out / "recipe.json") == recipe
    if out is not None and (out / "comparison.json").is_file() and not same:
        warnings.warn(f"{out} holds results of other settings or data: starting over (they are replaced).",
                      stacklevel=2)
    rows: list[dict] = _load_rows(out / "comparison.json") if same else []
    histories: dict[str, Any] = _load_rows(out / "histories.json") or {} if same else {}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        atomic.write_json(out / "recipe.json", recipe)
    done = {r["name"] for r in rows if r.get("status") == "ok"}
    rows = [r for r in rows if r["name"] in done]
    for spec in candidates:
        cand = candidate(spec)
        if cand.name in done:
            if progress:
                print(f"{cand.name}: done already (resumed from {out})")
            continue
        if progress:
            print(f"{cand.name}: training and measuring ...")
        row, history = _run_one(cand, train_ds, val_ds, test_ds, num_classes=num_classes, image_size=image_size,
                                epochs=epochs, fine_tune_epochs=fine_tune_epochs, unfreeze_from=unfreeze_from,
                                head_lr=head_lr, fine_tune_lr=fine_tune_lr, seed=seed, verbose=verbose,
                                strategy=strategy)
        rows.append(row)
        if history:
            histories[cand.name] = history
        status = (f"val accuracy {row['val_accuracy']:.3f}" if row["status"] == "ok"
                  else f"FAILED: {row['error']}")
        if progress:
            print(f"{cand.name}: {status}")
        if out is not None:
            _write(out, rows, histories)
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.attrs["histories"] = histories
    return df


def _recipe(train_ds: Any, val_ds: Any, test_ds: Any, **settings: Any) -> dict:
    """Describe what makes saved results reusable: the settings, the batch counts, a fingerprint of the data."""
    import hashlib

    digest = hashlib.sha256()
    counts = []
    for ds in (train_ds, val_ds, test_ds):
        counts.append(None if ds is None else int(ds.cardinality()))
    images, labels = next(iter(val_ds))  # the validation data is not shuffled: its first batch names the data
    digest.update(images.numpy().tobytes())
    digest.update(labels.numpy().tobytes())
    return {**{k: (v if isinstance(v, (int, float, str)) or v is None else str(v)) for k, v in settings.items()},
            "batches": counts, "data": digest.hexdigest()}


def _write(out: Path, rows: list[dict], histories: dict) -> None:
    import pandas as pd

    # histories first, the rows (what marks a candidate done) after them: a kill between leaves nothing claimed done
    atomic.write_json(out / "histories.json", histories, indent=None)
    atomic.write_json(out / "comparison.json", rows)
    atomic.write_with(out / "comparison.csv", lambda p: pd.DataFrame(rows, columns=COLUMNS).to_csv(p, index=False))


def _run_one(cand: Candidate, train_ds: Any, val_ds: Any, test_ds: Any, *, num_classes: int, image_size: int,
             epochs: int, fine_tune_epochs: int, unfreeze_from: Any, head_lr: float, fine_tune_lr: float,
             seed: int, verbose: int, strategy: Any = None) -> tuple[dict, dict]:
    import keras
    import numpy as np
    import tensorflow as tf

    from tlhelpers import training

    row: dict[str, Any] = {c: math.nan for c in COLUMNS}
    row.update(name=cand.name, kind=cand.kind, status="ok", error="", image_size=image_size, epochs=epochs)
    history: dict = {}
    try:
        with PeakRSS() as mem:
            training.set_seed(seed)
            strategy = strategy or tf.distribute.get_strategy()
            with strategy.scope():  # build and compile where the model lives (one or several devices)
                built = cand.build(num_classes, image_size)
                model = getattr(built, "model", built)
                model.compile(keras.optimizers.Adam(head_lr), "sparse_categorical_crossentropy",
                              metrics=["accuracy"])
            row["val_accuracy_before"], _ = _evaluate(model, val_ds)
            start = time.perf_counter()
            if hasattr(built, "head") and hasattr(built, "features"):
                result = training.fit_two_phase(built, train_ds, val_ds, head_epochs=epochs,
                                                fine_tune_epochs=fine_tune_epochs, unfreeze_from=unfreeze_from,
                                                head_lr=head_lr, fine_tune_lr=fine_tune_lr, verbose=verbose)
                history = result.history
                row["feature_seconds"] = result.seconds["features"]
                row["seconds_per_epoch"] = (result.seconds["head"] + result.seconds["fine_tune"]) / max(
                    1, len(history.get("loss", [])))
            else:
                fit = model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=verbose)
                history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
                row["feature_seconds"] = 0.0
                row["seconds_per_epoch"] = (time.perf_counter() - start) / epochs
            row["train_seconds"] = time.perf_counter() - start
            # The model is compiled (before training, or again for fine-tuning): evaluate with it as it is, so
            # the compiled (on one GPU: XLA) evaluation step is reused instead of built again.
            row["val_accuracy"], row["val_loss"] = _evaluate(model, val_ds)
            if test_ds is not None:
                row["test_accuracy"], row["test_loss"] = _evaluate(model, test_ds)
            row["params_total"] = int(sum(np.prod(w.shape) for w in model.weights))
            row["params_trainable"] = int(sum(np.prod(w.shape) for w in model.trainable_weights))
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "model.keras"
                model.save(path)
                row["saved_mb"] = path.stat().st_size / 2**20
            images, _ = next(iter(val_ds))
            row["throughput_img_s"], row["latency_ms"] = measure_speed(model, images)
        row["peak_rss_mb"] = mem.growth_mb
    except Exception as exc:  # noqa: BLE001 - record the failure, keep comparing the others
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
        if verbose:
            traceback.print_exc()
    return row, {k: [float(v) for v in vals] for k, vals in history.items()}


def pareto_front(df: pd.DataFrame, x: str = "throughput_img_s", y: str = "val_accuracy") -> Any:
    """Mark the rows no other row beats on both ``x`` and ``y`` (higher is better for both).

    Args:
        df: A comparison table.
        x: First column. Defaults to ``"throughput_img_s"``.
        y: Second column. Defaults to ``"val_accuracy"``.

    Returns:
        A boolean Series aligned with ``df`` (False for rows with missing values).
    """
    import pandas as pd

    ok = df[x].notna() & df[y].notna()
    front = pd.Series(False, index=df.index)
    for i in df.index[ok]:
        xi, yi = df.at[i, x], df.at[i, y]
        dominated = ((df.loc[ok, x] >= xi) & (df.loc[ok, y] >= yi) & ((df.loc[ok, x] > xi) | (df.loc[ok, y] > yi)))
        front[i] = not dominated.any()
    return front


def data_efficiency(
    train_dir: str | os.PathLike,
    val_ds: tf.data.Dataset,
    *,
    per_class: Sequence[int | None] = (10, 50, 200, None),
    backbone: str = "MobileNetV2@0.35",
    image_size: int = 160,
    batch_size: int = 32,
    epochs: int = 10,
    fine_tune_epochs: int = 3,
    unfreeze_from: int | str | float = 100,
    methods: Sequence[str] = ("scratch", "features", "fine_tune"),
    seed: int = 42,
    strategy: tf.distribute.Strategy | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Accuracy versus labelled training images per class, for scratch, feature extraction and fine-tuning.

    Each point trains a fresh model on the first ``n`` images (sorted by name)
    of each class of ``train_dir`` and measures validation accuracy.

    Args:
        train_dir: Class-per-folder training images.
        val_ds: Batched validation data (the same for every point).
        per_class: Training images per class; None means all. Defaults to ``(10, 50, 200, None)``.
        backbone: Pretrained candidate for ``features`` and ``fine_tune``. Defaults to ``"MobileNetV2@0.35"``.
        image_size: Input size. Defaults to 160.
        batch_size: Batch size. Defaults to 32.
        epochs: Epochs of scratch training and of head training. Defaults to 10.
        fine_tune_epochs: Extra epochs for ``fine_tune``. Defaults to 3.
        unfreeze_from: Where fine-tuning starts. Defaults to 100.
        methods: Any of ``"scratch"``, ``"features"``, ``"fine_tune"``.
        seed: Seed set before each point. Defaults to 42.
        strategy: Where models are built and compiled. Defaults to the current one.
        progress: Print a line per point. Defaults to True.

    Returns:
        A DataFrame: ``method``, ``per_class``, ``train_images``, ``val_accuracy``, ``seconds``.
    """
    import keras
    import pandas as pd
    import tensorflow as tf

    from tlhelpers import data, training

    strategy = strategy or tf.distribute.get_strategy()
    rows = []
    for n in per_class:
        train_ds, names = data.image_folder(train_dir, image_size=image_size, batch_size=batch_size, shuffle=True,
                                            seed=seed, limit_per_class=n)
        count = int(sum(int(y.shape[0]) for _, y in train_ds))
        for method in methods:
            training.set_seed(seed)
            start = time.perf_counter()
            if method == "scratch":
                with strategy.scope():
                    built = candidate("scratch").build(len(names), image_size)
                    built.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                                  metrics=["accuracy"])
                built.fit(train_ds, epochs=epochs, verbose=0)
                model = built
            elif method in ("features", "fine_tune"):
                with strategy.scope():
                    built = candidate(backbone).build(len(names), image_size)
                training.fit_two_phase(built, train_ds, val_ds, head_epochs=epochs,
                                       fine_tune_epochs=fine_tune_epochs if method == "fine_tune" else 0,
                                       unfreeze_from=unfreeze_from, verbose=0)
                model = built.model
                with strategy.scope():
                    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                                  metrics=["accuracy"])
            else:
                raise ValueError(f"Unknown method {method!r}; use scratch, features or fine_tune.")
            acc, _ = _evaluate(model, val_ds)
            rows.append({"method": method, "per_class": n if n is not None else "all", "train_images": count,
                         "val_accuracy": acc, "seconds": time.perf_counter() - start})
            if progress:
                print(f"{method:10s} {count:5d} training images: val accuracy {acc:.3f}")
    return pd.DataFrame(rows)
