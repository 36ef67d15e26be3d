"""Input pipelines: turning examples into fast ``tf.data`` batches.

What belongs here: anything that reads examples and yields batches of
``(images, labels)`` for ``model.fit``. Where the examples come from (the
downloads, their URLs, smoke-mode sources) is :mod:`tlhelpers.datasets`. The images leave these pipelines as
``float32`` in 0..255 at the requested size; scaling for a particular network
(``preprocess_input``) happens inside the model, exactly once.

Images are resized **per batch**, after caching the small originals, so no
resized copy of a whole dataset ever sits in memory (CIFAR-10 at 224 px in
float32 would be 33.6 GiB).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

__all__ = [
    "AUTOTUNE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CAFFE_MEAN_BGR",
    "ignored_reason",
    "make_pipeline",
    "take_examples",
    "dataset_bytes",
    "image_folder",
    "cache_location",
]

AUTOTUNE = -1  # tf.data.AUTOTUNE, without importing TensorFlow at import time
#: ImageNet's per-channel statistics (RGB, 0..1 scale): torch-style and KerasHub ResNet normalisation.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Caffe-style preprocessing's channel means (BGR, 0..255 scale): VGG16, ResNet50, SqueezeNet.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


#: Folders and files that tools leave in image folders: never a class, never data (name -> why).
_TOOL_DROPPINGS = {
    "__MACOSX": "resource forks a Mac adds to zip archives",
    ".ipynb_checkpoints": "Jupyter's autosave copies",
    "__pycache__": "Python's byte-code cache",
    "@eaDir": "Synology NAS thumbnails",
    "$RECYCLE.BIN": "the Windows recycle bin",
    "System Volume Information": "a Windows system folder",
    "lost+found": "a file-system recovery folder",
    "Thumbs.db": "Windows thumbnail cache",
    "desktop.ini": "Windows folder settings",
    "Icon\r": "a macOS folder icon",
}


def ignored_reason(name: str) -> str | None:
    """Say why a folder or file of this name is a tool's dropping and never a class or an image, else None.

    Hidden names (``.git``, ``.DS_Store``, ``._photo.jpg`` from a Mac) and the
    folders and files of :data:`_TOOL_DROPPINGS` (``__MACOSX``,
    ``.ipynb_checkpoints``, ``Thumbs.db``...) are ignored at any depth.

    Args:
        name: A file or folder name (not a path).

    Returns:
        The reason, or None for an ordinary name.
    """
    if name in _TOOL_DROPPINGS:
        return f"{_TOOL_DROPPINGS[name]} ({name})"
    if name.startswith("._"):
        return f"a Mac's AppleDouble metadata file ({name})"
    if name.startswith("."):
        return f"hidden ({name} starts with '.')"
    return None


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


def cache_location(cache: str | os.PathLike | None, num_images: int, image_size: int, key: str = "") -> str | None:
    """Decide where :func:`image_folder` caches decoded images: ``""`` (memory), a file path (disk) or None.

    Args:
        cache: ``"auto"``, ``"memory"``, ``"disk"``, a folder path, or None (see :func:`image_folder`).
        num_images: How many images the dataset holds.
        image_size: Their side length after resizing.
        key: Identifies the dataset (e.g. its file list), so two datasets never share a cache file.

    Returns:
        The argument for ``tf.data.Dataset.cache`` (``""`` = memory), or None for no cache. Temporary
        folders made for ``"disk"`` are removed when Python exits.
    """
    import atexit
    import hashlib
    import shutil
    import tempfile

    if cache is None:
        return None
    if cache == "auto":
        budget = float(os.environ.get("TLH_RAM_CACHE_MB", "1024")) * 2**20
        cache = "memory" if dataset_bytes(num_images, image_size, dtype_bytes=1) <= budget else "disk"
    if cache == "memory":
        return ""
    if cache == "disk":
        folder = Path(tempfile.mkdtemp(prefix="tlh_image_cache_"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    else:
        folder = Path(cache)
        folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:12]
    return str(folder / f"images_{num_images}_{image_size}px_{digest}")


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
    cache: str | os.PathLike | None = "auto",
) -> tuple[tf.data.Dataset, list[str]]:
    """Load a class-per-folder image tree as batches of raw 0..255 images.

    For your own, possibly messy, folders use :mod:`tlhelpers.folders` first:
    it checks every file and writes a clean split this function can load.

    Args:
        directory: Folder with one subfolder per class.
        image_size: Side length images are resized to (while decoding, per image).
        batch_size: Batch size.
        shuffle: Shuffle: the file order once (seeded), then each epoch
            through a buffer of at most ``TLH_SHUFFLE_MB`` (default 256 MiB:
            all images up to 1,780 at 224 px), so memory stays bounded.
            Defaults to False.
        seed: Shuffle seed. Defaults to 42.
        limit_per_class: Keep only the first N files (sorted by name) of each
            class. Defaults to None (all).
        all_files: Load every non-hidden file, whatever its extension (for
            trees already checked by :mod:`tlhelpers.folders`). Defaults to
            False (only .jpg, .jpeg, .png, .bmp and .gif files).
        skip_per_class: Leave out the first N files (sorted by name) of each
            class before ``limit_per_class`` applies (e.g. to hold them out
            as a test set). Defaults to 0.
        cache: Where decoded, resized images (uint8) are kept after the
            first epoch, so later epochs skip JPEG decoding: ``"memory"``,
            ``"disk"`` (a cache file in a new temporary folder), a folder
            path (a cache file there), None (decode every epoch), or
            ``"auto"``: memory while the images fit in
            ``TLH_RAM_CACHE_MB`` (default 1024 MiB: 47,000 images at 96 px,
            7,100 at 224 px), else disk, so memory stays bounded however
            large the folder grows. Defaults to ``"auto"``.

    Returns:
        ``(dataset of (float32 images, int labels), class names)``, cached and prefetched.

    Raises:
        FileNotFoundError: The folder does not exist or has no class subfolders.
    """
    import tensorflow as tf

    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"Image folder {root} does not exist. Pass a folder with one subfolder per class.")
    class_names = sorted(p.name for p in root.iterdir() if p.is_dir() and ignored_reason(p.name) is None)
    if not class_names:
        raise FileNotFoundError(f"{root} has no class subfolders. Expected {root}/<class name>/<images>.")
    exts = {".jpg", ".jpeg", ".png", ".bmp", ".gif"}
    paths: list[str] = []
    labels: list[int] = []
    for idx, name in enumerate(class_names):
        files = sorted(str(p) for p in (root / name).iterdir()
                       if p.is_file() and ignored_reason(p.name) is None and (p.suffix.lower() in exts or all_files))
        files = files[skip_per_class:]
        files = files[:limit_per_class] if limit_per_class else files
        paths += files
        labels += [idx] * len(files)
    if not paths:
        skipped = f" after skipping the first {skip_per_class} per class" if skip_per_class else ""
        raise ValueError(f"No images left in {root}{skipped} (classes: {', '.join(class_names)}). Put images "
                         f"({', '.join(sorted(exts))}) in the class folders, or ask for fewer per class.")

    def _load(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image = tf.image.resize(tf.cast(image, tf.float32), (image_size, image_size))
        return tf.cast(tf.round(tf.clip_by_value(image, 0.0, 255.0)), tf.uint8), label  # cached as uint8: 4x less

    if shuffle:  # mix the classes once in the file order, so a bounded shuffle buffer below is enough
        import numpy as np

        order = np.random.default_rng(seed).permutation(len(paths))
        paths, labels = [paths[i] for i in order], [labels[i] for i in order]
    where = cache_location(cache, len(paths), image_size, key="\n".join(paths) + f"\n{image_size}")
    ds = tf.data.Dataset.from_tensor_slices((paths, tf.constant(labels, tf.int64)))
    ds = ds.map(_load, num_parallel_calls=tf.data.AUTOTUNE)
    if where is not None:
        ds = ds.cache(where)
    if shuffle:
        budget = float(os.environ.get("TLH_SHUFFLE_MB", "256")) * 2**20
        buffer = max(1, min(len(paths), int(budget // dataset_bytes(1, image_size, dtype_bytes=1))))
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE), class_names
