"""Whole recipes as one call: what ``tlh train`` runs, and what lesson 05 writes out cell by cell.

What belongs here: functions that chain the other rooms (folders -> models
-> training -> evaluate) into a complete job and return a report. They add
no idea of their own; every step is a public function a lesson teaches.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

from tlhelpers import atomic, backbones, evaluate, folders, kerashub, models, training

__all__ = ["TrainReport", "train_folder"]


@dataclasses.dataclass
class TrainReport:
    """What :func:`train_folder` did and measured.

    Attributes:
        model: The ``.keras`` file written (class names inside).
        data: How the folder was used (layout, split, skipped files).
        classes: Class names in label order.
        val_accuracy: Accuracy on the validation images, which also chose the
            epoch (early stopping, phase-1-or-2): an optimistic estimate.
        val_images: How many validation images.
        test_accuracy: Accuracy on held-out images no training decision saw
            (None when there were too few images to hold any out).
        test_images: How many held-out images.
        settings: The training settings used.
        seconds: Wall time per phase.
        kept_phase1: Fine-tuning did not beat the head-only model.
        resumed: This run continued an interrupted one (same folder, output and settings).
        epochs_run: Epochs this run trained per phase (fewer than asked after a resume).
        resumed_at: The epoch (0-based) the run continued from; None when it did not resume.
        history: The learning curves of both phases, the interrupted process's epochs included.
        skipped: Every skipped file: ``{"file", "class", "reason", "group", "fix"}``.
        ignored: Tools' folders and files never read: ``{"path", "why"}``.
        moved_duplicates: Files moved between splits so that no duplicate group straddles two.
    """

    model: str
    data: str
    classes: list[str]
    val_accuracy: float
    val_images: int
    test_accuracy: float | None
    test_images: int
    settings: dict[str, Any]
    seconds: dict[str, float]
    kept_phase1: bool
    resumed: bool = False
    epochs_run: dict[str, int] = dataclasses.field(default_factory=dict)
    resumed_at: int | None = None
    history: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    skipped: list[dict[str, str]] = dataclasses.field(default_factory=list)
    ignored: list[dict[str, str]] = dataclasses.field(default_factory=list)
    moved_duplicates: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict."""
        return dataclasses.asdict(self)


def _splits(root: Path, work: Path, *, image_size: int, batch_size: int,
            seed: int) -> tuple[dict, list[str], str, list[folders.ScanReport], int]:
    """Return ``({"train", "val"[, "test"]: dataset}, classes, description, scan reports, moved duplicates)``."""
    val_dir = next((root / n for n in ("validation", "val") if (root / n).is_dir()), None)
    if (root / "train").is_dir() and val_dir is not None:
        parts = {"train": root / "train"}
        if (root / "test").is_dir():
            parts.update(val=val_dir, test=root / "test")
            how = f"train/, {val_dir.name}/ and test/ used as given"
        else:
            # No test/: half of each validation class is held out; it never chooses an epoch.
            halves = folders.split_folder(val_dir, work / "validation_halves", ratio=(0.5, 0.5), seed=seed)
            parts.update(val=halves.output / "train", test=halves.output / "val")
            how = f"train/ used as given; {val_dir.name}/ halved (seed {seed}): one half validates, one is held out"
        reports = [] if (root / "test").is_dir() else [halves.report]
        moved = 0 if (root / "test").is_dir() else halves.moved_duplicates
        for split, folder in parts.items():
            if split == "train" or (root / "test").is_dir():
                rep = folders.scan(folder)
                reports.append(rep)
                parts[split] = folders.write_clean_tree(rep, work / "clean" / split)
        out, names = folders.load_splits(parts, image_size=image_size, batch_size=batch_size, seed=seed)
        skipped = sum(len(r.skipped) for r in reports)
        return out, names, f"{root}: {how}; {skipped} unusable files skipped", reports, moved
    result = folders.split_folder(root, work / "split_data", ratio=(0.7, 0.15, 0.15), seed=seed)
    splits, names = folders.load_splits(result.output, image_size=image_size, batch_size=batch_size, seed=seed)
    return splits, names, (f"{root}: split 70 % / 15 % / 15 % (train / validation / held-out test) with seed "
                           f"{seed}; {len(result.report.skipped)} unusable files skipped"), [result.report], \
        result.moved_duplicates


def _audit(reports: list[folders.ScanReport], moved: int) -> dict[str, Any]:
    """Return what the report records of the folder: every skipped file with its group and fix, ignored tool folders."""
    skipped = []
    for f in (f for r in reports for f in r.skipped):
        group, fix = folders.skip_group(f.reason)
        skipped.append({"file": str(f.path), "class": f.class_name, "reason": f.reason, "group": group, "fix": fix})
    ignored = [{"path": str(path), "why": why} for r in reports for path, why in r.ignored]
    return {"skipped": skipped, "ignored": ignored, "moved_duplicates": moved}


def _resume_folder(work: Path, settings: dict[str, Any], *, verbose: bool = True) -> Path:
    """Return the backup folder of ``fit_two_phase`` for these settings (an interrupted run's, if the same).

    An interrupted run with other settings (or whose settings cannot be read) is removed: it cannot be continued.
    """
    backup = work / "resume"
    stamp = work / "resume_settings.json"
    if backup.is_dir():
        try:
            kept = json.loads(stamp.read_text(encoding="utf-8"))
        except FileNotFoundError:
            kept = None
        except (OSError, ValueError) as exc:
            warnings.warn(f"The settings of the interrupted run, {stamp}, could not be read "
                          f"({type(exc).__name__}: {exc}); starting over.", stacklevel=2)
            kept = None
        if kept != settings:
            if kept is not None and verbose:
                print(f"An interrupted run with other settings was kept in {backup}; starting over.")
            shutil.rmtree(backup)
    atomic.write_json(stamp, settings)
    return backup


def _checked_request(folder: str | os.PathLike, out: str | os.PathLike, backbone: str) -> tuple[Path, Path]:
    """Check the folder, the model path and the backbone before any work; return both paths."""
    if not kerashub.is_preset(backbone):
        backbones.get(backbone)  # unknown names fail before any work (a preset: when it is resolved)
    root, out = Path(folder).expanduser(), Path(out).expanduser()
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder. Pass a folder with one subfolder per class.")
    if out.suffix != ".keras":
        raise ValueError(f"The model file must end in .keras, got {out}.")
    return root, out


def _say_split(text: str, reports: list[folders.ScanReport], audit: dict[str, Any], root: Path, out: Path) -> None:
    """Print the split and up to five skipped files per scanned folder (the report lists them all)."""
    print(text)
    for rep in reports:
        for line in rep.skipped_lines(max_listed=5, base=root):
            print(line)
    if len(audit["skipped"]) > 5:
        print(f"Every skipped file is listed in {out.with_suffix('.report.json')} (\"skipped\").")


def _held_out(model: Any, splits: dict[str, Any]) -> tuple[Any, Any]:
    """Predict the validation split and, when there is one, the test split."""
    val = evaluate.predict_dataset(model, splits["val"], keep_images=0)
    test = evaluate.predict_dataset(model, splits["test"], keep_images=0) if "test" in splits else None
    return val, test


def train_folder(
    folder: str | os.PathLike,
    out: str | os.PathLike,
    *,
    backbone: str = "MobileNetV2",
    alpha: float | None = None,
    image_size: int = 224,
    batch_size: int = 32,
    epochs: int = 10,
    fine_tune_epochs: int = 3,
    unfreeze_from: int | str | float = 100,
    seed: int = 42,
    strategy: Any = None,
    verbose: int = 2,
) -> TrainReport:
    """Fine-tune a backbone on a folder of images and save a self-describing ``.keras`` file.

    The recipe of lesson 05: scan and split the folder (unusable files skipped,
    the folder itself only read), build a frozen backbone with augmentation and
    a new head inside the strategy's scope, train the head on cached features,
    fine-tune the top of the base with BatchNorm frozen, then measure on
    held-out images and save the model with its class names. Writes
    ``out`` and ``<out>.report.json``; working copies go to ``<out>_data/``.

    Held-out images: a ``test/`` folder when given; else half of
    ``validation/``; a single class-per-folder tree is split 70/15/15.

    Interrupted (Ctrl-C, a Colab disconnect, a killed process)? Run it again
    with the same arguments: it continues from the last finished epoch (kept
    in ``<out>_data/resume``) and the report says ``resumed``. Other settings
    start over. ``out`` and the report are written atomically: a file at the
    final path is always complete.

    Args:
        folder: Class-per-folder images, or a folder with ``train/`` and ``validation/`` (and maybe ``test/``).
        out: The ``.keras`` file to write.
        backbone: Registry name (see ``tlh backbones``) or ``"kerashub:<preset or folder>"``. Defaults to
            ``"MobileNetV2"``.
        alpha: Width multiplier (MobileNets). Defaults to None.
        image_size: Input side length. Defaults to 224.
        batch_size: Batch size per replica. Defaults to 32.
        epochs: Head epochs (base frozen). Defaults to 10.
        fine_tune_epochs: Fine-tuning epochs (0 skips). Defaults to 3.
        unfreeze_from: See :func:`tlhelpers.models.unfreeze`. Defaults to 100.
        seed: Split, shuffle and augmentation seed. Defaults to 42.
        strategy: A ``tf.distribute`` strategy. Defaults to :func:`tlhelpers.training.setup_accelerator`'s.
        verbose: Keras verbosity of training; 0 also silences this function's own lines (the split, the skipped
            files; the report holds them). Defaults to 2.

    Returns:
        A :class:`TrainReport`.

    Raises:
        KeyError: Unknown backbone (the message lists the known ones).
        ValueError: ``out`` does not end in ``.keras``.
        tlhelpers.folders.FolderError: The folder cannot be used (the message says why).
    """
    root, out = _checked_request(folder, out, backbone)
    strategy = strategy or training.setup_accelerator(verbose=bool(verbose))
    settings = {"folder": str(root.resolve()), "backbone": backbone, "alpha": alpha, "image_size": image_size,
                "batch_size": batch_size, "epochs": epochs, "fine_tune_epochs": fine_tune_epochs,
                "unfreeze_from": unfreeze_from, "seed": seed, "replicas": strategy.num_replicas_in_sync}
    work = out.with_suffix("")
    work = work.parent / f"{work.name}_data"
    backup = _resume_folder(work, settings, verbose=bool(verbose))
    splits, classes, text, reports, moved = _splits(root, work, image_size=image_size,
                                                    batch_size=batch_size * strategy.num_replicas_in_sync, seed=seed)
    audit = _audit(reports, moved)
    if verbose:
        _say_split(text, reports, audit, root, out)
    training.set_seed(seed)
    with strategy.scope():
        tm = models.build_transfer_model(backbone, len(classes), image_size=image_size, alpha=alpha,
                                         augmentation=models.build_augmentation(seed=seed))
    result = training.fit_two_phase(tm, splits["train"], splits["val"], head_epochs=epochs,
                                    fine_tune_epochs=fine_tune_epochs, unfreeze_from=unfreeze_from,
                                    backup_dir=backup, verbose=verbose)
    val, test = _held_out(tm.model, splits)
    atomic.write_with(out, models.with_class_names(tm.model, classes).save)  # the final path: never half a file
    (work / "resume_settings.json").unlink(missing_ok=True)  # finished: nothing to resume
    report = TrainReport(
        model=str(out), data=text, classes=classes, val_accuracy=float(val.accuracy), val_images=len(val.labels),
        test_accuracy=None if test is None or not len(test.labels) else float(test.accuracy),
        test_images=0 if test is None else len(test.labels),
        settings=settings, seconds=result.seconds, kept_phase1=result.kept_phase1, resumed=result.resumed,
        epochs_run=result.epochs_run, resumed_at=result.resumed_at, history=result.history, **audit)
    atomic.write_json(out.with_suffix(".report.json"), report.to_dict())
    return report
