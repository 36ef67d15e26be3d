"""Training helpers: seeding, timing and joining training phases.

What belongs here: code around ``model.fit`` that every lesson repeats. The
lesson's own ideas (compile, freeze, unfreeze, learning rates) stay in the
notebooks.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

    from tlhelpers.models import TransferModel

__all__ = [
    "set_seed",
    "EpochTimer",
    "history_dict",
    "merge_histories",
    "TwoPhaseResult",
    "fit_two_phase",
    "setup_accelerator",
    "describe_accelerator",
    "no_accelerator_advice",
    "tpu_runtime",
    "xla_decision",
]


def set_seed(seed: int = 42) -> None:
    """Seed Python, NumPy and TensorFlow so a run can be repeated.

    Args:
        seed: The seed. Defaults to 42.
    """
    import keras

    keras.utils.set_random_seed(seed)


class EpochTimer(keras.callbacks.Callback):
    """A Keras callback recording the wall time of every epoch, in seconds.

    After ``fit(..., callbacks=[timer])``, ``timer.seconds`` holds one value per epoch.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        """Start the clock."""
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        """Record the epoch's wall time."""
        self.seconds.append(time.perf_counter() - self._start)


def history_dict(history: Any) -> dict[str, list[float]]:
    """Return the metric lists of a Keras ``History`` (or a plain dict of lists).

    Args:
        history: A ``keras.callbacks.History`` or ``{metric: [values]}``.

    Returns:
        ``{metric: [value per epoch]}``.
    """
    hist = getattr(history, "history", history)
    if not isinstance(hist, Mapping):
        raise TypeError(f"Expected a keras History or a dict of lists, got {type(history).__name__}.")
    return {k: [float(v) for v in vals] for k, vals in hist.items()}


def merge_histories(*histories: Any) -> dict[str, list[float]]:
    """Join the histories of consecutive training phases into one.

    Args:
        *histories: ``keras.callbacks.History`` objects or dicts of lists, in
            order (e.g. head training, then fine-tuning).

    Returns:
        ``{metric: values of all phases, concatenated}``; a metric missing in
        one phase is padded with NaN so the epochs stay aligned.
    """
    dicts = [history_dict(h) for h in histories]
    keys = sorted({k for d in dicts for k in d})
    merged: dict[str, list[float]] = {k: [] for k in keys}
    for d in dicts:
        length = max((len(v) for v in d.values()), default=0)
        for k in keys:
            merged[k].extend(d.get(k, [float("nan")] * length))
    return merged


def setup_accelerator(*, mixed_precision: bool = True, verbose: bool = True) -> tf.distribute.Strategy:
    """Pick the distribution strategy for the hardware present and enable mixed precision on GPUs.

    Several GPUs: ``MirroredStrategy``; otherwise the default strategy. Mixed
    precision (``mixed_float16``) is switched on when a GPU of compute
    capability 7.0 or newer is present (T4, V100, A100...). TPU runtimes are
    not used: Colab's TPU runtime has no TensorFlow and Kaggle's has a
    CPU-only build, so a TPU runtime runs on its CPU and the advice says to
    switch to a GPU runtime (:func:`tpu_runtime`). Scale the global batch size by
    ``strategy.num_replicas_in_sync``. In the GPU-shaped rehearsal
    (``TLH_REHEARSE``), the CPU is set up as that runtime instead (see
    :mod:`tlhelpers.rehearsal`). Without an accelerator, says so and what to
    switch on.

    Args:
        mixed_precision: Allow mixed precision. Defaults to True.
        verbose: Print what was chosen. Defaults to True.

    Returns:
        The strategy; build **and compile** models inside ``strategy.scope()``.
    """
    import keras
    import tensorflow as tf

    from tlhelpers import config

    shape = config.rehearsal()
    if shape is not None:
        from tlhelpers import rehearsal

        return rehearsal.setup(shape, mixed_precision=mixed_precision, verbose=verbose)
    policy = None
    gpus = tf.config.list_physical_devices("GPU")
    strategy = tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        if details.get("compute_capability", (0, 0)) >= (7, 0):
            policy = "mixed_float16"
    if mixed_precision and policy:
        keras.mixed_precision.set_global_policy(policy)
    if verbose:
        print(f"Strategy: {type(strategy).__name__}, replicas: {strategy.num_replicas_in_sync}, "
              f"precision: {keras.mixed_precision.global_policy().name}")
        if not gpus and policy is None:
            print(no_accelerator_advice(full=not config.offline_sources()))
    return strategy


def describe_accelerator() -> str:
    """Say, without changing anything, what :func:`setup_accelerator` would choose here.

    Returns:
        One line each for the strategy, the precision policy and the XLA
        decision (``jit_compile="auto"``), as on this machine (or as in the
        active rehearsal).
    """
    import tensorflow as tf

    from tlhelpers import config

    shape = config.rehearsal()
    gpus = tf.config.list_physical_devices("GPU")
    tpu = tpu_runtime() and not gpus
    if shape == "2gpu" or len(gpus) > 1:
        strategy = f"MirroredStrategy over {2 if shape else len(gpus)} replicas"
    elif tpu:
        strategy = "default strategy (the CPU: TensorFlow cannot use this runtime's TPU)"
    else:
        strategy = "default strategy (one device)"
    if shape:
        precision = "mixed_float16 (rehearsal)"
    elif gpus:
        cc = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))
        precision = "mixed_float16" if cc >= (7, 0) else f"float32 (compute capability {cc[0]}.{cc[1]} < 7.0)"
    else:
        precision = "float32 (no GPU)"
    lines = [f"Strategy: {strategy}", f"Precision: {precision}"]
    lines.append(xla_decision())
    if shape:
        lines.insert(0, f"REHEARSAL {shape}: {config.REHEARSAL_SHAPES[shape]} (on the CPU)")
    return "\n".join(lines)


def tpu_runtime() -> bool:
    """Tell whether this is a TPU runtime (Colab or Kaggle TPU VM), which the course's TensorFlow cannot use.

    Read from the variables and device files TPU VMs have (``TPU_ACCELERATOR_TYPE``,
    ``COLAB_TPU_ADDR``, ``TPU_NAME``, ``/dev/accel0``); nothing is imported.
    """
    import os

    return any(os.environ.get(v) for v in ("TPU_ACCELERATOR_TYPE", "COLAB_TPU_ADDR", "TPU_NAME")) or \
        os.path.exists("/dev/accel0")


def no_accelerator_advice(*, full: bool) -> str:
    """Say what running without a GPU means and what to switch on.

    Args:
        full: Whether the lesson runs in full mode (where the slowdown matters).

    Returns:
        One or two sentences for the top of a lesson.
    """
    import os

    text = "No GPU found: this runs on the CPU."
    if tpu_runtime():
        text = ("This is a TPU runtime, and TensorFlow cannot use its TPU (Colab's TPU runtime has no TensorFlow; "
                "Kaggle's has a CPU-only build): this runs on the CPU. Use a GPU runtime instead.")
    if full:
        text += (" Full mode is meant for a GPU; expect it to take tens of times longer here (an estimate: "
                 "the course's fine-tuning benchmark needs about 40 s per epoch of 2,000 photos at 224 px with "
                 "MobileNetV2-0.35 on 2 CPU cores; larger backbones cost several times more).")
    if "KAGGLE_KERNEL_RUN_TYPE" in os.environ:
        text += (" On Kaggle, open the notebook's Settings: set Accelerator to a GPU and switch Internet on, "
                 "then restart the session.")
    elif "COLAB_RELEASE_TAG" in os.environ or "COLAB_GPU" in os.environ:
        text += " On Colab: Runtime > Change runtime type > T4 GPU, then run the notebook again."
    return text


def xla_decision(model: keras.Model | None = None) -> str:
    """Say whether Keras's ``jit_compile="auto"`` will use XLA here, and why.

    Args:
        model: A model to check layer by layer (``layer.supports_jit``).
            Defaults to None (the hardware decision only).

    Returns:
        One sentence.
    """
    import tensorflow as tf

    from tlhelpers import config, kerascompat

    shape = config.rehearsal()
    gpu = bool(tf.config.list_physical_devices("GPU")) or shape is not None
    if not gpu:
        return "XLA: off (Keras turns jit_compile='auto' off on machines without a GPU)."
    if tf.distribute.has_strategy() or len(tf.config.list_physical_devices("GPU")) > 1 or shape == "2gpu":
        return "XLA: off (Keras turns jit_compile='auto' off under a tf.distribute strategy)."
    if model is None:
        return "XLA: on for models whose every layer supports it (jit_compile='auto' with one GPU)."
    blockers = sorted({type(layer).__name__ for layer in kerascompat.all_sublayers(model, include_self=True)
                       if not layer.supports_jit})
    if blockers:
        return f"XLA: off for this model (layers without XLA support: {', '.join(blockers)})."
    return "XLA: on for this model (every layer supports it)."


@dataclasses.dataclass
class TwoPhaseResult:
    """What :func:`fit_two_phase` returns.

    Attributes:
        history: Metrics of both phases joined (``merge_histories``).
        fine_tune_at: Number of head-training epochs (fine-tuning starts after it).
        seconds: Wall time per phase: ``{"features": s, "head": s, "fine_tune": s}``.
        kept_phase1: True when fine-tuning never beat the head-only validation
            accuracy and the phase-1 weights were put back.
        epochs_run: Epochs this call actually ran per phase (``{"head": n,
            "fine_tune": n}``); fewer than asked after a resume.
        resumed: The call continued an interrupted run from ``backup_dir``.
    """

    history: dict[str, list[float]]
    fine_tune_at: int
    seconds: dict[str, float]
    kept_phase1: bool = False
    epochs_run: dict[str, int] = dataclasses.field(default_factory=dict)
    resumed: bool = False


def fit_two_phase(
    tm: TransferModel,
    train_ds: tf.data.Dataset,
    val_ds: tf.data.Dataset,
    *,
    head_epochs: int = 10,
    fine_tune_epochs: int = 5,
    unfreeze_from: int | str | float = 0.3,
    head_lr: float = 1e-3,
    fine_tune_lr: float = 1e-5,
    cache_features: bool = True,
    patience: int = 3,
    checkpoint: str | None = None,
    backup_dir: str | os.PathLike | None = None,
    verbose: int = 2,
) -> TwoPhaseResult:
    """Train the head with the base frozen, then fine-tune the top of the base.

    Phase 1 trains only the head. With ``cache_features`` (default), the frozen
    base runs once over the training and validation images and the head
    trains on those features (augmentation layers are inactive then). Phase 2
    calls :func:`tlhelpers.models.unfreeze` (BatchNorm stays frozen),
    recompiles with a lower, cosine-decaying learning rate, and trains the
    whole model with early stopping (best weights restored); its epochs are
    numbered after phase 1 so the curves join.

    Args:
        tm: From :func:`tlhelpers.models.build_transfer_model`.
        train_ds: Batched ``(raw images, labels)`` for training.
        val_ds: Batched ``(raw images, labels)`` for validation.
        head_epochs: Epochs of phase 1. Defaults to 10.
        fine_tune_epochs: Epochs of phase 2 (0 skips it). Defaults to 5.
        unfreeze_from: Passed to ``unfreeze``; checked before phase 1. Defaults to 0.3 (top 30 %).
        head_lr: Adam learning rate of phase 1. Defaults to 1e-3.
        fine_tune_lr: Initial Adam learning rate of phase 2. Defaults to 1e-5.
        cache_features: Train the head on cached features. Defaults to True.
        patience: Early-stopping patience in phase 2. Defaults to 3.
        checkpoint: Path (``.keras``) to save the best model of phase 2 to.
            Defaults to None.
        backup_dir: A folder that makes the run survive interruption (Ctrl-C,
            a Colab disconnect, a killed process): cached features, Keras's
            ``BackupAndRestore`` state after every epoch of each phase, the
            finished phase 1 and a CSV of every epoch's metrics. Calling again
            with the same folder continues where the run stopped; the folder
            is deleted when the call completes. Defaults to None.
        verbose: Keras verbosity. Defaults to 2.

    Returns:
        A :class:`TwoPhaseResult`.

    Raises:
        ValueError: ``unfreeze_from`` does not fit the base (raised before any training).
    """
    import keras

    from tlhelpers import features, models

    if fine_tune_epochs > 0:
        models.unfreeze_start(tm.base, unfreeze_from)  # a wrong unfreeze_from fails now, not after phase 1
    seconds = {"features": 0.0, "head": 0.0, "fine_tune": 0.0}
    metrics = ["accuracy"]
    backup = Path(backup_dir) if backup_dir is not None else None
    resumed = backup is not None and backup.is_dir() and any(backup.iterdir())
    if resumed:
        print(f"Resuming the interrupted run kept in {backup}.")

    def keep(phase: str) -> list[Any]:
        """Callbacks that back a phase up after every epoch (none without backup_dir)."""
        if backup is None:
            return []
        (backup / phase).mkdir(parents=True, exist_ok=True)
        return [keras.callbacks.BackupAndRestore(str(backup / phase)),
                keras.callbacks.CSVLogger(str(backup / f"{phase}.csv"), append=True)]

    phase1_done = backup / "phase1.weights.h5" if backup is not None else None
    epochs_run = {"head": 0, "fine_tune": 0}
    start = time.perf_counter()
    if phase1_done is not None and phase1_done.is_file():
        tm.model.load_weights(phase1_done)  # phase 1 finished before the interruption
        head_hist: Any = _csv_history(backup / "head.csv")
    elif cache_features:
        cache = {} if backup is None else {"train": backup / "train_features.npz", "val": backup / "val_features.npz"}
        train_f = features.extract_features(tm.features, train_ds, desc="train features", cache_file=cache.get("train"))
        val_f = features.extract_features(tm.features, val_ds, desc="validation features", cache_file=cache.get("val"))
        seconds["features"] = time.perf_counter() - start
        start = time.perf_counter()
        with tm.model.distribute_strategy.scope():  # compile where the model was built
            tm.head.compile(keras.optimizers.Adam(head_lr), "sparse_categorical_crossentropy", metrics=metrics)
        batch = _batch_size(train_ds)
        head_hist = tm.head.fit(train_f.features, train_f.labels, validation_data=(val_f.features, val_f.labels),
                                epochs=head_epochs, batch_size=batch, verbose=verbose, callbacks=keep("head"))
        epochs_run["head"] = len(head_hist.history.get("loss", []))
    else:
        with tm.model.distribute_strategy.scope():
            tm.model.compile(keras.optimizers.Adam(head_lr), "sparse_categorical_crossentropy", metrics=metrics)
        head_hist = tm.model.fit(train_ds, validation_data=val_ds, epochs=head_epochs, verbose=verbose,
                                 shuffle=False, callbacks=keep("head"))  # the dataset shuffles itself
        epochs_run["head"] = len(head_hist.history.get("loss", []))
    if backup is not None:
        head_hist = _csv_history(backup / "head.csv")  # every epoch, also those of an interrupted process
        if phase1_done is not None and not phase1_done.is_file():
            tm.model.save_weights(phase1_done)
    seconds["head"] = time.perf_counter() - start
    histories: list[Any] = [head_hist]
    kept_phase1 = False

    if fine_tune_epochs > 0:
        phase1_acc = history_dict(head_hist).get("val_accuracy", [0.0])[-1]  # the weights we hold now
        phase1_weights = tm.model.get_weights()
        start = time.perf_counter()
        models.unfreeze(tm.base, unfreeze_from)
        steps = max(1, int(train_ds.cardinality())) * fine_tune_epochs
        schedule = keras.optimizers.schedules.CosineDecay(fine_tune_lr, decay_steps=steps, alpha=0.1)
        with tm.model.distribute_strategy.scope():
            tm.model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy", metrics=metrics)
        callbacks: list[Any] = [keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=patience,
                                                              restore_best_weights=True)]
        if checkpoint:
            callbacks.append(keras.callbacks.ModelCheckpoint(checkpoint, monitor="val_accuracy",
                                                             save_best_only=True))
        ft_hist = tm.model.fit(train_ds, validation_data=val_ds, epochs=head_epochs + fine_tune_epochs,
                               initial_epoch=head_epochs, callbacks=callbacks + keep("fine_tune"), verbose=verbose,
                               shuffle=False)
        epochs_run["fine_tune"] = len(ft_hist.history.get("loss", []))
        ft_record: Any = _csv_history(backup / "fine_tune.csv") if backup is not None else ft_hist
        histories.append(ft_record)
        if max(history_dict(ft_record).get("val_accuracy", [0.0])) < phase1_acc:  # best epoch was restored
            tm.model.set_weights(phase1_weights)  # fine-tuning did not help: keep the head-only model
            kept_phase1 = True
            print(f"Fine-tuning never beat the head-only validation accuracy ({phase1_acc:.4f}); "
                  "kept the phase-1 weights.")
        seconds["fine_tune"] = time.perf_counter() - start
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)  # finished: nothing left to resume
    return TwoPhaseResult(history=merge_histories(*histories), fine_tune_at=head_epochs,
                          seconds={k: round(v, 2) for k, v in seconds.items()}, kept_phase1=kept_phase1,
                          epochs_run=epochs_run, resumed=resumed)


def _csv_history(path: Path) -> dict[str, list[float]]:
    """Read a ``CSVLogger`` file into ``{metric: values}``, one row per epoch (the last row of a repeated epoch)."""
    import csv

    if not path.is_file():
        return {}
    rows: dict[int, dict[str, str]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            rows[int(row.pop("epoch"))] = row  # an epoch re-run after a resume replaces its earlier row
    keys = sorted({k for r in rows.values() for k in r if k and k != "learning_rate"})
    return {k: [float(rows[e].get(k) or "nan") for e in sorted(rows)] for k in keys}


def _batch_size(ds: Any) -> int:
    """Return the batch size of a batched dataset (32 when it cannot be read)."""
    try:
        x, _ = next(iter(ds.take(1)))
        return int(x.shape[0]) or 32
    except (StopIteration, TypeError, AttributeError):
        return 32
