"""Run mode, per-lesson settings and where files live.

This module is the one place that knows whether the course runs in **smoke
mode** (the laptop tier: small slices of real data, minutes on a laptop CPU,
used by CI; see :mod:`tlhelpers.course.realfiles`) or **full
mode** (real data and weights, what you run on a Colab or Kaggle GPU). Every
lesson reads its sizes from :func:`settings`; the cells themselves are the same
in both modes.

Switch smoke mode on with the environment variable ``TLH_SMOKE=1`` (``tlh run
--smoke`` and the test suite set it for you).

The **GPU-shaped rehearsal** (``TLH_REHEARSE=1gpu`` or ``TLH_REHEARSE=2gpu``,
``tlh run --rehearse 1gpu``) runs the *full-mode* configuration of every lesson
(the same backbones, hub contracts, image and batch sizes, unfreeze points and
strategy/precision code) on a CPU, under what a GPU runtime brings: mixed
precision and XLA decided as Keras decides on one GPU (``1gpu``), or a
two-replica ``MirroredStrategy`` (``2gpu``). Only the amount of data, the
number of steps and the weight source differ: offline data as in smoke mode,
and stand-in weight files with random values laid out under the rehearsal's
own cache root, where full mode looks for them. It proves that full mode runs,
never what it scores.

Paths:

* ``TLH_CACHE_DIR``: the cache root for datasets, weights and TF-Hub modules
  (default ``<repo>/data/cache`` for a source checkout, else
  ``~/.cache/tlhelpers``).
* ``TLH_ASSETS_DIR``: the offline assets folder (default: the first
  ``shared/assets`` found beside the repository or the working directory).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "SMOKE_ENV",
    "REHEARSE_ENV",
    "REHEARSAL_SHAPES",
    "LessonSettings",
    "smoke_mode",
    "rehearsal",
    "environment",
    "lesson_key",
    "lesson_keys",
    "full_settings",
    "rehearsal_settings",
    "mode",
    "offline_sources",
    "settings",
    "describe_mode",
    "cache_root",
    "models_dir",
    "assets_dir",
    "require_asset",
    "repo_root",
]

SMOKE_ENV = "TLH_SMOKE"
REHEARSE_ENV = "TLH_REHEARSE"
REHEARSAL_SHAPES = {
    "1gpu": "one GPU (Colab T4): mixed_float16, XLA decided as Keras decides on one GPU",
    "2gpu": "two GPUs (Kaggle T4 x2): MirroredStrategy over two replicas, mixed_float16",
}
_TRUE = {"1", "true", "yes", "on"}


@contextlib.contextmanager
def environment(changes: dict[str, str | None]) -> Iterator[None]:
    """Set (a value) or unset (None) environment variables for a block, then put every one back as it was.

    Args:
        changes: ``{name: value or None}``.

    Yields:
        Nothing; the variables are changed inside the ``with`` block.
    """
    backup = {k: os.environ.get(k) for k in changes}
    try:
        _set_environment(changes)
        yield
    finally:
        _set_environment(backup)


def _set_environment(values: dict[str, str | None]) -> None:
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def smoke_mode() -> bool:
    """Tell whether smoke mode is on.

    Returns:
        True when the environment variable ``TLH_SMOKE`` is ``1``, ``true``,
        ``yes`` or ``on`` (any case).
    """
    return os.environ.get(SMOKE_ENV, "").strip().lower() in _TRUE and rehearsal() is None


def rehearsal() -> str | None:
    """Tell which GPU-shaped rehearsal is on, if any.

    Returns:
        ``"1gpu"`` or ``"2gpu"`` (the value of ``TLH_REHEARSE``), or None when
        the variable is unset, empty or ``0``. A rehearsal wins over smoke mode.

    Raises:
        ValueError: ``TLH_REHEARSE`` holds an unknown value.
    """
    value = os.environ.get(REHEARSE_ENV, "").strip().lower()
    if value in ("", "0", "off", "no", "false"):
        return None
    if value not in REHEARSAL_SHAPES:
        raise ValueError(f"{REHEARSE_ENV}={value!r} is not a rehearsal shape; use one of "
                         f"{', '.join(REHEARSAL_SHAPES)} (or unset it).")
    return value


def mode() -> str:
    """Return the active mode: ``"smoke"``, ``"rehearsal"`` or ``"full"``."""
    if rehearsal() is not None:
        return "rehearsal"
    return "smoke" if smoke_mode() else "full"


def offline_sources() -> bool:
    """Tell whether data, weights and modules come from offline sources (smoke mode and the rehearsal).

    Returns:
        True in smoke mode and in the rehearsal: nothing is downloaded.
    """
    return mode() != "full"


@dataclasses.dataclass(frozen=True)
class LessonSettings:
    """The numbers a lesson needs, for one mode.

    Attributes:
        mode: ``"smoke"`` or ``"full"``.
        image_size: Side length in pixels the images are resized to.
        batch_size: Global batch size.
        epochs: Epochs of the first (or only) training phase.
        fine_tune_epochs: Epochs of the fine-tuning phase (0 if none).
        train_examples: How many training examples to use (None: all); for
            folder datasets, per class.
        val_examples: How many validation examples to use (None: all); for
            folder datasets, per class.
        test_examples: How many test examples to use (None: all).
        source: Where the data comes from in this mode, in words.
        extra: Lesson-specific values (a read-only mapping).
        downloads: What this part of the lesson downloads in full mode besides
            the models its ``extra`` names (``"tfds:<name>"`` or ``"file:<name>"``;
            ``tlh prefetch`` reads it). Empty in smoke mode.
    """

    mode: str
    image_size: int
    batch_size: int
    epochs: int
    fine_tune_epochs: int = 0
    train_examples: int | None = None
    val_examples: int | None = None
    test_examples: int | None = None
    source: str = ""
    extra: tuple[tuple[str, object], ...] = ()
    downloads: tuple[str, ...] = ()

    def get(self, key: str, default: object = None) -> object:
        """Return a lesson-specific value from ``extra``.

        Args:
            key: Name of the value.
            default: Returned when the key is absent. Defaults to None.

        Returns:
            The value, or ``default``.
        """
        return dict(self.extra).get(key, default)


#: Smoke mode's CIFAR-10 (lessons 01-03): real where it can be, generated (and said so) where it cannot.
_SMOKE_CIFAR10 = ("a small slice of CIFAR-10 from TensorFlow Datasets (downloaded once, 170 MB) where the cache or "
                  "the network has it, else tfds.testing.mock_data: random CIFAR-10-shaped images, marked meaningless")

_LESSONS: dict[str, dict[str, LessonSettings]] = {
    "01": {
        "full": LessonSettings(
            mode="full", image_size=96, batch_size=64, epochs=10,
            source="CIFAR-10 from TensorFlow Datasets (50,000 train / 10,000 test, 32x32 RGB)",
            downloads=("tfds:cifar10",),
        ),
        "smoke": LessonSettings(
            mode="smoke", image_size=32, batch_size=32, epochs=2,
            train_examples=320, val_examples=64, test_examples=128,
            source=_SMOKE_CIFAR10,
        ),
    },
    "02": {
        "full": LessonSettings(
            mode="full", image_size=96, batch_size=64, epochs=10,
            source="CIFAR-10 from TensorFlow Datasets (45,000 train / 5,000 validation / 10,000 test)",
            downloads=("tfds:cifar10",),
            extra=(("handle", "resnet_v2_50"), ("head_lr", 1e-3), ("aug_passes", 3)),
        ),
        "smoke": LessonSettings(
            mode="smoke", image_size=96, batch_size=32, epochs=3,
            train_examples=128, val_examples=64, test_examples=64,
            source=_SMOKE_CIFAR10,
            extra=(("handle", "resnet_v2_50"), ("head_lr", 1e-3), ("aug_passes", 2)),
        ),
    },
    "02-folder": {
        "full": LessonSettings(
            mode="full", image_size=299, batch_size=32, epochs=10,
            source="cats_and_dogs_filtered (2,000 train / 1,000 validation photos), downloaded",
            downloads=("file:cats_and_dogs_filtered",),
            extra=(("handle", "inception_v3"), ("head_lr", 1e-3)),
        ),
        "smoke": LessonSettings(
            mode="smoke", image_size=299, batch_size=32, epochs=3,
            train_examples=60, val_examples=40,
            source="cats_and_dogs_filtered photos (cached or downloaded once; generated without network), "
                   "60/40 per class",
            extra=(("handle", "inception_v3"), ("head_lr", 1e-3)),
        ),
    },
    "04": {
        "full": LessonSettings(
            mode="full", image_size=160, batch_size=32, epochs=10, fine_tune_epochs=0,
            val_examples=250,
            source="cats_and_dogs_filtered (2,000 train; validation split 250 + 250 per class into val and test)",
            downloads=("file:cats_and_dogs_filtered",),
            extra=(("candidates", ("VGG16", "InceptionV3", "ResNet101V2", "EfficientNetV2B0", "ConvNeXtTiny",
                                   "MobileNetV3Large", "MobileNetV2", "SqueezeNet", "scratch")),
                   ("sweep_per_class", (10, 50, 200, None)), ("sweep_epochs", 10), ("sweep_fine_tune_epochs", 3),
                   ("sweep_backbone", "MobileNetV2")),
        ),
        "smoke": LessonSettings(
            mode="smoke", image_size=160, batch_size=32, epochs=5, fine_tune_epochs=0,
            train_examples=100, val_examples=50, test_examples=50,
            source="cats_and_dogs_filtered photos (cached or downloaded once; generated without network), "
                   "100 / 50 / 50 per class",
            extra=(("candidates", ("MobileNetV2@0.35", "SqueezeNet", "scratch")),
                   ("sweep_per_class", (5, 20)), ("sweep_epochs", 3), ("sweep_fine_tune_epochs", 1),
                   ("sweep_backbone", "MobileNetV2@0.35")),
        ),
    },
    "05": {
        "full": LessonSettings(
            mode="full", image_size=224, batch_size=32, epochs=10, fine_tune_epochs=5,
            source="TensorFlow flower_photos (3,670 photos, 5 classes), downloaded",
            downloads=("file:flower_photos",),
            extra=(("backbone", "MobileNetV2"), ("alpha", 1.0), ("unfreeze_from", 100), ("head_lr", 1e-3),
                   ("fine_tune_lr", 1e-5), ("ratio", (0.8, 0.1, 0.1))),
        ),
        "smoke": LessonSettings(
            mode="smoke", image_size=224, batch_size=16, epochs=8, fine_tune_epochs=1,
            source="150 photos per class of cats_and_dogs_filtered (cached or downloaded once; generated without "
                   "network)",
            extra=(("backbone", "MobileNetV2"), ("alpha", 0.35), ("unfreeze_from", 100), ("head_lr", 1e-3),
                   ("fine_tune_lr", 1e-5), ("ratio", (0.6, 0.2, 0.2))),
        ),
    },
    "06": {
        "full": LessonSettings(
            mode="full", image_size=224, batch_size=32, epochs=5, fine_tune_epochs=2,
            source="TensorFlow flower_photos (3,670 photos, 5 classes), downloaded (the data of lesson 05)",
            downloads=("file:flower_photos",),
            extra=(("backbone", "MobileNetV2"), ("alpha", 1.0), ("unfreeze_from", 100), ("ratio", (0.8, 0.1, 0.1)),
                   ("top_losses", 8)),
        ),
        "smoke": LessonSettings(
            mode="smoke", image_size=224, batch_size=16, epochs=5, fine_tune_epochs=1,
            source="150 photos per class of cats_and_dogs_filtered (cached or downloaded once; generated without "
                   "network)",
            extra=(("backbone", "MobileNetV2"), ("alpha", 0.35), ("unfreeze_from", 100), ("ratio", (0.6, 0.2, 0.2)),
                   ("top_losses", 8)),
        ),
    },
    "03": {
        "full": LessonSettings(
            mode="full", image_size=160, batch_size=32, epochs=10, fine_tune_epochs=10,
            source="cats_and_dogs_filtered (2,000 train / 1,000 validation photos), downloaded",
            downloads=("file:cats_and_dogs_filtered", "file:imagenet_class_index"),
            extra=(("backbone", "MobileNetV2"), ("alpha", 1.0), ("unfreeze_from", 100),
                   ("head_lr", 1e-3), ("fine_tune_lr", 1e-5), ("classifier", "EfficientNetB0"),
                   ("bn_backbone", "MobileNetV2"), ("bn_alpha", 1.0), ("top_block", "block_16_expand"),
                   ("experiment_epochs", 3)),
        ),
        "smoke": LessonSettings(
            mode="smoke", image_size=224, batch_size=32, epochs=10, fine_tune_epochs=2,
            train_examples=100, val_examples=100,
            source="cats_and_dogs_filtered photos (cached or downloaded once; generated without network), "
                   "100/100 per class",
            extra=(("backbone", "MobileNetV2"), ("alpha", 0.35), ("unfreeze_from", 100),
                   ("head_lr", 1e-3), ("fine_tune_lr", 1e-5), ("classifier", "EfficientNetB0"),
                   ("bn_backbone", "MobileNetV2"), ("bn_alpha", 0.35), ("top_block", "block_16_expand"),
                   ("experiment_epochs", 1)),
        ),
    },
    "03-cifar10": {
        "full": LessonSettings(
            mode="full", image_size=224, batch_size=64, epochs=5, fine_tune_epochs=3,
            source="CIFAR-10 from TensorFlow Datasets, resized per batch to 224 px",
            downloads=("tfds:cifar10",),
            extra=(("backbone", "EfficientNetB0"), ("unfreeze_from", 0.2), ("head_lr", 1e-3),
                   ("fine_tune_lr", 1e-4)),
        ),
        "smoke": LessonSettings(
            mode="smoke", image_size=32, batch_size=32, epochs=2, fine_tune_epochs=1,
            train_examples=64, val_examples=32, test_examples=64,
            source=_SMOKE_CIFAR10,
            extra=(("backbone", "EfficientNetB0"), ("unfreeze_from", 0.2), ("head_lr", 1e-3),
                   ("fine_tune_lr", 1e-4)),
        ),
    },
    "07": {
        "full": LessonSettings(
            mode="full", image_size=299, batch_size=32, epochs=10, fine_tune_epochs=2,
            source="cats_and_dogs_filtered (2,000 train / 1,000 validation photos), downloaded",
            downloads=("file:cats_and_dogs_filtered",),
            extra=(("handle", "inception_v3"), ("head_lr", 1e-3), ("fine_tune_lr", 1e-5),
                   ("kerashub_preset", "resnet_50_imagenet"), ("legacy_steps", 6), ("legacy_epochs", 2)),
        ),
        "smoke": LessonSettings(
            mode="smoke", image_size=299, batch_size=32, epochs=3, fine_tune_epochs=1,
            train_examples=60, val_examples=40,
            source="cats_and_dogs_filtered photos (cached or downloaded once; generated without network), "
                   "60/40 per class",
            extra=(("handle", "inception_v3"), ("head_lr", 1e-3), ("fine_tune_lr", 1e-5),
                   ("kerashub_preset", "resnet_50_imagenet"), ("legacy_steps", 4), ("legacy_epochs", 2)),
        ),
    },
}


def settings(lesson: str | int) -> LessonSettings:
    """Return the settings of a lesson for the active mode.

    Args:
        lesson: Lesson number, e.g. ``1`` or ``"01"``.

    Returns:
        The lesson's :class:`LessonSettings` for smoke or full mode.

    Raises:
        KeyError: The lesson has no settings; the message lists the known ones.
    """
    key = lesson_key(lesson)
    if key not in _LESSONS:
        raise KeyError(f"No settings for lesson {lesson!r}. Known lessons: {', '.join(sorted(_LESSONS))}.")
    if rehearsal() is not None:
        return rehearsal_settings(key)
    return _LESSONS[key]["smoke" if smoke_mode() else "full"]


def lesson_key(lesson: str | int) -> str:
    """Normalise a lesson number or name to its settings key (``3`` -> ``"03"``)."""
    return f"{int(lesson):02d}" if str(lesson).isdigit() else str(lesson)


def lesson_keys() -> list[str]:
    """Return every settings key (lessons and their parts, e.g. ``"03-cifar10"``), sorted."""
    return sorted(_LESSONS)


def full_settings(lesson: str | int) -> LessonSettings:
    """Return a lesson's full-mode settings, whatever the active mode (for prefetch and the rehearsal)."""
    return _LESSONS[lesson_key(lesson)]["full"]


# What the rehearsal shrinks: amounts of data and steps only. Per class for folder lessons, in total for TFDS ones.
_REHEARSAL_DATA: dict[str, dict[str, object]] = {
    "01": {"train_examples": 64, "val_examples": 64, "test_examples": 64},
    "02": {"train_examples": 64, "val_examples": 64, "test_examples": 64, "aug_passes": 2},
    "02-folder": {"train_examples": 16, "val_examples": 16},
    "07": {"train_examples": 16, "val_examples": 16, "legacy_steps": 1, "legacy_epochs": 1},
    "03": {"train_examples": 16, "val_examples": 16, "experiment_epochs": 1},
    "03-cifar10": {"train_examples": 64, "val_examples": 64, "test_examples": 64},
    "04": {"train_examples": 16, "val_examples": 8, "test_examples": 8, "sweep_per_class": (4, 8),
           "sweep_epochs": 1, "sweep_fine_tune_epochs": 1},
    "05": {"train_examples": 16},
    "06": {"train_examples": 16},
}


def rehearsal_settings(lesson: str | int) -> LessonSettings:
    """Return a lesson's full-mode settings with the rehearsal's amounts of data and steps.

    Everything that shapes the program (backbones, handles, image and batch
    sizes, unfreeze points, learning rates) is the full-mode value; epochs
    become 1 (fine-tuning: 1 when full mode fine-tunes) and the data a few
    batches.

    Args:
        lesson: Lesson number or settings key.

    Returns:
        The settings, with ``mode="rehearsal"``.
    """
    key = lesson_key(lesson)
    full = _LESSONS[key]["full"]
    shrink = dict(_REHEARSAL_DATA.get(key, {}))
    fields = {k: shrink.pop(k) for k in ("train_examples", "val_examples", "test_examples") if k in shrink}
    extra = tuple((k, shrink.get(k, v)) for k, v in full.extra)
    return dataclasses.replace(full, mode="rehearsal", epochs=1, fine_tune_epochs=min(full.fine_tune_epochs, 1),
                               extra=extra, source=f"rehearsal: offline stand-in data (full mode: {full.source})",
                               **fields)


def describe_mode(lesson: str | int | None = None) -> str:
    """Describe the active mode in one or two lines, for the top of a lesson.

    Args:
        lesson: If given, also summarise that lesson's settings.

    Returns:
        A human-readable string.
    """
    shape = rehearsal()
    if shape is not None:
        text = (f"REHEARSAL ({REHEARSE_ENV}={shape}: {REHEARSAL_SHAPES[shape]}): the full-mode configuration on "
                "tiny offline data with stand-in weights. It proves full mode runs; its numbers mean nothing.")
    elif smoke_mode():
        text = (f"SMOKE mode ({SMOKE_ENV}=1), the laptop tier: small slices of real data with real ImageNet "
                "weights, few epochs, sized for 2 CPU cores. Unset the variable for full-size runs on a GPU.")
    else:
        text = f"FULL mode: real data and weights (set {SMOKE_ENV}=1 for a quick offline run)."
    if lesson is not None:
        s = settings(lesson)
        key = lesson_key(lesson)
        name = f"Lesson {key}" if key.isdigit() else f"Lesson {key[:2]} ({key[3:]})"
        text += (f"\n{name}: image {s.image_size}px, batch {s.batch_size}, "
                 f"epochs {s.epochs}+{s.fine_tune_epochs}, data: {s.source}")
    return text


def repo_root() -> Path | None:
    """Return the source checkout this package runs from, if any.

    Returns:
        The repository root (the folder holding ``pyproject.toml`` two levels
        above the package), or None for an installed wheel.
    """
    root = Path(__file__).resolve().parents[3]
    return root if (root / "pyproject.toml").is_file() else None


def cache_root() -> Path:
    """Return (and create) the cache root for data, weights and modules.

    Returns:
        ``$TLH_CACHE_DIR``, else ``<repo>/data/cache`` in a source checkout,
        else ``~/.cache/tlhelpers``; in the rehearsal, its ``rehearsal``
        subfolder, so stand-in weights never mix with real ones.
    """
    env = os.environ.get("TLH_CACHE_DIR")
    if env:
        root = Path(env).expanduser()
    elif repo_root() is not None:
        root = repo_root() / "data" / "cache"
    else:
        root = Path.home() / ".cache" / "tlhelpers"
    if rehearsal() is not None:
        root = root / "rehearsal"  # stand-in weights never mix with real ones
    root.mkdir(parents=True, exist_ok=True)
    return root


def models_dir() -> Path:
    """Return (and create) the folder where the lessons save the models a learner keeps.

    Lesson 05 saves the model trained on your photos here, and lesson 06 and
    ``tlh demo`` / ``tlh predict`` find it here.

    Returns:
        ``$TLH_MODELS_DIR``, else ``my_models`` in the working directory
        (Colab: ``/content/my_models``; Kaggle: ``/kaggle/working/my_models``,
        kept with the notebook's output); in smoke mode and the rehearsal,
        ``<cache root>/models``, so their meaningless models never land beside
        yours.
    """
    env = os.environ.get("TLH_MODELS_DIR")
    if env:
        root = Path(env).expanduser()
    elif smoke_mode() or rehearsal() is not None:
        root = cache_root() / "models"
    else:
        root = Path.cwd() / "my_models"
    root.mkdir(parents=True, exist_ok=True)
    return root


def assets_dir() -> Path | None:
    """Find the offline assets folder (real images and weights).

    Looks at ``$TLH_ASSETS_DIR``, then ``shared/assets`` beside the repository,
    then beside the working directory and its parents.

    Returns:
        The folder, or None when no assets are present.
    """
    env = os.environ.get("TLH_ASSETS_DIR")
    if env:
        path = Path(env).expanduser()
        return path if path.is_dir() else None
    starts = [p for p in (repo_root(), Path.cwd()) if p is not None]
    for start in starts:
        for base in (start, *start.parents):
            cand = base.parent / "shared" / "assets" if base.name != "shared" else base / "assets"
            if cand.is_dir():
                return cand
    return None


def require_asset(relative: str) -> Path:
    """Return the path of an offline asset, or explain how to get it.

    Args:
        relative: Path inside the assets folder, e.g.
            ``"cats_and_dogs_filtered"``.

    Returns:
        The absolute path.

    Raises:
        FileNotFoundError: The asset is missing; the message says where it was
            looked for and how to point ``TLH_ASSETS_DIR`` at it.
    """
    root = assets_dir()
    if root is not None and (root / relative).exists():
        return root / relative
    where = str(root) if root else "no assets folder found"
    raise FileNotFoundError(
        f"Offline asset {relative!r} not found ({where}). Set TLH_ASSETS_DIR to the folder "
        "holding the course's offline assets (e.g. ../shared/assets), or run in full mode "
        "with network access so the lesson downloads the real data."
    )
