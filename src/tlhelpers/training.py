"""Training helpers: seeding, timing, the accelerator, and the two-phase recipe with its resumable backup.

What belongs here: code around ``model.fit`` that every lesson repeats.
``fit_two_phase`` does the whole recipe itself: it freezes the base, compiles
and trains the head, unfreezes the top of the base (BatchNorm kept frozen),
recompiles with a lower learning rate and fine-tunes, with a backup after
every epoch that survives a killed session. Lesson 03 writes those steps out
by hand before it uses the helper.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import warnings
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
    :mod:`tlhelpers.course.rehearsal`). Without an accelerator, says so and what to
    switch on.

    Args:
        mixed_precision: Allow mixed precision. Defaults to True.
        verbose: Print what was chosen. Defaults to True.

    Returns:
        The strategy; build **and compile** models inside ``strategy.scope()``.
    """
    import keras
    import tensorflow as tf

    from tlhelpers.course import sources

    rehearsed = sources.rehearsed_strategy(mixed_precision=mixed_precision, verbose=verbose)
    if rehearsed is not None:  # the course's GPU-shaped rehearsal (TLH_REHEARSE) set the CPU up as a GPU runtime
        return rehearsed
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
            print(no_accelerator_advice(full=not sources.offline()))
    return strategy


def describe_accelerator() -> str:
    """Say, without changing anything, what :func:`setup_accelerator` would choose here.

    Returns:
        One line each for the strategy, the precision policy and the XLA
        decision (``jit_compile="auto"``), as on this machine (or as in the
        active rehearsal).
    """
    import tensorflow as tf

    from tlhelpers.course import sources

    banner = sources.rehearsal_banner()  # None unless the course rehearses a GPU runtime on the CPU
    count = sources.gpu_count()
    gpus = tf.config.list_physical_devices("GPU")
    tpu = tpu_runtime() and not gpus
    if count > 1:
        strategy = f"MirroredStrategy over {count} replicas"
    elif tpu:
        strategy = "default strategy (the CPU: TensorFlow cannot use this runtime's TPU)"
    else:
        strategy = "default strategy (one device)"
    if banner:
        precision = "mixed_float16 (rehearsal)"
    elif gpus:
        cc = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))
        precision = "mixed_float16" if cc >= (7, 0) else f"float32 (compute capability {cc[0]}.{cc[1]} < 7.0)"
    else:
        precision = "float32 (no GPU)"
    lines = [f"Strategy: {strategy}", f"Precision: {precision}"]
    lines.append(xla_decision())
    if banner:
        lines.insert(0, banner)
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

    from tlhelpers import kerascompat
    from tlhelpers.course import sources

    gpus = sources.gpu_count()  # the real GPUs, or the ones the course's rehearsal imitates
    if not gpus:
        return "XLA: off (Keras turns jit_compile='auto' off on machines without a GPU)."
    if tf.distribute.has_strategy() or gpus > 1:
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
        resumed_at: The epoch this call continued from (the first it trained; the
            total when nothing was left to train); None when it did not resume.
            Curves drawn with ``plots.plot_history(..., resumed_at=)`` mark it.
    """

    history: dict[str, list[float]]
    fine_tune_at: int
    seconds: dict[str, float]
    kept_phase1: bool = False
    epochs_run: dict[str, int] = dataclasses.field(default_factory=dict)
    resumed: bool = False
    resumed_at: int | None = None


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
            a Colab disconnect, a killed process at any instant): cached
            features, after every epoch the weights with the optimizer's state,
            every epoch's metrics and early stopping's state, and the finished
            phase 1, each file written atomically. Calling again with the same
            folder continues after the last finished epoch (a backup file that
            cannot be read is named in one line and that step starts over);
            the folder is deleted when the call completes. Defaults to None.
        verbose: Keras verbosity; 0 also silences this function's own lines
            (feature progress, resuming, phase 1 kept), which the result
            carries anyway. A backup file that cannot be read is a warning;
            an interruption is always said. Defaults to 2.

    Returns:
        A :class:`TwoPhaseResult`.

    Raises:
        ValueError: ``unfreeze_from`` does not fit the base (raised before any training).
    """
    from tlhelpers import models

    if fine_tune_epochs > 0:
        models.unfreeze_start(tm.base, unfreeze_from)  # a wrong unfreeze_from fails now, not after phase 1
    seconds = {"features": 0.0, "head": 0.0, "fine_tune": 0.0}
    backup = _Backup(backup_dir, verbose=verbose)
    kept_phase1 = False
    try:
        head_hist = _train_head(tm, train_ds, val_ds, backup, epochs=head_epochs, lr=head_lr,
                                cache_features=cache_features, seconds=seconds)
        histories: list[Any] = [head_hist]
        if fine_tune_epochs > 0:
            start = time.perf_counter()
            ft_hist, kept_phase1 = _fine_tune(tm, train_ds, val_ds, backup, head_hist, head_epochs=head_epochs,
                                              epochs=fine_tune_epochs, lr=fine_tune_lr, unfreeze_from=unfreeze_from,
                                              patience=patience, checkpoint=checkpoint)
            histories.append(ft_hist)
            seconds["fine_tune"] = time.perf_counter() - start
    except KeyboardInterrupt:
        if backup.folder is not None:
            print(f"\nInterrupted: every finished epoch is kept in {backup.folder}; the same call again continues "
                  "from there.")
        raise
    backup.finished()
    resumed_at = (backup.first_epoch[0] if backup.first_epoch else head_epochs + fine_tune_epochs) \
        if backup.resumed else None
    return TwoPhaseResult(history=merge_histories(*histories), fine_tune_at=head_epochs,
                          seconds={k: round(v, 2) for k, v in seconds.items()}, kept_phase1=kept_phase1,
                          epochs_run=backup.epochs_run, resumed=backup.resumed, resumed_at=resumed_at)


def _train_head(tm: TransferModel, train_ds: Any, val_ds: Any, backup: _Backup, *, epochs: int, lr: float,
                cache_features: bool, seconds: dict[str, float]) -> dict[str, list[float]]:
    """Phase 1: the base frozen, only the head trains (on features computed once, or on the images)."""
    import keras

    from tlhelpers import features

    start = time.perf_counter()
    head_hist = backup.finished_head(tm.model)
    if head_hist is None and cache_features:
        train_f = features.extract_features(tm.features, train_ds, desc="train features", progress=backup.verbose > 0,
                                            cache_file=backup.file("train_features.npz"))
        val_f = features.extract_features(tm.features, val_ds, desc="validation features", progress=backup.verbose > 0,
                                          cache_file=backup.file("val_features.npz"))
        seconds["features"] = time.perf_counter() - start
        start = time.perf_counter()
        with tm.model.distribute_strategy.scope():  # compile where the model was built
            tm.head.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
        head_hist = backup.fit(tm.head, "head", train_f.features, total=epochs, y=train_f.labels,
                               validation_data=(val_f.features, val_f.labels), batch_size=_batch_size(train_ds))
    elif head_hist is None:
        with tm.model.distribute_strategy.scope():
            tm.model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
        head_hist = backup.fit(tm.model, "head", train_ds, total=epochs, validation_data=val_ds,
                               shuffle=False)  # the dataset shuffles itself
    backup.keep_head(tm.model)
    seconds["head"] = time.perf_counter() - start
    return head_hist


def _fine_tune(tm: TransferModel, train_ds: Any, val_ds: Any, backup: _Backup, head_hist: Any, *,
               head_epochs: int, epochs: int, lr: float, unfreeze_from: int | str | float, patience: int,
               checkpoint: str | None) -> tuple[dict[str, list[float]], bool]:
    """Phase 2: unfreeze the top of the base (BatchNorm stays frozen), recompile lower, train with early stopping.

    Returns the phase's curve and whether the phase-1 weights were kept (fine-tuning never beat them).
    """
    import keras

    from tlhelpers import models

    phase1_acc = history_dict(head_hist).get("val_accuracy", [0.0])[-1]  # the weights we hold now
    phase1_weights = tm.model.get_weights()
    models.unfreeze(tm.base, unfreeze_from)
    batches = int(train_ds.cardinality())
    if batches == -2:  # unknown (after filter(), say): count one pass, so the schedule spans the epochs
        batches = int(train_ds.reduce(0, lambda n, _: n + 1))
    schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, batches) * epochs, alpha=0.1)
    with tm.model.distribute_strategy.scope():
        tm.model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy", metrics=["accuracy"])
    stopper = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=patience, restore_best_weights=True)
    callbacks: list[Any] = [stopper]
    if checkpoint:
        callbacks.append(keras.callbacks.ModelCheckpoint(checkpoint, monitor="val_accuracy", save_best_only=True))
    record = backup.fit(tm.model, "fine_tune", train_ds, total=head_epochs + epochs, initial=head_epochs,
                        stopper=stopper, validation_data=val_ds, callbacks=callbacks, shuffle=False)
    if max(history_dict(record).get("val_accuracy", [0.0])) < phase1_acc:  # its best epoch was restored
        tm.model.set_weights(phase1_weights)  # fine-tuning did not help: keep the head-only model
        if backup.verbose:
            print(f"Fine-tuning never beat the head-only validation accuracy ({phase1_acc:.4f}); "
                  "kept the phase-1 weights.")
        return record, True
    return record, False


class _Backup:
    """The backup folder of one :func:`fit_two_phase` call, or nothing kept when ``folder`` is None.

    It knows what an interrupted call left (cached features, the finished phase 1, each phase's last epoch)
    and fits a phase from where its backup stopped.
    """

    def __init__(self, folder: str | os.PathLike | None, *, verbose: int) -> None:
        from tlhelpers import atomic

        self.folder = Path(folder) if folder is not None else None
        self.verbose = verbose
        if self.folder is not None:
            atomic.remove_partials(self.folder)  # files a killed process was writing: never complete, never read
        self.resumed = self.folder is not None and self.folder.is_dir() and any(self.folder.iterdir())
        if self.resumed and verbose:
            print(f"Resuming the interrupted run kept in {self.folder}.")
        self.epochs_run = {"head": 0, "fine_tune": 0}
        self.first_epoch: list[int] = []  # the first epoch this call trains (where a resumed run's curve continues)

    def file(self, name: str) -> Path | None:
        """Return the path of a backup file, or None when nothing is kept."""
        return None if self.folder is None else self.folder / name

    def finished_head(self, model: keras.Model) -> dict[str, list[float]] | None:
        """Load phase 1's weights when it finished before the interruption; return its curve, else None."""
        done = self.file("phase1.weights.h5")
        if done is None or not done.is_file():
            return None
        try:
            model.load_weights(done)
            return _rows_history(json.loads(self.folder.joinpath("head.json").read_text(encoding="utf-8"))["history"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            warnings.warn(_unusable(done, exc, "phase 1 (the head) starts over"), stacklevel=2)
            done.unlink()
            return None

    def keep_head(self, model: keras.Model) -> None:
        """Keep the finished phase 1 (once)."""
        from tlhelpers import atomic

        done = self.file("phase1.weights.h5")
        if done is not None and not done.is_file():
            atomic.write_with(done, model.save_weights)

    def fit(self, model: keras.Model, phase: str, x: Any, *, total: int, initial: int = 0,
            stopper: keras.callbacks.EarlyStopping | None = None, **fit_kwargs: Any) -> dict[str, list[float]]:
        """Fit one phase from where its backup stopped; return the phase's whole curve."""
        state = _load_backup(self.folder, phase, model, stopper, verbose=bool(self.verbose)) \
            if self.folder is not None else None
        start_epoch = initial if state is None else state["epoch"] + 1
        callbacks = list(fit_kwargs.pop("callbacks", []))
        saver = None if self.folder is None else _EpochBackup(self.folder, phase, state, stopper)
        if state is None or (start_epoch < total and not state["stopped"]):
            self.first_epoch.append(start_epoch)
            hist = model.fit(x, epochs=total, initial_epoch=start_epoch, verbose=self.verbose,
                             callbacks=callbacks + ([saver] if saver else []), **fit_kwargs)
            self.epochs_run[phase] = len(hist.history.get("loss", []))
            return _rows_history(saver.rows) if saver else history_dict(hist)
        if stopper is not None and state.get("best_weights") is not None:
            model.set_weights(state["best_weights"])  # what EarlyStopping restores when a phase ends
        return _rows_history(state["history"])

    def finished(self) -> None:
        """Delete the backup: the call completed, nothing is left to resume."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _unusable(path: Path, exc: BaseException, then: str) -> str:
    """One line: which backup file could not be read, what the reader said, and what happens instead."""
    return f"The backup {path} could not be read ({type(exc).__name__}: {exc}); {then}."


class _EpochBackup(keras.callbacks.Callback):
    """Back a phase up after every epoch: weights with the optimizer's state, the metrics, early stopping's state.

    Files in the backup folder, each written atomically (:mod:`tlhelpers.atomic`): ``<phase>-epochNNN.weights.h5``
    (``model.save_weights`` holds the optimizer's variables too: step count, Adam's moments, the schedule's
    position) and ``<phase>.json``, written last, which names the weights file and makes the epoch count.
    A kill at any instant leaves the previous epoch's complete pair.
    """

    def __init__(self, folder: Path, phase: str, state: dict | None,
                 stopper: keras.callbacks.EarlyStopping | None) -> None:
        super().__init__()
        self.folder, self.phase, self.stopper, self.state = folder, phase, stopper, state
        self.rows: list[dict[str, float]] = list(state["history"]) if state else []

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.stopper is not None and self.state and self.state.get("early_stopping"):
            es = self.state["early_stopping"]  # after EarlyStopping's own on_train_begin reset it
            self.stopper.wait, self.stopper.best, self.stopper.best_epoch = es["wait"], es["best"], es["best_epoch"]
            self.stopper.best_weights = self.state.get("best_weights")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        from tlhelpers import atomic

        self.rows = [r for r in self.rows if r["epoch"] != epoch]
        self.rows.append({"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}})
        name = f"{self.phase}-epoch{epoch:03d}.weights.h5"
        atomic.write_with(self.folder / name, self.model.save_weights)
        es = None
        keep = {name}
        if self.stopper is not None and self.stopper.best_weights is not None:
            best = f"{self.phase}-epoch{self.stopper.best_epoch:03d}.weights.h5"
            keep.add(best)
            es = {"wait": self.stopper.wait, "best": self.stopper.best, "best_epoch": self.stopper.best_epoch,
                  "best_file": best}
        atomic.write_json(self.folder / f"{self.phase}.json",
                          {"phase": self.phase, "epoch": epoch, "weights": name, "stopped": self.model.stop_training,
                           "history": self.rows, "early_stopping": es})
        for old in self.folder.glob(f"{self.phase}-epoch*.weights.h5"):
            if old.name not in keep:
                old.unlink()


def _load_backup(folder: Path, phase: str, model: keras.Model,
                 stopper: keras.callbacks.EarlyStopping | None, *, verbose: bool = True) -> dict | None:
    """Load a phase's last backed-up epoch into ``model``; None (and a warning naming the file) when none is usable."""
    path = folder / f"{phase}.json"
    if not path.is_file():
        return None
    weights = [v.numpy() for v in model.weights]
    optimizer_state: list[Any] = []
    reading = path  # the file being read, named if it cannot be
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        state["epoch"], state["stopped"] = int(state["epoch"]), bool(state["stopped"])
        if not isinstance(state["history"], list):
            raise TypeError(f"'history' is a {type(state['history']).__name__}, not a list")
        with model.distribute_strategy.scope():
            if model.optimizer is not None and not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)  # so its saved state has variables to go into
        optimizer_state = [v.numpy() for v in model.optimizer.variables] if model.optimizer is not None else []
        es = state.get("early_stopping")
        if stopper is not None and es:
            reading = folder / es["best_file"]
            model.load_weights(reading)
            state["best_weights"] = model.get_weights()
        reading = folder / state["weights"]
        model.load_weights(reading)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        for var, value in zip(model.weights, weights, strict=True):  # undo a load that failed halfway
            var.assign(value)
        for var, value in zip(model.optimizer.variables if optimizer_state else [], optimizer_state, strict=True):
            var.assign(value)
        warnings.warn(_unusable(reading, exc, f"the {phase.replace('_', '-')} phase starts over from its first epoch"),
                      stacklevel=2)
        for stale in [path, *folder.glob(f"{phase}-epoch*.weights.h5")]:
            stale.unlink(missing_ok=True)
        return None
    if verbose:
        print(f"{phase.replace('_', '-')} phase: continuing after epoch {state['epoch'] + 1} "
              f"(weights, optimizer state{' and early stopping' if es else ''} restored from {folder}).")
    return state


def _rows_history(rows: list[dict[str, float]]) -> dict[str, list[float]]:
    """Turn per-epoch rows (``{"epoch": e, metric: value}``) into ``{metric: values}`` in epoch order."""
    rows = sorted(rows, key=lambda r: r["epoch"])
    keys = sorted({k for r in rows for k in r if k not in ("epoch", "learning_rate")})
    return {k: [float(r.get(k, float("nan"))) for r in rows] for k in keys}


def _batch_size(ds: Any) -> int:
    """Return the batch size of a batched dataset (32 when it cannot be read)."""
    try:
        x, _ = next(iter(ds.take(1)))
        return int(x.shape[0]) or 32
    except (StopIteration, TypeError, AttributeError):
        return 32
