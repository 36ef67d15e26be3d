"""Model builders: the scratch CNN baseline and transfer-learning models.

What belongs here: functions that return Keras models (and change which of
their layers train). Every model takes raw ``float32`` images in 0..255;
whatever scaling a network needs happens inside the model, exactly once.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from tlhelpers.backbones import Backbone

_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
_MODES = ("caffe", "tf", "torch", "none", "unit")

__all__ = [
    "build_scratch_cnn",
    "Preprocess",
    "TransferModel",
    "build_transfer_model",
    "build_head",
    "build_augmentation",
    "RandomAffine",
    "unfreeze",
    "freeze_batchnorm",
    "trainable_summary",
    "with_class_names",
    "class_names_of",
    "register_custom_layers",
    "load_model",
]


def build_scratch_cnn(
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    filters: tuple[int, ...] = (32, 64, 128),
    dense_units: tuple[int, ...] = (256, 128),
    dropout: float = 0.5,
    name: str = "scratch_cnn",
) -> keras.Model:
    """Build the classic small CNN trained from scratch.

    Three convolution blocks (conv 3x3 + ReLU, max-pool), then dense layers
    with dropout and a softmax, as in the well-known TF-Hub transfer-learning
    article's baseline. A ``Rescaling(1/255)`` layer first maps 0..255 inputs
    to 0..1.

    Args:
        input_shape: ``(height, width, channels)``.
        num_classes: Number of output classes.
        filters: Filters per convolution block. Defaults to ``(32, 64, 128)``.
        dense_units: Units of the hidden dense layers. Defaults to ``(256, 128)``.
        dropout: Dropout rate after each hidden dense layer. Defaults to 0.5.
        name: Model name. Defaults to ``"scratch_cnn"``.

    Returns:
        An uncompiled ``keras.Model`` mapping images to class probabilities.
    """
    import keras
    from keras import layers

    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}.")
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale_0_1")(inputs)
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = layers.MaxPooling2D(name=f"pool{i + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense_units):
        x = layers.Dense(units, activation="relu", name=f"dense{i + 1}")(x)
        x = layers.Dropout(dropout, name=f"dropout{i + 1}")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)


_PREPROCESS_CLASS: Any = None


def _preprocess_class() -> Any:
    """Create (once) the serialisable Keras layer class behind :func:`Preprocess`."""
    global _PREPROCESS_CLASS
    if _PREPROCESS_CLASS is not None:
        return _PREPROCESS_CLASS
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="tlhelpers", name="Preprocess")
    class _Preprocess(keras.layers.Layer):
        """Map raw 0..255 RGB images to what a backbone expects (``preprocess_input`` as a layer)."""

        def __init__(self, mode: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            if mode not in _MODES:
                raise ValueError(f"Unknown preprocessing mode {mode!r}; expected one of {_MODES}.")
            self.mode = mode

        def call(self, x: Any) -> Any:
            x = ops.cast(x, self.compute_dtype)
            if self.mode == "tf":
                return x / 127.5 - 1.0
            if self.mode == "unit":
                return x / 255.0
            if self.mode == "caffe":
                x = ops.flip(x, axis=-1)  # RGB -> BGR
                return x - ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=x.dtype)
            if self.mode == "torch":
                mean = ops.convert_to_tensor(_TORCH_MEAN, dtype=x.dtype)
                std = ops.convert_to_tensor(_TORCH_STD, dtype=x.dtype)
                return (x / 255.0 - mean) / std
            return x  # "none": the backbone rescales 0..255 itself

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "mode": self.mode}

    _PREPROCESS_CLASS = _Preprocess
    return _PREPROCESS_CLASS


def Preprocess(mode: str, **kwargs: Any) -> keras.layers.Layer:  # noqa: N802 - reads like a layer class
    """Create a layer doing a backbone's ``preprocess_input`` on raw 0..255 images.

    Keeping preprocessing inside the model means the saved model takes raw
    images and nobody can apply it twice or forget it.

    Args:
        mode: ``"caffe"`` (RGB->BGR, minus ImageNet means), ``"tf"`` (to
            -1..1), ``"torch"`` (0..1, ImageNet mean/std), ``"unit"`` (to
            0..1, the TF-Hub convention) or ``"none"`` (pass 0..255 through).
        **kwargs: Passed to ``keras.layers.Layer`` (e.g. ``name``).

    Returns:
        The layer (serialisable in ``.keras`` files).
    """
    return _preprocess_class()(mode, **kwargs)


_AFFINE_CLASS: Any = None


def _affine_class() -> Any:
    """Create (once) the serialisable layer class behind :func:`RandomAffine`."""
    global _AFFINE_CLASS
    if _AFFINE_CLASS is not None:
        return _AFFINE_CLASS
    import math

    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="tlhelpers", name="RandomAffine")
    class RandomAffine(keras.layers.Layer):
        """Random flip, rotation, zoom and shift as ONE resampling per image (training only)."""

        def __init__(self, flip: bool = True, rotation: float = 0.1, zoom: float = 0.1, translation: float = 0.1,
                     fill_mode: str = "reflect", seed: int | None = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.flip, self.rotation, self.zoom, self.translation = flip, rotation, zoom, translation
            self.fill_mode, self.seed = fill_mode, seed
            self.seed_generator = keras.random.SeedGenerator(seed)
            # ImageProjectiveTransformV3 has no XLA kernel: without this, Keras's jit_compile="auto" turns XLA
            # on for a single GPU and fit() crashes. Keras's own RandomRotation/RandomZoom say the same.
            self.supports_jit = False

        def call(self, images: Any, training: Any = None) -> Any:
            if not training:
                return images
            x = ops.cast(images, self.compute_dtype)
            shape = ops.shape(x)
            n = shape[0]
            height, width = ops.cast(shape[1], "float32"), ops.cast(shape[2], "float32")

            def uniform(low: float, high: float) -> Any:
                return keras.random.uniform((n,), low, high, seed=self.seed_generator)

            theta = uniform(-self.rotation, self.rotation) * 2.0 * math.pi
            scale = 1.0 + uniform(-self.zoom, self.zoom)  # > 1 enlarges the content (zoom in)
            tx = uniform(-self.translation, self.translation) * width
            ty = uniform(-self.translation, self.translation) * height
            sign = ops.where(uniform(0.0, 1.0) < 0.5, -1.0, 1.0) if self.flip else ops.ones((n,))
            cos, sin = ops.cos(theta) / scale, ops.sin(theta) / scale
            # output pixel (x, y) samples input M (x, y) + b, with M = flip * rotate(-theta) / scale
            a0, a1, b0, b1 = sign * cos, sign * sin, -sin, cos
            cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
            px, py = cx + tx, cy + ty
            a2 = cx - (a0 * px + a1 * py)
            b2 = cy - (b0 * px + b1 * py)
            zeros = ops.zeros_like(a0)
            transform = ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
            return ops.image.affine_transform(x, transform, interpolation="bilinear", fill_mode=self.fill_mode)

        def compute_output_shape(self, input_shape: Any) -> Any:
            return input_shape

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "flip": self.flip, "rotation": self.rotation, "zoom": self.zoom,
                    "translation": self.translation, "fill_mode": self.fill_mode, "seed": self.seed}

    _AFFINE_CLASS = RandomAffine
    return RandomAffine


def RandomAffine(*, flip: bool = True, rotation: float = 0.1, zoom: float = 0.1,  # noqa: N802 - a layer
                 translation: float = 0.1, fill_mode: str = "reflect", seed: int | None = None,
                 **kwargs: Any) -> keras.layers.Layer:
    """Create a layer doing random flip, rotation, zoom and shift in a single resampling (training only).

    ``RandomFlip`` + ``RandomRotation`` + ``RandomZoom`` + ``RandomTranslation``
    resample every image four times; this layer composes the four into one
    affine transform per image, which is about 3-4x faster on a CPU and blurs
    less. Same argument meaning as those layers.

    Args:
        flip: Random horizontal flips. Defaults to True.
        rotation: Max rotation as a fraction of a full turn. Defaults to 0.1 (36 degrees).
        zoom: Max zoom in/out fraction. Defaults to 0.1.
        translation: Max shift as a fraction of the width/height. Defaults to 0.1.
        fill_mode: How to fill pixels from outside the image (``"reflect"``,
            ``"constant"``, ``"nearest"``, ``"wrap"``). Defaults to ``"reflect"``.
        seed: Random seed. Defaults to None.
        **kwargs: Passed to ``keras.layers.Layer`` (e.g. ``name``).

    Returns:
        The layer (serialisable in ``.keras`` files).
    """
    return _affine_class()(flip=flip, rotation=rotation, zoom=zoom, translation=translation, fill_mode=fill_mode,
                           seed=seed, **kwargs)


def build_augmentation(
    *, flip: bool = True, rotation: float = 0.1, zoom: float = 0.1, translation: float = 0.1,
    contrast: float = 0.1, seed: int | None = None, name: str = "augmentation", fused: bool = True,
) -> keras.Sequential:
    """Build random augmentation as Keras preprocessing layers (active only in training).

    Args:
        flip: Random horizontal flips. Defaults to True.
        rotation: Max rotation as a fraction of a full turn (0 disables). Defaults to 0.1.
        zoom: Max zoom in/out fraction (0 disables). Defaults to 0.1.
        translation: Max shift as a fraction of the size (0 disables). Defaults to 0.1.
        contrast: Max contrast change (0 disables). Defaults to 0.1.
        seed: Random seed. Defaults to None.
        name: Layer name. Defaults to ``"augmentation"``.
        fused: Do flip, rotation, zoom and shift in one :func:`RandomAffine`
            layer (one resampling). False uses the four separate Keras layers.
            Defaults to True.

    Returns:
        A ``keras.Sequential`` of augmentation layers; values stay in 0..255.
    """
    import keras
    from keras import layers

    steps: list[keras.layers.Layer] = []
    if fused and (flip or rotation or zoom or translation):
        steps.append(RandomAffine(flip=flip, rotation=rotation, zoom=zoom, translation=translation, seed=seed,
                                  name="random_affine"))
    else:
        if flip:
            steps.append(layers.RandomFlip("horizontal", seed=seed))
        if rotation:
            steps.append(layers.RandomRotation(rotation, seed=seed))
        if zoom:
            steps.append(layers.RandomZoom(zoom, seed=seed))
        if translation:
            steps.append(layers.RandomTranslation(translation, translation, seed=seed))
    if contrast:
        steps.append(layers.RandomContrast(contrast, value_range=(0, 255), seed=seed))
    return keras.Sequential(steps, name=name)


@dataclasses.dataclass
class TransferModel:
    """A transfer-learning model and handles to its parts.

    Attributes:
        model: The full model: raw 0..255 images in, class probabilities out.
        base: The pretrained backbone inside ``model`` (frozen when built).
        features: A model sharing ``model``'s layers: raw images in, pooled
            backbone features out (for caching features).
        head: The new classification head (features in, probabilities out).
        backbone: The registry entry used.
    """

    model: keras.Model
    base: keras.Model
    features: keras.Model
    head: keras.Model
    backbone: Backbone


def build_transfer_model(
    backbone: str | Backbone,
    num_classes: int,
    *,
    image_size: int | None = None,
    weights: str | None = "auto",
    alpha: float | None = None,
    dropout: float = 0.2,
    augmentation: keras.layers.Layer | None = None,
    name: str | None = None,
) -> TransferModel:
    """Build frozen backbone + new head, with preprocessing inside the model exactly once.

    Layout: raw images (0..255) -> [augmentation] -> ``Preprocess`` (the
    backbone's ``preprocess_input``) -> backbone (frozen, called with
    ``training=False``) -> global average pooling -> head (dropout, dense
    softmax).

    Args:
        backbone: Registry name or :class:`~tlhelpers.backbones.Backbone`.
        num_classes: Number of classes (2 or more).
        image_size: Input side length. Defaults to the backbone's native size.
        weights: See :func:`tlhelpers.backbones.resolve_weights`. Defaults to ``"auto"``.
        alpha: Width multiplier (MobileNets only). Defaults to None.
        dropout: Dropout rate in the head. Defaults to 0.2.
        augmentation: A layer applied to raw images during training only.
            Defaults to None.
        name: Model name. Defaults to ``"<backbone>_transfer"``.

    Returns:
        A :class:`TransferModel` (uncompiled).
    """
    import keras
    from keras import layers

    from tlhelpers import backbones

    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}.")
    spec = backbones.get(backbone)
    size = image_size or spec.input_size
    base = backbones.build_base(spec, image_size=size, weights=weights, alpha=alpha)
    base.trainable = False
    freeze_batchnorm(base)

    head = build_head(base.output_shape[-1], num_classes, dropout=dropout)

    inputs = keras.Input((size, size, 3), name="image")
    x = augmentation(inputs) if augmentation is not None else inputs
    x = Preprocess(spec.preprocess, name="preprocess")(x)
    x = base(x, training=False)
    pooled = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = head(pooled)
    model = keras.Model(inputs, outputs, name=name or f"{spec.name.lower()}_transfer")
    features = keras.Model(inputs, pooled, name=f"{model.name}_features")
    return TransferModel(model=model, base=base, features=features, head=head, backbone=spec)


def build_head(feature_dim: int, num_classes: int, *, dropout: float = 0.2) -> keras.Model:
    """Build the new classification head: dropout, then a dense softmax layer.

    Args:
        feature_dim: Length of the feature vectors it receives.
        num_classes: Number of classes (2 or more).
        dropout: Dropout rate. Defaults to 0.2.

    Returns:
        A ``Sequential`` model named ``"head"`` (float32 output, also under mixed precision).
    """
    import keras
    from keras import layers

    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}.")
    return keras.Sequential([
        keras.Input((int(feature_dim),)),
        layers.Dropout(dropout, name="head_dropout"),
        layers.Dense(num_classes, activation="softmax", dtype="float32", name="head_dense"),
    ], name="head")


def freeze_batchnorm(model: keras.Model) -> int:
    """Set every BatchNormalization layer (at any depth) to ``trainable=False``.

    In Keras 3 a BatchNormalization layer with ``trainable=False`` runs in
    inference mode: its moving mean and variance stay as they were learned on
    ImageNet. Calling the base with ``training=False`` alone is not enough once
    the base is unfrozen.

    Args:
        model: Any model or layer.

    Returns:
        How many BatchNormalization layers were frozen.
    """
    import keras

    count = 0
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
            count += 1
    return count


def _all_layers(model: Any) -> list[Any]:
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        out.extend(_all_layers(layer))
    return out


def unfreeze(base: keras.Model, from_layer: int | str | float = 0) -> int:
    """Unfreeze the top of a backbone for fine-tuning, keeping BatchNorm frozen.

    Layers before ``from_layer`` stay frozen; later ones train, except every
    BatchNormalization layer, which stays frozen. Recompile the model
    afterwards (with a low learning rate): Keras only picks up ``trainable``
    changes when you compile.

    Args:
        base: The backbone (e.g. ``TransferModel.base``).
        from_layer: First layer to train: an index (``100``), a layer name
            (``"block_13_expand"``), or a fraction of the depth in (0, 1)
            (``0.3``: train the top 30 %). Defaults to 0 (all layers).

    Returns:
        The number of layers (not counting BatchNorm) that now train.

    Raises:
        ValueError: Unknown layer name or out-of-range index/fraction.
    """
    n = len(base.layers)
    if isinstance(from_layer, str):
        names = [layer.name for layer in base.layers]
        if from_layer not in names:
            import difflib

            close = difflib.get_close_matches(from_layer, names, n=3)
            raise ValueError(f"{base.name} has no layer {from_layer!r}. Close names: {close}.")
        start = names.index(from_layer)
    elif isinstance(from_layer, float) and not float(from_layer).is_integer():
        if not 0 < from_layer < 1:
            raise ValueError(f"A fraction must be between 0 and 1, got {from_layer}.")
        start = int(round(n * (1 - from_layer)))
    else:
        start = int(from_layer)
        if not 0 <= start < n:
            raise ValueError(f"{base.name} has {n} layers; from_layer must be in 0..{n - 1}, got {start}.")
    base.trainable = True
    for layer in base.layers[:start]:
        layer.trainable = False
    freeze_batchnorm(base)
    import keras

    return sum(1 for layer in base.layers[start:]
               if layer.trainable and not isinstance(layer, keras.layers.BatchNormalization) and layer.weights)


def trainable_summary(model: keras.Model) -> dict[str, int]:
    """Count trainable and frozen parameters.

    Args:
        model: Any Keras model.

    Returns:
        ``{"trainable": n, "non_trainable": n, "total": n}``.
    """
    import numpy as np

    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    frozen = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
    return {"trainable": trainable, "non_trainable": frozen, "total": trainable + frozen}


_LABEL_NAMES_CLASS: Any = None


def _label_names_class() -> Any:
    """Create (once) the serialisable identity layer that carries the class names inside a model."""
    global _LABEL_NAMES_CLASS
    if _LABEL_NAMES_CLASS is not None:
        return _LABEL_NAMES_CLASS
    import keras

    @keras.saving.register_keras_serializable(package="tlhelpers", name="ClassNames")
    class ClassNames(keras.layers.Layer):
        """Passes probabilities through unchanged; its config stores the class names."""

        def __init__(self, names: list[str], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.names = [str(n) for n in names]

        def call(self, x: Any) -> Any:
            return x

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "names": self.names}

    _LABEL_NAMES_CLASS = ClassNames
    return ClassNames


def with_class_names(model: keras.Model, class_names: Sequence[str]) -> keras.Model:
    """Return a model that predicts like ``model`` and carries its class names (saved in ``.keras`` files).

    Args:
        model: A trained classifier with one output of ``len(class_names)`` probabilities.
        class_names: Names in label order.

    Returns:
        A functional model sharing ``model``'s layers and weights.
    """
    import keras

    if model.output_shape[-1] != len(class_names):
        raise ValueError(f"The model predicts {model.output_shape[-1]} classes but {len(class_names)} names "
                         "were given.")
    outputs = _label_names_class()(list(class_names), name="class_names")(model.outputs[0])
    return keras.Model(model.inputs, outputs, name=model.name)


def class_names_of(model: keras.Model) -> list[str] | None:
    """Return the class names stored by :func:`with_class_names`, or None."""
    cls = _label_names_class()
    for layer in model.layers:
        if isinstance(layer, cls):
            return list(layer.names)
    return None


def register_custom_layers() -> None:
    """Register every Keras layer class of ``tlhelpers`` (Preprocess, RandomAffine, ClassNames, HubLayer).

    ``keras.models.load_model`` needs them registered to open a model saved by
    the course; :func:`load_model` does this for you.
    """
    _preprocess_class()
    _affine_class()
    _label_names_class()
    try:
        from tlhelpers import tfhub

        tfhub._hub_layer_class()
    except ImportError:  # pragma: no cover - tensorflow_hub not installed: no hub layers to load
        pass


def load_model(path: str | os.PathLike) -> keras.Model:
    """Load a ``.keras`` model saved by the course, in any process (registers the custom layers first).

    Args:
        path: The ``.keras`` file.

    Returns:
        The model.
    """
    import keras

    register_custom_layers()
    return keras.models.load_model(path)
