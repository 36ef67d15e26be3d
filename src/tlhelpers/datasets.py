"""Where the course's data comes from: every download and its address.

What belongs here: the datasets the lessons load (TFDS CIFAR-10, the
``cats_and_dogs_filtered`` and ``flower_photos`` archives), their URLs and
sizes in :data:`DOWNLOADS` (what ``tlh prefetch`` and ``tlh doctor`` list;
the addresses and digests themselves are :mod:`tlhelpers.downloads`'), and
where they are cached (``<cache root>/datasets``, ``<cache root>/tensorflow_datasets``).
What stands in for them in smoke mode and the rehearsal (the real photos of
the offline assets, ``tfds.testing.mock_data``, generated folders) is the
course's decision: :mod:`tlhelpers.course.sources`. Turning examples into
batches is :mod:`tlhelpers.data`.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tlhelpers import downloads, kerascompat
from tlhelpers.course import sources
from tlhelpers.data import take_examples

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

__all__ = [
    "Download",
    "DOWNLOADS",
    "CATS_AND_DOGS_URL",
    "CATS_AND_DOGS_URLS",
    "FLOWER_PHOTOS_URL",
    "LABEL_NAMES",
    "import_tfds",
    "load_tfds",
    "get_cats_and_dogs",
    "get_flower_photos",
]

FLOWER_PHOTOS_URL = downloads.FILES["flower_photos"].url
#: The TF tutorial's current address first, then older ones (tlhelpers.downloads holds them once, with the digest).
CATS_AND_DOGS_URLS = (downloads.FILES["cats_and_dogs_filtered"].url, *downloads.FILES["cats_and_dogs_filtered"].also)
CATS_AND_DOGS_URL = CATS_AND_DOGS_URLS[0]

#: Label names of TFDS datasets whose mock data (smoke mode) carries numbers only.
LABEL_NAMES = {
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}


@dataclasses.dataclass(frozen=True)
class Download:
    """One dataset the lessons download in full mode.

    Attributes:
        key: ``"tfds:<name>"`` or ``"file:<name>"`` (the key ``tlh prefetch`` uses).
        source: Where it comes from (a URL, or the TFDS name and its home page).
        size: Download size in words (as published by the source).
        getter: Name of the function of this module that fetches it (``""``
            for TFDS datasets, which :func:`load_tfds` fetches).
    """

    key: str
    source: str
    size: str
    getter: str = ""


def _about_mb(key: str) -> str:
    return f"about {downloads.FILES[key].size / 1e6:,.0f} MB"


DOWNLOADS: dict[str, Download] = {d.key: d for d in [
    Download("tfds:cifar10", f"TensorFlow Datasets 'cifar10' ({downloads.FILES['cifar10'].url})",
             _about_mb("cifar10") + " download"),
    Download("file:cats_and_dogs_filtered", CATS_AND_DOGS_URL, _about_mb("cats_and_dogs_filtered"),
             "get_cats_and_dogs"),
    Download("file:flower_photos", FLOWER_PHOTOS_URL, _about_mb("flower_photos"), "get_flower_photos"),
]}


#: The module whose loading fails when protobuf is older than tensorflow-metadata's generated files.
_METADATA_MODULE = "tensorflow_metadata.proto.v0.schema_pb2"


def import_tfds() -> Any:
    """Import ``tensorflow_datasets``, or say why it cannot load and what fixes it.

    tensorflow-metadata 1.21 is generated for protobuf 6.31.1 but declares
    ``>=4.25.2`` (tensorflow/metadata#68). With an older protobuf (Colab's
    5.29.6 in 2026), ``import tensorflow_datasets`` half-fails and the first
    ``tfds.load`` or ``tfds.testing`` raises an ``AttributeError`` that names
    neither package.

    Returns:
        The ``tensorflow_datasets`` module.

    Raises:
        RuntimeError: protobuf is older than the generated files need (the
            message names both versions and the fix).
    """
    import importlib

    try:
        importlib.import_module(_METADATA_MODULE)
    except Exception as exc:
        if type(exc).__name__ != "VersionError":  # protobuf's gencode/runtime check; anything else is not ours
            raise
        found = re.search(r"gencode (\d+)\.(\d+)\.(\d+) runtime (\S+?)\.?(?:\s|$)", str(exc))
        need = ".".join(found.groups()[:3]) if found else None
        what = (f"tensorflow-metadata's files need protobuf >= {need}, this environment has {found.group(4)}"
                if found else f"protobuf does not match tensorflow-metadata ({exc})")
        fix = f'pip install "protobuf>={need},<{int(found.group(1)) + 1}"' if found else "pip install -U protobuf"
        raise RuntimeError(f"TensorFlow Datasets cannot load: {what} (tensorflow/metadata#68). Run the lesson's setup "
                           f"cell again (it installs that protobuf) or {fix}, then restart the session.") from exc
    import tensorflow_datasets as tfds

    return tfds


def load_tfds(
    name: str,
    lesson_settings: Any,
    *,
    validation_fraction: float = 0.1,
) -> tuple[tf.data.Dataset, tf.data.Dataset, tf.data.Dataset, list[str]]:
    """Load a TFDS image-classification dataset as train, validation and test splits.

    In full mode the real dataset is downloaded (once) into the cache root. In
    smoke mode ``tfds.testing.mock_data`` supplies random examples of the right
    shape and type, offline, through the very same ``tfds.load`` call.

    Args:
        name: TFDS name, e.g. ``"cifar10"``. It must have ``train`` and
            ``test`` splits and ``image``/``label`` features.
        lesson_settings: From :func:`tlhelpers.course.config.settings`; its
            ``*_examples`` fields cap each split (None keeps all).
        validation_fraction: Share of the training split held out for
            validation. Defaults to 0.1.

    Returns:
        ``(train, validation, test, class_names)``: datasets of
        ``(uint8 image, int64 label)`` pairs, unbatched, and the label names.

    Raises:
        RuntimeError: TensorFlow Datasets cannot load here (see :func:`import_tfds`).
    """
    tfds = import_tfds()

    pct = int(round(validation_fraction * 100))
    if not 0 < pct < 100:
        raise ValueError(f"validation_fraction must be between 0.01 and 0.99, got {validation_fraction}.")
    s = lesson_settings
    data_dir = str(sources.cache_root() / "tensorflow_datasets")
    biggest = max(n for n in (s.train_examples, s.val_examples, s.test_examples, 64) if n)
    import_tfds()  # a protobuf too old for tensorflow-metadata says so before anything else
    with sources.tfds_source(name, biggest):  # offline without the real files: tfds.testing.mock_data, marked
        (train, val, test), info = tfds.load(
            name,
            split=[f"train[:{100 - pct}%]", f"train[{100 - pct}%:]", "test"],
            as_supervised=True,
            with_info=True,
            data_dir=data_dir,
        )
    class_names = list(info.features["label"].names)
    if name in LABEL_NAMES and all(c.isdigit() for c in class_names):  # mock data has no label file
        class_names = list(LABEL_NAMES[name])
    return (
        take_examples(train, s.train_examples),
        take_examples(val, s.val_examples),
        take_examples(test, s.test_examples),
        class_names,
    )


def get_cats_and_dogs() -> Path:
    """Return the ``cats_and_dogs_filtered`` folder (``train/`` and ``validation/``, classes cats and dogs).

    Full mode: downloaded once (68 MB) into ``<cache root>/datasets``. Smoke
    mode: the same real photos from :func:`tlhelpers.course.sources.cats_and_dogs` (the
    cache, the offline assets, or a download once), otherwise a small
    generated stand-in (coloured noise, clearly not photos), marked meaningless.

    Returns:
        The folder holding ``train`` and ``validation``.
    """
    offline = sources.cats_and_dogs()  # smoke mode and the rehearsal: the course's copy; full mode: None
    if offline is not None:
        return offline
    import keras

    dest = sources.cache_root() / "datasets"
    dest.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in CATS_AND_DOGS_URLS:  # upstream moved the file in 2025: the current address, then the older one
        try:
            path = Path(keras.utils.get_file("cats_and_dogs_filtered.zip", url, cache_dir=str(dest),
                                             cache_subdir="", extract=True))
            break
        except Exception as exc:  # noqa: BLE001 - Keras raises Exception for any failed download
            failures.append(f"{url} ({exc})")
    else:
        raise RuntimeError(f"Could not download cats_and_dogs_filtered.zip from {'; nor from '.join(failures)}. "
                           f"Offline, unzip it yourself into {dest} or set TLH_SMOKE=1 to use the offline assets.")
    for cand in (path, path / "cats_and_dogs_filtered", dest / "cats_and_dogs_filtered"):
        if (cand / "train").is_dir():
            return cand
    raise RuntimeError(f"Downloaded archive has no train/ folder under {path}.")


def get_flower_photos(*, smoke_per_class: int = 150) -> Path:
    """Return a class-per-folder tree of photos for lesson 05 ("your own folder").

    Full mode: TensorFlow's ``flower_photos`` (3,670 photos of 5 flower kinds,
    218 MB), downloaded once into ``<cache root>/datasets``. Smoke mode: a copy
    of the first ``smoke_per_class`` real photos per class of
    ``cats_and_dogs_filtered/train`` (cached or downloaded once, see
    :func:`tlhelpers.course.sources.own_photos_standin`), else generated images; either way a fresh
    folder you may look at and modify.

    Args:
        smoke_per_class: Photos per class in smoke mode. Defaults to 150.

    Returns:
        The folder holding one subfolder per class (and nothing else).
    """
    offline = sources.own_photos_standin(smoke_per_class)  # smoke mode and the rehearsal; full mode: None
    if offline is not None:
        return offline
    import keras

    dest = sources.cache_root() / "datasets"
    dest.mkdir(parents=True, exist_ok=True)
    try:
        path = Path(keras.utils.get_file("flower_photos.tgz", FLOWER_PHOTOS_URL, cache_dir=str(dest),
                                         cache_subdir="", extract=True))
    except Exception as exc:  # a failed download becomes instructions; anything else is a bug: re-raised
        if not kerascompat.is_download_failure(exc):
            raise
        raise RuntimeError(f"Could not download {FLOWER_PHOTOS_URL} ({exc}). Offline, extract the archive yourself "
                           f"into {dest} or set TLH_SMOKE=1 to use the offline assets.") from exc
    for cand in (path, path / "flower_photos", dest / "flower_photos", dest / "flower_photos_extracted" /
                 "flower_photos"):
        if cand.is_dir() and (cand / "roses").is_dir():
            return cand
    raise RuntimeError(f"Downloaded archive has no flower_photos/roses folder under {path}.")
