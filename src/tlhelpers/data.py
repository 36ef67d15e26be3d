"""Input pipelines: loading datasets and turning them into fast ``tf.data`` batches.

What belongs here: anything that reads examples and yields batches of
``(images, labels)`` for ``model.fit``. The images leave these pipelines as
``float32`` in 0..255 at the requested size; scaling for a particular network
(``preprocess_input``) happens inside the model, exactly once.

Images are resized **per batch**, after caching the small originals, so no
resized copy of a whole dataset ever sits in memory (CIFAR-10 at 224 px in
float32 would be 33.6 GiB).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tlhelpers import config

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

__all__ = [
    "AUTOTUNE",
    "load_tfds",
    "make_pipeline",
    "take_examples",
    "dataset_bytes",
    "image_folder",
    "CATS_AND_DOGS_URL",
    "get_cats_and_dogs",
    "get_flower_photos",
]

FLOWER_PHOTOS_URL = "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz"
CATS_AND_DOGS_URL = "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"

_LABEL_NAMES = {
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}

AUTOTUNE = -1  # tf.data.AUTOTUNE, without importing TensorFlow at import time


def dataset_bytes(num_images: int, image_size: int, channels: int = 3, dtype_bytes: int = 4) -> int:
    """Return how many bytes a dataset of images takes once materialised.

    Use it to see why a whole dataset must never be resized eagerly.

    Args:
        num_images: Number of images.
        image_size: Side length in pixels (square images).
        channels: Channels per pixel. Defaults to 3.
        dtype_bytes: Bytes per value (4 for float32, 1 for uint8). Defaults to 4.

    Returns:
        The size in bytes.
    """
    return num_images * image_size * image_size * channels * dtype_bytes


@contextlib.contextmanager
def _maybe_mock(num_examples: int | None) -> Iterator[None]:
    if not config.offline_sources():
        yield
        return
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=num_examples or 64, policy=tfds.testing.MockPolicy.USE_CODE):
        yield


def load_tfds(
    name: str,
    lesson_settings: config.LessonSettings,
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
        lesson_settings: From :func:`tlhelpers.config.settings`; its
            ``*_examples`` fields cap each split (None keeps all).
        validation_fraction: Share of the training split held out for
            validation. Defaults to 0.1.

    Returns:
        ``(train, validation, test, class_names)``: datasets of
        ``(uint8 image, int64 label)`` pairs, unbatched, and the label names.
    """
    import tensorflow_datasets as tfds

    pct = int(round(validation_fraction * 100))
    if not 0 < pct < 100:
        raise ValueError(f"validation_fraction must be between 0.01 and 0.99, got {validation_fraction}.")
    s = lesson_settings
    data_dir = str(config.cache_root() / "tensorflow_datasets")
    biggest = max(n for n in (s.train_examples, s.val_examples, s.test_examples, 64) if n)
    with _maybe_mock(biggest):
        (train, val, test), info = tfds.load(
            name,
            split=[f"train[:{100 - pct}%]", f"train[{100 - pct}%:]", "test"],
            as_supervised=True,
            with_info=True,
            data_dir=data_dir,
        )
    class_names = list(info.features["label"].names)
    if name in _LABEL_NAMES and all(c.isdigit() for c in class_names):  # mock data has no label file
        class_names = list(_LABEL_NAMES[name])
    return (
        take_examples(train, s.train_examples),
        take_examples(val, s.val_examples),
        take_examples(test, s.test_examples),
        class_names,
    )


def take_examples(ds: tf.data.Dataset, n: int | None) -> tf.data.Dataset:
    """Keep the first ``n`` examples of an unbatched dataset.

    Args:
        ds: An unbatched dataset.
        n: How many to keep; None keeps all.

    Returns:
        The (possibly) shortened dataset.
    """
    return ds if n is None else ds.take(n)


def make_pipeline(
    ds: tf.data.Dataset,
    *,
    image_size: int,
    batch_size: int,
    training: bool = False,
    shuffle_buffer: int = 10_000,
    cache: bool = True,
    seed: int | None = 42,
) -> tf.data.Dataset:
    """Turn unbatched ``(image, label)`` pairs into fast, resized batches.

    Order of work: cache the small originals (uint8), shuffle (training only),
    batch, resize each *batch* to ``image_size``, prefetch. Nothing is resized
    ahead of time.

    Args:
        ds: Unbatched dataset of ``(image, label)``; images of any size, uint8
            or float in 0..255, with 1, 3 or 4 channels (1 and 4 are made RGB).
        image_size: Output side length in pixels.
        batch_size: Batch size.
        training: Shuffle (and reshuffle every epoch) when True. Defaults to False.
        shuffle_buffer: Shuffle buffer size. Defaults to 10,000.
        cache: Cache the original examples in memory after the first epoch.
            Defaults to True.
        seed: Shuffle seed. Defaults to 42.

    Returns:
        A dataset of ``(float32 images [B, size, size, 3] in 0..255, int labels)``.
    """
    import tensorflow as tf

    if image_size <= 0 or batch_size <= 0:
        raise ValueError(f"image_size and batch_size must be positive, got {image_size} and {batch_size}.")

    def _rgb(image: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        channels = image.shape[-1]
        if channels == 1:
            image = tf.image.grayscale_to_rgb(image)
        elif channels == 4:
            image = image[..., :3]
        return image, label

    def _resize(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        images = tf.cast(images, tf.float32)
        images = tf.image.resize(images, (image_size, image_size))
        return tf.clip_by_value(images, 0.0, 255.0), labels

    ds = ds.map(_rgb, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    spec = ds.element_spec[0]
    if spec.shape.rank == 3 and spec.shape[0] is not None and spec.shape[0] == spec.shape[1]:
        ds = ds.batch(batch_size)  # same-size images: batch first, resize the whole batch at once
    else:  # varying sizes: resize one by one (still lazily) so they can be batched
        ds = ds.map(lambda x, y: (tf.image.resize(tf.cast(x, tf.float32), (image_size, image_size)), y),
                    num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)
    ds = ds.map(_resize, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def image_folder(
    directory: str | os.PathLike,
    *,
    image_size: int,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 42,
    limit_per_class: int | None = None,
    all_files: bool = False,
    skip_per_class: int = 0,
) -> tuple[tf.data.Dataset, list[str]]:
    """Load a class-per-folder image tree as batches of raw 0..255 images.

    For your own, possibly messy, folders use :mod:`tlhelpers.folders` first:
    it checks every file and writes a clean split this function can load.

    Args:
        directory: Folder with one subfolder per class.
        image_size: Side length images are resized to (while decoding, per image).
        batch_size: Batch size.
        shuffle: Shuffle the file order (each epoch). Defaults to False.
        seed: Shuffle seed. Defaults to 42.
        limit_per_class: Keep only the first N files (sorted by name) of each
            class. Defaults to None (all).
        all_files: Load every non-hidden file, whatever its extension (for
            trees already checked by :mod:`tlhelpers.folders`). Defaults to
            False (only .jpg, .jpeg, .png, .bmp and .gif files).
        skip_per_class: Leave out the first N files (sorted by name) of each
            class before ``limit_per_class`` applies (e.g. to hold them out
            as a test set). Defaults to 0.

    Returns:
        ``(dataset of (float32 images, int labels), class names)``, cached and prefetched.

    Raises:
        FileNotFoundError: The folder does not exist or has no class subfolders.
    """
    import tensorflow as tf

    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"Image folder {root} does not exist. Pass a folder with one subfolder per class.")
    class_names = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not class_names:
        raise FileNotFoundError(f"{root} has no class subfolders. Expected {root}/<class name>/<images>.")
    exts = {".jpg", ".jpeg", ".png", ".bmp", ".gif"}
    paths: list[str] = []
    labels: list[int] = []
    for idx, name in enumerate(class_names):
        files = sorted(str(p) for p in (root / name).iterdir()
                       if p.is_file() and (p.suffix.lower() in exts or (all_files and not p.name.startswith("."))))
        files = files[skip_per_class:]
        files = files[:limit_per_class] if limit_per_class else files
        paths += files
        labels += [idx] * len(files)

    def _load(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image = tf.image.resize(tf.cast(image, tf.float32), (image_size, image_size))
        return tf.cast(tf.round(tf.clip_by_value(image, 0.0, 255.0)), tf.uint8), label  # cached as uint8: 4x less

    ds = tf.data.Dataset.from_tensor_slices((paths, tf.constant(labels, tf.int64)))
    ds = ds.map(_load, num_parallel_calls=tf.data.AUTOTUNE).cache()
    if shuffle:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE), class_names


def get_cats_and_dogs() -> Path:
    """Return the ``cats_and_dogs_filtered`` folder (``train/`` and ``validation/``, classes cats and dogs).

    Full mode: downloaded once (68 MB) into ``<cache root>/datasets``. Smoke
    mode: the real photos from the offline assets when present, otherwise a
    small generated stand-in (coloured noise, clearly not photos).

    Returns:
        The folder holding ``train`` and ``validation``.
    """
    if config.offline_sources():
        assets = config.assets_dir()
        if assets is not None and (assets / "cats_and_dogs_filtered" / "train").is_dir():
            return assets / "cats_and_dogs_filtered"
        target = config.cache_root() / "synthetic" / "cats_and_dogs"
        if not (target / "validation").is_dir():
            print("Smoke mode without offline assets: generating a stand-in image folder.")
            from tlhelpers import standins

            standins.make_synthetic_folder(target)
        return target
    import keras

    dest = config.cache_root() / "datasets"
    dest.mkdir(parents=True, exist_ok=True)
    try:
        path = keras.utils.get_file("cats_and_dogs_filtered.zip", CATS_AND_DOGS_URL, cache_dir=str(dest),
                                    cache_subdir="", extract=True)
    except Exception as exc:  # noqa: BLE001
        raise RuntimeError(f"Could not download {CATS_AND_DOGS_URL} ({exc}). Offline, unzip it yourself into "
                           f"{dest} or set TLH_SMOKE=1 to use the offline assets.") from exc
    path = Path(path)
    for cand in (path, path / "cats_and_dogs_filtered", dest / "cats_and_dogs_filtered"):
        if (cand / "train").is_dir():
            return cand
    raise RuntimeError(f"Downloaded archive has no train/ folder under {path}.")


def get_flower_photos(*, smoke_per_class: int = 40) -> Path:
    """Return a class-per-folder tree of photos for lesson 05 ("your own folder").

    Full mode: TensorFlow's ``flower_photos`` (3,670 photos of 5 flower kinds,
    218 MB), downloaded once into ``<cache root>/datasets``. Smoke mode: a copy
    of the first ``smoke_per_class`` real photos per class of
    ``cats_and_dogs_filtered/train`` from the offline assets, else generated
    images; either way a fresh folder you may look at and modify.

    Args:
        smoke_per_class: Photos per class in smoke mode. Defaults to 40.

    Returns:
        The folder holding one subfolder per class (and nothing else).
    """
    if config.offline_sources():
        from tlhelpers import standins

        target = config.cache_root() / "smoke" / f"my_photos_{smoke_per_class}"
        if not target.is_dir():
            assets = config.assets_dir()
            source = assets / "cats_and_dogs_filtered" / "train" if assets is not None else None
            if source is not None and source.is_dir():
                print(f"Smoke mode: using {smoke_per_class} real photos per class of cats_and_dogs_filtered "
                      "(offline assets) instead of flower_photos.")
                standins.sample_folder(source, target, per_class=smoke_per_class)
            else:
                print("Smoke mode without offline assets: generating a stand-in image folder.")
                standins.make_synthetic_folder(target.with_name(target.name + "_gen"), per_class=smoke_per_class)
                shutil.copytree(target.with_name(target.name + "_gen") / "train", target)
        return target
    import keras

    dest = config.cache_root() / "datasets"
    dest.mkdir(parents=True, exist_ok=True)
    try:
        path = Path(keras.utils.get_file("flower_photos.tgz", FLOWER_PHOTOS_URL, cache_dir=str(dest),
                                         cache_subdir="", extract=True))
    except Exception as exc:  # noqa: BLE001
        raise RuntimeError(f"Could not download {FLOWER_PHOTOS_URL} ({exc}). Offline, extract the archive yourself "
                           f"into {dest} or set TLH_SMOKE=1 to use the offline assets.") from exc
    for cand in (path, path / "flower_photos", dest / "flower_photos", dest / "flower_photos_extracted" /
                 "flower_photos"):
        if cand.is_dir() and (cand / "roses").is_dir():
            return cand
    raise RuntimeError(f"Downloaded archive has no flower_photos/roses folder under {path}.")
