"""Model builders: the scratch CNN baseline and transfer-learning models.

What belongs here: functions that return Keras models (and change which of
their layers train). Every model takes raw ``float32`` images in 0..255;
whatever scaling a network needs happens inside the model, exactly once.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tlhelpers import backbones, kerascompat, kerashub, layers

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from tlhelpers.backbones import Backbone

__all__ = [
    "build_scratch_cnn",
    "TransferModel",
    "build_transfer_model",
    "build_hub_model",
    "build_kerashub_model",
    "from_kerashub_classifier",
    "build_head",
    "build_augmentation",
    "unfreeze",
    "unfreeze_start",
    "freeze_batchnorm",
    "trainable_summary",
    "with_class_names",
    "class_names_of",
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
    kl = keras.layers

    _check_classes(num_classes)
    inputs = keras.Input(shape=input_shape, name="image")
    x = kl.Rescaling(1.0 / 255, name="rescale_0_1")(inputs)
    for i, f in enumerate(filters):
        x = kl.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = kl.MaxPooling2D(name=f"pool{i + 1}")(x)
    x = kl.Flatten(name="flatten")(x)
    for i, units in enumerate(dense_units):
        x = kl.Dense(units, activation="relu", name=f"dense{i + 1}")(x)
        x = kl.Dropout(dropout, name=f"dropout{i + 1}")(x)
    outputs = kl.Dense(num_classes, activation="softmax", dtype="float32", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)


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
        fused: Do flip, rotation, zoom and shift in one
            :class:`tlhelpers.layers.RandomAffine` layer (one resampling).
            False uses the four separate Keras layers. Defaults to True.

    Returns:
        A ``keras.Sequential`` of augmentation layers; values stay in 0..255.
    """
    import keras

    steps: list[keras.layers.Layer] = []
    if fused and (flip or rotation or zoom or translation):
        steps.append(layers.RandomAffine(flip=flip, rotation=rotation, zoom=zoom, translation=translation, seed=seed,
                                  name="random_affine"))
    else:
        if flip:
            steps.append(keras.layers.RandomFlip("horizontal", seed=seed))
        if rotation:
            steps.append(keras.layers.RandomRotation(rotation, seed=seed))
        if zoom:
            steps.append(keras.layers.RandomZoom(zoom, seed=seed))
        if translation:
            steps.append(keras.layers.RandomTranslation(translation, translation, seed=seed))
    if contrast:
        steps.append(keras.layers.RandomContrast(contrast, value_range=(0, 255), seed=seed))
    return keras.Sequential(steps, name=name)


@dataclasses.dataclass
class TransferModel:
    """A transfer-learning model and handles to its parts, whatever the backbone's origin.

    Built by :func:`build_transfer_model` (``keras.applications``, the
    course's registry and KerasHub presets), :func:`build_hub_model` (a TF-Hub
    module) or :func:`from_kerashub_classifier` (a KerasHub ``ImageClassifier``);
    all freeze, unfreeze (:func:`unfreeze`) and train the same way.

    Attributes:
        model: The full model: raw 0..255 images in, class probabilities out.
        base: The pretrained backbone inside ``model`` (frozen when built): a
            ``keras.Model``, or a :class:`~tlhelpers.layers.HubLayer`.
        features: A model sharing ``model``'s layers: raw images in, pooled
            backbone features out (for caching features).
        head: The new classification head (features in, probabilities out).
        backbone: The registry entry used (None for a TF-Hub module or a KerasHub preset).
        image_size: The input side length the model was built for.
        handle: The TF-Hub handle (None for a registry backbone).
        preset: The KerasHub preset spec (``"kerashub:..."``), else None.
    """

    model: keras.Model
    base: Any
    features: keras.Model
    head: keras.Model
    backbone: Backbone | None
    image_size: int
    handle: str | None = None
    preset: str | None = None


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

    A KerasHub preset (``"kerashub:resnet_50_imagenet"``, or
    ``"kerashub:<preset folder>"``) goes to :func:`build_kerashub_model`: the
    same layout, with the preset's own normalisation as the ``preprocess`` layer.

    Args:
        backbone: Registry name, :class:`~tlhelpers.backbones.Backbone`, or
            ``"kerashub:<preset>"``.
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

    if kerashub.is_preset(backbone):
        if alpha is not None:
            raise ValueError(f"alpha is a keras.applications MobileNet option; {backbone!r} is a KerasHub preset.")
        if weights not in ("auto", "imagenet"):
            raise ValueError(f"weights={weights!r}: a KerasHub preset brings its own weights; pick another "
                             "preset (or a preset folder) instead.")
        return build_kerashub_model(str(backbone), num_classes, image_size=image_size, dropout=dropout,
                                    augmentation=augmentation, name=name)
    _check_classes(num_classes)
    spec = backbones.get(backbone)
    size = image_size or spec.input_size
    base = backbones.build_base(spec, image_size=size, weights=weights, alpha=alpha)
    base.trainable = False
    freeze_batchnorm(base)
    return _assemble(size, layers.Preprocess(spec.preprocess, name="preprocess"),
                     lambda x: keras.layers.GlobalAveragePooling2D(name="pool")(base(x, training=False)),
                     num_classes, augmentation=augmentation, dropout=dropout,
                     name=name or f"{spec.name.lower()}_transfer", base=base, backbone=spec)


def build_hub_model(handle: str, num_classes: int, *, image_size: int | None = None, dropout: float = 0.2,
                    augmentation: keras.layers.Layer | None = None, trainable: bool = False) -> TransferModel:
    """Build raw images -> [augmentation] -> scale to [0, 1] -> TF-Hub layer -> new head.

    The scaling to ``[0, 1]`` (the TF-Hub convention) happens inside the model,
    exactly once, so the model (and a saved copy) takes raw 0..255 images.

    Args:
        handle: See :func:`tlhelpers.tfhub.resolve`.
        num_classes: Number of classes (2 or more).
        image_size: Input size; defaults to the module's fixed size, else the
            registry's native size, else 224. A module with a fixed size only
            accepts that size.
        dropout: Dropout rate in the head. Defaults to 0.2.
        augmentation: Applied to raw images during training only. Defaults to None.
        trainable: Train the hub module's weights too. Defaults to False.

    Returns:
        A :class:`TransferModel` (uncompiled) whose ``base`` is the
        :class:`~tlhelpers.layers.HubLayer` (named ``"hub"``).
    """
    from tlhelpers import tfhub

    _check_classes(num_classes)
    layer = layers.HubLayer(handle, trainable=trainable, name="hub")
    native = tfhub.HANDLES[handle].input_size if handle in tfhub.HANDLES else 224
    size = int(image_size or layer.expected_size or native)
    return _assemble(size, layers.Preprocess("unit", name="to_unit_range"), layer, num_classes,
                     augmentation=augmentation, dropout=dropout, name="hub_classifier",
                     features_name="hub_features", base=layer, handle=handle)


def _freeze_kerashub(base: Any, converter: Any, image_size: int | None) -> tuple[int, Any, Any]:
    """Freeze a KerasHub backbone (BatchNorm too); return the input size and the converter's scale and offset."""
    native = getattr(converter, "image_size", None)
    base.trainable = False
    freeze_batchnorm(base)
    return int(image_size or (native[0] if native else 224)), *kerashub.converter_scale_offset(converter)


def _as_backbone_input(base: Any, x: Any) -> Any:
    """Wrap images the way a backbone with one named input (``{"images": ...}``, KerasHub's ViTs) expects them."""
    names = getattr(base, "input", None)
    if isinstance(names, dict) and len(names) == 1:
        return {next(iter(names)): x}
    return x


def _pool(x: Any) -> Any:
    """Average a backbone's output over space (4-D feature maps) or tokens (3-D, transformers)."""
    import keras

    if len(x.shape) == 4:
        return keras.layers.GlobalAveragePooling2D(name="pool")(x)
    if len(x.shape) == 3:
        return keras.layers.GlobalAveragePooling1D(name="pool")(x)
    return x


def build_kerashub_model(preset: str, num_classes: int, *, image_size: int | None = None, dropout: float = 0.2,
                         augmentation: keras.layers.Layer | None = None, name: str | None = None) -> TransferModel:
    """Build a KerasHub preset's backbone + the course's head, like :func:`build_transfer_model`.

    Layout: raw images (0..255) -> [augmentation] -> ``preprocess`` (a
    ``Rescaling`` layer holding the preset converter's ``scale`` and
    ``offset``: the normalisation KerasHub's preprocessor would apply inside
    ``fit``/``predict``, here applied exactly once, inside the model) ->
    backbone (frozen, BatchNorm frozen, ``training=False``) -> average pooling
    -> head (dropout, dense softmax: probabilities, not logits).

    The converter's resizing is left to the data pipeline, which resizes every
    batch to ``image_size`` already (defaults to the converter's size).

    Args:
        preset: ``"kerashub:<preset name, folder or kaggle:// handle>"``.
        num_classes: Number of classes (2 or more).
        image_size: Input side length. Defaults to the preset's (224 without one).
        dropout: Dropout rate in the head. Defaults to 0.2.
        augmentation: Applied to raw images during training only. Defaults to None.
        name: Model name. Defaults to ``"<preset>_transfer"``.

    Returns:
        A :class:`TransferModel` (uncompiled) with ``preset`` set.
    """
    import keras

    _check_classes(num_classes)
    spec = preset if kerashub.is_preset(preset) else kerashub.PREFIX + preset
    base = kerashub.load_backbone(spec)
    converter = kerashub.load_converter(spec)
    size, scale, offset = _freeze_kerashub(base, converter, image_size)
    if converter is None:
        warnings.warn(f"The KerasHub preset {kerashub.preset_name(spec)} has no image converter, so the backbone "
                      "gets raw 0..255 pixels. Check on its model card what input it expects.", stacklevel=2)

    return _assemble(size, keras.layers.Rescaling(scale, offset, name="preprocess"),
                     lambda x: _pool(base(_as_backbone_input(base, x), training=False)), num_classes,
                     augmentation=augmentation, dropout=dropout,
                     name=name or f"{kerashub.preset_name(spec)}_transfer", base=base, preset=spec)


def from_kerashub_classifier(classifier: Any, *, image_size: int | None = None) -> TransferModel:
    """Wrap a KerasHub ``ImageClassifier`` so the course's tools (``fit_two_phase``, ``unfreeze``...) train it.

    The wrapper shares the classifier's layers and weights (training one
    trains the other): raw images -> ``Rescaling`` (its preprocessor's
    ``scale`` and ``offset``, once) -> ``classifier.backbone`` (frozen,
    BatchNorm frozen) -> ``classifier.pooler`` -> head (its dropout and dense
    layer, then a float32 softmax: the classifier itself outputs logits).

    Args:
        classifier: E.g. ``keras_hub.models.ImageClassifier.from_preset(preset, num_classes=N)``.
        image_size: Input side length. Defaults to its converter's size (224 without one).

    Returns:
        A :class:`TransferModel` (uncompiled).

    Raises:
        ValueError: The classifier has no ``pooler``/``output_dense`` (not an ImageClassifier).
    """
    import keras

    missing = [a for a in ("backbone", "pooler", "output_dense") if getattr(classifier, a, None) is None]
    if missing:
        raise ValueError(f"{type(classifier).__name__} has no {', '.join(missing)}: pass a KerasHub "
                         "ImageClassifier (keras_hub.models.ImageClassifier.from_preset(..., num_classes=N)).")
    converter = getattr(getattr(classifier, "preprocessor", None), "image_converter", None)
    base = classifier.backbone
    size, scale, offset = _freeze_kerashub(base, converter, image_size)
    dim = classifier.output_dense.kernel.shape[0]
    steps = [keras.Input((int(dim),))]
    if getattr(classifier, "output_dropout", None) is not None:
        steps.append(classifier.output_dropout)
    steps += [classifier.output_dense, keras.layers.Activation("softmax", dtype="float32", name="probabilities")]
    head = keras.Sequential(steps, name="head")

    return _assemble(size, keras.layers.Rescaling(scale, offset, name="preprocess"),
                     lambda x: classifier.pooler(base(_as_backbone_input(base, x), training=False)), head,
                     name=f"{classifier.name}_course", base=base)


def _check_classes(num_classes: int) -> None:
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}.")


def _assemble(size: int, preprocess: Any, features_of: Any, head: Any, *, augmentation: Any = None,
              dropout: float = 0.2, name: str, features_name: str | None = None, **fields: Any) -> TransferModel:
    """Assemble the course's one model layout around a frozen base; every builder of this module ends here.

    raw images (``size`` x ``size`` x 3, 0..255) -> [augmentation] -> ``preprocess`` (exactly once, inside the
    model) -> ``features_of`` (the base and its pooling) -> ``head`` (a model, or the number of classes: then
    :func:`build_head` with ``dropout``). ``fields`` go to :class:`TransferModel` (``base``, ``backbone``...).
    """
    import keras

    inputs = keras.Input((size, size, 3), name="image")
    x = augmentation(inputs) if augmentation is not None else inputs
    pooled = features_of(preprocess(x))
    if not callable(head):  # a number of classes (any integer type, as before), not a head model
        head = build_head(pooled.shape[-1], int(head), dropout=dropout)
    model = keras.Model(inputs, head(pooled), name=name)
    features = keras.Model(inputs, pooled, name=features_name or f"{model.name}_features")
    return TransferModel(model=model, features=features, head=head, image_size=size, **{"backbone": None, **fields})


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

    _check_classes(num_classes)
    return keras.Sequential([
        keras.Input((int(feature_dim),)),
        keras.layers.Dropout(dropout, name="head_dropout"),
        keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="head_dense"),
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
    # Layers inside custom layers (KerasHub's transformer blocks) have no `.layers`; Keras tracks them all.
    if hasattr(model, "_flatten_layers"):
        seen = {id(layer) for layer in out}
        out.extend(layer for layer in kerascompat.all_sublayers(model) if id(layer) not in seen)
    return out


def unfreeze_start(base: Any, from_layer: int | str | float = 0) -> int:
    """Return the index of the first layer :func:`unfreeze` would train, changing nothing.

    Call it before training to find a wrong ``from_layer`` before any time is spent (``training.fit_two_phase``
    does).

    Args:
        base: The backbone (a TF-Hub module's layer gives 0: it unfreezes whole).
        from_layer: See :func:`unfreeze`.

    Returns:
        The layer index.

    Raises:
        ValueError: Unknown layer name or out-of-range index/fraction.
    """
    if isinstance(base, layers.HubLayer):
        return 0
    n = len(base.layers)
    if isinstance(from_layer, str):
        names = [layer.name for layer in base.layers]
        if from_layer not in names:
            import difflib

            close = difflib.get_close_matches(from_layer, names, n=3)
            raise ValueError(f"{base.name} has no layer {from_layer!r}. Close names: {close}.")
        return names.index(from_layer)
    if isinstance(from_layer, float) and not float(from_layer).is_integer():
        if not 0 < from_layer < 1:
            raise ValueError(f"A fraction must be between 0 and 1, got {from_layer}.")
        return int(round(n * (1 - from_layer)))
    start = int(from_layer)
    if not 0 <= start < n:
        raise ValueError(f"{base.name} has {n} layers; from_layer must be in 0..{n - 1}, got {start} (or pass a "
                         "fraction such as 0.3, the top 30 %).")
    return start


def unfreeze(base: keras.Model, from_layer: int | str | float = 0) -> int:
    """Unfreeze the top of a backbone for fine-tuning, keeping BatchNorm frozen.

    Layers before ``from_layer`` stay frozen; later ones train, except every
    BatchNormalization layer, which stays frozen. Recompile the model
    afterwards (with a low learning rate): Keras only picks up ``trainable``
    changes when you compile.

    A TF-Hub module (:class:`~tlhelpers.layers.HubLayer`, the ``base`` of
    :func:`build_hub_model`) is one Keras layer: it unfreezes as a whole,
    whatever ``from_layer`` says (a notice says so), and its BatchNorm layers
    keep running in inference mode (``train_batchnorm=False``).

    Args:
        base: The backbone (e.g. ``TransferModel.base``).
        from_layer: First layer to train: an index (``100``), a layer name
            (``"block_13_expand"``), or a fraction of the depth in (0, 1)
            (``0.3``: train the top 30 %). Defaults to 0 (all layers).

    Returns:
        The number of layers (not counting BatchNorm) that now train (1 for a TF-Hub module).

    Raises:
        ValueError: Unknown layer name or out-of-range index/fraction.
    """
    if isinstance(base, layers.HubLayer):
        if from_layer not in (0, 0.0):
            warnings.warn(f"{base.name} is a TF-Hub module, one Keras layer: it unfreezes as a whole "
                          f"(from_layer={from_layer!r} applies to keras.applications backbones only); its BatchNorm "
                          "statistics stay frozen.", stacklevel=2)
        base.trainable = True
        return 1
    start = unfreeze_start(base, from_layer)
    base.trainable = True
    # Layer by layer: on a base that is already trainable, Keras 3 (3.15.1 measured) does not switch layers frozen
    # one by one back on when `base.trainable = True` is set again, so a second, deeper unfreeze would not take.
    for i, layer in enumerate(base.layers):
        layer.trainable = i >= start
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
    outputs = layers.ClassNames(list(class_names), name="class_names")(model.outputs[0])
    return keras.Model(model.inputs, outputs, name=model.name)


def class_names_of(model: keras.Model) -> list[str] | None:
    """Return the class names stored by :func:`with_class_names`, or None."""
    for layer in model.layers:
        if isinstance(layer, layers.ClassNames):
            return list(layer.names)
    return None


def load_model(path: str | os.PathLike) -> keras.Model:
    """Load a ``.keras`` model saved by the course, in any process.

    Importing this module imports :mod:`tlhelpers.layers`, which registers the
    course's layer classes; a plain ``keras.models.load_model`` then works too,
    as long as ``tlhelpers.layers`` was imported.

    A file saved by a newer Keras (a laptop with Keras 3.15, opened on Colab's
    3.13) that Keras refuses only because of new arguments saved at ``None``
    is loaded from a copy without them (:func:`kerascompat.without_newer_defaults`),
    with a warning naming them; the file itself is never changed.

    Args:
        path: The ``.keras`` file.

    Returns:
        The model.
    """
    import tempfile
    import warnings

    import keras

    try:
        return keras.models.load_model(path)
    except (TypeError, ValueError) as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        with tempfile.TemporaryDirectory() as tmp:
            copy, dropped = kerascompat.without_newer_defaults(path, tmp)
            if not dropped:
                raise
            model = keras.models.load_model(copy)
        warnings.warn(f"{path} was saved by a newer Keras than {keras.__version__}; loaded without the arguments "
                      f"this Keras does not know, all saved at their default None: {', '.join(dropped)}.",
                      stacklevel=2)
        return model
