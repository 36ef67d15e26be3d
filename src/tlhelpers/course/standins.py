"""Stand-ins: everything that fabricates data, modules or weights for smoke mode, the rehearsal and tests.

What belongs here, and nowhere else: generated image folders, a folder of
awkward files, copies of a few real photos, tiny TF-Hub-style SavedModels, and
stand-in ImageNet weight files with random values for the GPU-shaped
rehearsal. Production modules reach in only from their offline branches
(smoke mode, rehearsal). One thing runs in every mode: lesson 05 calls
:func:`make_messy_folder` to show what a scan finds in a folder of awkward
files, full mode included.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from tlhelpers.data import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "make_synthetic_folder",
    "sample_folder",
    "make_messy_folder",
    "make_tiny_module",
    "make_preset",
    "standin_weights_file",
]


def make_synthetic_folder(root: str | os.PathLike, *, classes: tuple[str, ...] = ("cats", "dogs"),
                          per_class: int = 40, size: int = 64, seed: int = 0) -> Path:
    """Write a small class-per-folder image tree of generated JPEGs (offline stand-in data).

    Each class gets its own dominant colour plus noise, so a model can learn it.

    Args:
        root: Folder to create (``root/<split>/<class>/*.jpg`` for ``train`` and ``validation``).
        classes: Class names. Defaults to ``("cats", "dogs")``.
        per_class: Images per class and split. Defaults to 40.
        size: Image side length. Defaults to 64.
        seed: Random seed. Defaults to 0.

    Returns:
        ``root``.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    root = Path(root)
    for split in ("train", "validation"):
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            base = np.zeros(3)
            base[c % 3] = 170
            for i in range(per_class):
                pixels = np.clip(base + rng.normal(40, 50, (size, size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{name}.{i}.jpg", quality=90)
    return root


def sample_folder(source: str | os.PathLike, output: str | os.PathLike, *, per_class: int) -> Path:
    """Copy the first ``per_class`` files (sorted) of each class folder into a new folder.

    Args:
        source: A class-per-folder tree.
        output: Destination (created).
        per_class: Files per class.

    Returns:
        The destination folder.
    """
    src, out = Path(source), Path(output)
    for d in sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith(".")):
        (out / d.name).mkdir(parents=True, exist_ok=True)
        files = sorted(f for f in d.iterdir() if f.is_file() and not f.name.startswith("."))
        for f in files[:per_class]:
            shutil.copy2(f, out / d.name / f.name)
    return out


def make_messy_folder(root: str | os.PathLike, *, seed: int = 0) -> dict[str, str]:
    """Write a small class-per-folder tree with every kind of awkward file, for demos and tests.

    Besides broken and odd images: an EXIF-rotated phone photo, an iPhone HEIC
    file, a sub-folder inside a class, and tools' droppings (``__MACOSX/``,
    ``.ipynb_checkpoints/``, ``.DS_Store``, ``Thumbs.db``, a hidden file).

    Args:
        root: Folder to create (two classes, ``circles`` and ``squares``).
        seed: Pixel noise seed. Defaults to 0.

    Returns:
        ``{relative path: expected verdict}`` for every file written.
    """
    import io

    from PIL import Image, ImageDraw

    # The verdict names of tlhelpers.folders (not imported: stand-ins sit below every production room);
    # tests/test_folders.py scans this folder and compares, so a renamed verdict fails there.
    USABLE, CONVERTED, UNUSABLE = "usable", "converted", "unusable"  # noqa: N806

    rng = np.random.default_rng(seed)
    root = Path(root)
    expected: dict[str, str] = {}

    def picture(kind: str, size: tuple[int, int] = (64, 48)) -> Image.Image:
        im = Image.fromarray(rng.integers(0, 80, (size[1], size[0], 3), dtype=np.uint8))
        draw = ImageDraw.Draw(im)
        box = (size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4)
        (draw.ellipse if kind == "circles" else draw.rectangle)(box, fill=(230, 200, 40))
        return im

    def save(rel: str, verdict: str, im: Image.Image | None = None, raw: bytes | None = None, **kw: Any) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if raw is not None:
            path.write_bytes(raw)
        else:
            im.save(path, **kw)
        expected[rel] = verdict

    for kind in ("circles", "squares"):
        for i in range(4):
            save(f"{kind}/normal_{i}.jpg", USABLE, picture(kind), quality=90)
    buf = io.BytesIO()
    picture("circles").save(buf, format="JPEG", quality=90)
    good = buf.getvalue()
    save("circles/truncated.jpg", UNUSABLE, raw=good[: len(good) // 2])
    corrupt = bytearray(good)
    corrupt[200:400] = b"\x00" * 200
    corrupt[2:4] = b"\xff\xd9"  # an end-of-image marker where a segment should start
    save("circles/corrupt.jpg", UNUSABLE, raw=bytes(corrupt))
    save("circles/zero_bytes.jpg", UNUSABLE, raw=b"")
    save("circles/notes.jpg", UNUSABLE, raw=b"This is a text file with a .jpg name.\n")
    save("circles/rgba.png", CONVERTED, picture("circles").convert("RGBA"))
    save("circles/gray.jpg", CONVERTED, picture("circles").convert("L"), quality=90)
    save("circles/cmyk.jpg", CONVERTED, picture("circles").convert("CMYK"), quality=90)
    sixteen = (np.asarray(picture("squares").convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    save("squares/sixteen_bit.png", CONVERTED, Image.fromarray(sixteen))
    save("squares/palette.gif", CONVERTED, picture("squares").convert("P"))
    save("squares/bitmap.bmp", CONVERTED, picture("squares"))
    save("squares/very_large.jpg", USABLE, picture("squares", (6000, 4000)), quality=85)
    save("squares/ünïcödé_квадрат_四角.jpg", USABLE, picture("squares"), quality=90)
    # A phone photo stored sideways: the pixels lie on their side, the EXIF Orientation tag (6) says "turn me".
    exif = Image.Exif()
    exif[0x0112] = 6
    save("circles/sideways_phone_photo.jpg", CONVERTED, picture("circles").transpose(Image.Transpose.ROTATE_90),
         quality=90, exif=exif.tobytes())
    save("squares/IMG_0001.HEIC", UNUSABLE, raw=b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))
    save("squares/2019/normal_9.jpg", USABLE, picture("squares"), quality=90)  # a sub-folder: still squares
    # Tools' droppings: never a class, never data (not in ``expected``: the scan lists them as ignored).
    for rel in ("__MACOSX/circles/._normal_0.jpg", "circles/.ipynb_checkpoints/normal_0-checkpoint.jpg",
                ".DS_Store", "squares/Thumbs.db", "squares/2019/.hidden.jpg"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(good if rel.endswith(".jpg") else b"\x00tool data")
    return expected


def make_tiny_module(path: str | os.PathLike, *, input_size: int | None = 224, output_dim: int = 1280,
                     seed: int = 0) -> Path:
    """Write a tiny SavedModel with the TF-Hub image feature-vector contract.

    Input float32 ``[batch, input_size, input_size, 3]`` in ``[0, 1]``; output
    float32 ``[batch, output_dim]``; ``__call__(images, training)``;
    ``variables`` and ``trainable_variables`` (one non-trainable). For tests
    and offline smoke runs, never for real results.

    Args:
        path: Folder to write.
        input_size: Fixed input side length, or None for a module that
            accepts any size (like TF-Hub's ResNet v2). Defaults to 224.
        output_dim: Feature length. Defaults to 1280.
        seed: Weight seed. Defaults to 0.

    Returns:
        The folder.
    """
    import tensorflow as tf

    class _Tiny(tf.Module):
        def __init__(self) -> None:
            super().__init__(name="tiny_feature_vector")
            self.kernel = tf.Variable(tf.random.stateless_normal([3, 3, 3, output_dim], seed=[seed, 1]) * 0.3,
                                      name="conv/kernel")
            self.bias = tf.Variable(tf.zeros([output_dim]), name="conv/bias")
            self.scale = tf.Variable(tf.ones([output_dim]), trainable=False, name="norm/scale")
            spec = tf.TensorSpec([None, input_size, input_size, 3], tf.float32)
            self.__call__ = tf.function(self._call)
            for training in (False, True):  # like TF-Hub modules: traced for both, training defaults to False
                self.__call__.get_concrete_function(spec, training)

        def _call(self, images: tf.Tensor, training: bool = False) -> tf.Tensor:
            x = tf.nn.conv2d(images, self.kernel, strides=4, padding="SAME") + self.bias
            return tf.reduce_mean(tf.nn.relu(x), axis=[1, 2]) * self.scale

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = _Tiny()
    tf.saved_model.save(module, str(path))
    return path


def standin_weights_file(backbone: Any, *, alpha: float | None, image_size: int, top: bool = False) -> Path:
    """Lay out a stand-in ImageNet weights file (random values) under the exact name full mode looks for.

    The file goes to ``<rehearsal cache root>/keras/models``, one of the
    folders :func:`tlhelpers.backbones.weights_cache_dirs` searches, in the
    legacy HDF5 layout that ``keras.applications`` and the course's
    bring-your-own loaders read. The rehearsal cache root is separate from the
    real cache, so these files never stand in for real weights in full mode.

    Args:
        backbone: A :class:`tlhelpers.backbones.Backbone`.
        alpha: Width multiplier (MobileNets), or None.
        image_size: Input side length (MobileNetV2 names its files by size).
        top: The classifier with its 1000-class top instead of the no-top base.

    Returns:
        The file's path (created once, then reused).

    Raises:
        RuntimeError: Called outside the rehearsal.
    """
    import h5py
    import keras

    from tlhelpers import kerascompat
    from tlhelpers.course import config

    if config.rehearsal() is None:
        raise RuntimeError("Stand-in weights are laid out only in the rehearsal (TLH_REHEARSE=1gpu|2gpu).")
    filename = backbone.weights_filename(alpha or 1.0, image_size, top=top)
    target = config.cache_root() / "keras" / "models" / filename
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    alpha = alpha if alpha is not None and "alpha" in backbone.constructor_params() else None
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")  # weight files hold float32 values
    try:
        model = backbone.construct(include_top=top, weights=None, size=image_size, alpha=alpha)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    tmp = target.with_name(target.name + f".{os.getpid()}.part")
    with h5py.File(tmp, "w") as f:
        kerascompat.save_weights_to_hdf5_group(f, model)
    tmp.replace(target)
    print(f"REHEARSAL: stand-in weights (random values) for {backbone.name} laid out as {target}")
    return target


def make_preset(path: str | os.PathLike, *, architecture: dict[str, Any] | None = None, image_size: int = 224,
                num_classes: int = 2, seed: int = 0) -> Path:
    """Write a KerasHub image-classifier preset folder with random weights (``save_to_preset``).

    The folder loads like a downloaded preset: ``Backbone.from_preset(path)``,
    ``ImageClassifier.from_preset(path, num_classes=N)``,
    ``ImageConverter.from_preset(path)``. Its converter resizes to
    ``image_size`` and normalises with the ImageNet mean and standard deviation,
    as KerasHub's ResNet presets do. For tests, smoke runs and the rehearsal,
    never for real results.

    Args:
        path: Folder to write (replaced when it exists).
        architecture: ``keras_hub.models.ResNetBackbone`` arguments; None: a
            tiny ResNet (two basic blocks, 0.2 M parameters).
        image_size: The converter's input size. Defaults to 224.
        num_classes: Classes of the saved task head. Defaults to 2.
        seed: Weight seed. Defaults to 0.

    Returns:
        The folder.
    """
    import keras
    import keras_hub

    arch = architecture or {"input_conv_filters": [64], "input_conv_kernel_sizes": [3],
                            "stackwise_num_filters": [64, 32], "stackwise_num_blocks": [1, 1],
                            "stackwise_num_strides": [1, 2], "block_type": "basic_block",
                            "use_pre_activation": False}
    path = Path(path)
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")  # presets hold float32 weights, like the real ones
    try:
        keras.utils.set_random_seed(seed)
        backbone = keras_hub.models.ResNetBackbone(**arch)
        converter = keras_hub.layers.ResNetImageConverter(
            image_size=(image_size, image_size),
            scale=[1 / (255 * s) for s in IMAGENET_STD],
            offset=[-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)])
        preprocessor = keras_hub.models.ResNetImageClassifierPreprocessor(image_converter=converter)
        task = keras_hub.models.ResNetImageClassifier(backbone=backbone, num_classes=num_classes,
                                                      preprocessor=preprocessor)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    tmp = path.with_name(path.name + f".{os.getpid()}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    task.save_to_preset(str(tmp))
    shutil.rmtree(path, ignore_errors=True)
    tmp.replace(path)
    return path
