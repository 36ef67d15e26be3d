"""TF-Hub models as Keras 3 layers, a handle registry, and offline stand-ins.

What belongs here: everything about TF-Hub SavedModels: which handle a
lesson uses (tfhub.dev and Kaggle Models forms, input size, output size),
where modules are cached (``TFHUB_CACHE_DIR``), how a module becomes a
Keras 3 layer (:func:`HubLayer`), and what replaces a module offline in smoke
mode.

Why a new layer: ``hub.KerasLayer`` is a ``tf_keras`` (Keras 2) layer. Keras 3
refuses it (``ValueError: Only instances of keras.Layer can be added to a
Sequential model``). :func:`HubLayer` loads the SavedModel with
``hub.load`` and registers the module's own ``tf.Variable`` objects as the
layer's Keras weights, so freezing, fine-tuning, ``model.summary()`` and
``.keras`` saving work as for any Keras layer.

Input contract of TF-Hub image modules: float32 images in ``[0, 1]``; some
modules need one fixed size (the layer reads it from the module and checks it).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tlhelpers import config

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = [
    "HubModel",
    "HANDLES",
    "get",
    "names",
    "cache_dir",
    "resolve",
    "smoke_module",
    "HubLayer",
    "expected_image_size",
    "HubTransferModel",
    "build_hub_model",
]

SMOKE_ASSET = "tfhub/mobilenet_v2_035_224_feature_vector"


@dataclasses.dataclass(frozen=True)
class HubModel:
    """One TF-Hub image feature-vector model.

    Attributes:
        name: Short name used by the lessons.
        tfhub: The classic ``https://tfhub.dev/...`` handle (now redirects to Kaggle).
        kaggle: The Kaggle Models handle (what gets downloaded).
        input_size: Native input side length in pixels.
        output_dim: Length of the feature vector.
        note: One line for learners.
        any_size: The module accepts images of any size (``input_size`` is
            then only the size it was trained at).
    """

    name: str
    tfhub: str
    kaggle: str
    input_size: int
    output_dim: int
    note: str
    any_size: bool = False


_K = "https://www.kaggle.com/models/"
HANDLES: dict[str, HubModel] = {m.name: m for m in [
    HubModel("resnet_v2_50", "https://tfhub.dev/google/imagenet/resnet_v2_50/feature_vector/5",
             _K + "google/resnet-v2/TensorFlow2/50-feature-vector/2", 224, 2048,
             "ResNet-50 v2 (the CIFAR-10 article's model); accepts other sizes, e.g. 96 px.", any_size=True),
    HubModel("inception_v3", "https://tfhub.dev/google/imagenet/inception_v3/feature_vector/5",
             _K + "google/inception-v3/TensorFlow2/feature-vector/2", 299, 2048,
             "Inception v3 at its native 299 px (the folder-dataset articles' model)."),
    HubModel("mobilenet_v2_100_224", "https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5",
             _K + "google/mobilenet-v2/TensorFlow2/100-224-feature-vector/2", 224, 1280,
             "MobileNetV2 (alpha 1.0): fast and small."),
    HubModel("mobilenet_v2_035_224", "https://tfhub.dev/google/imagenet/mobilenet_v2_035_224/feature_vector/5",
             _K + "google/mobilenet-v2/TensorFlow2/035-224-feature-vector/2", 224, 1280,
             "MobileNetV2 (alpha 0.35): tiny; the offline assets hold a copy of it."),
    HubModel("efficientnet_b0", "https://tfhub.dev/tensorflow/efficientnet/b0/feature-vector/1",
             _K + "tensorflow/efficientnet/TensorFlow2/b0-feature-vector/1", 224, 1280,
             "EfficientNet-B0."),
    HubModel("efficientnet_v2_b0", "https://tfhub.dev/google/imagenet/efficientnet_v2_imagenet1k_b0/feature_vector/2",
             _K + "google/efficientnet-v2/TensorFlow2/imagenet1k-b0-feature-vector/2", 224, 1280,
             "EfficientNetV2-B0 trained on ImageNet-1k."),
]}


def names() -> list[str]:
    """Return the registered model names, sorted."""
    return sorted(HANDLES)


def get(name: str) -> HubModel:
    """Look up a registered model by name (or by one of its handles).

    Args:
        name: A name from :func:`names`, or its tfhub.dev / Kaggle handle.

    Returns:
        The :class:`HubModel`.

    Raises:
        KeyError: Unknown name; the message lists the known names and the closest match.
    """
    if name in HANDLES:
        return HANDLES[name]
    for model in HANDLES.values():
        if name.rstrip("/") in (model.tfhub, model.kaggle):
            return model
    close = difflib.get_close_matches(name, names(), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise KeyError(f"Unknown TF-Hub model {name!r}.{hint} Known: {', '.join(names())}. "
                   "You can also pass any tfhub.dev or Kaggle Models URL, or a local SavedModel folder.")


def cache_dir() -> Path:
    """Return the TF-Hub download cache, setting ``TFHUB_CACHE_DIR`` if unset.

    Returns:
        ``$TFHUB_CACHE_DIR`` if set, else ``<cache root>/tfhub`` (which is then
        exported as ``TFHUB_CACHE_DIR`` so ``tensorflow_hub`` uses it too).
    """
    if not os.environ.get("TFHUB_CACHE_DIR"):
        os.environ["TFHUB_CACHE_DIR"] = str(config.cache_root() / "tfhub")
    path = Path(os.environ["TFHUB_CACHE_DIR"]).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _is_url(handle: str) -> bool:
    return handle.startswith(("http://", "https://", "gs://"))


def resolve(handle: str, *, verbose: bool = True) -> str:
    """Turn a name, URL or folder into a local SavedModel folder.

    Args:
        handle: A registry name (e.g. ``"inception_v3"``), a tfhub.dev or Kaggle
            Models URL, or a local SavedModel folder.
        verbose: Print which module is used. Defaults to True.

    Returns:
        The local folder. Full mode downloads a URL once into
        :func:`cache_dir`. Smoke mode never downloads: registry names and their
        URLs resolve to :func:`smoke_module`.

    Raises:
        FileNotFoundError: A local path does not exist or is not a SavedModel.
        RuntimeError: A download failed (e.g. offline); says how to prefetch.
    """
    if not _is_url(handle) and (os.sep in handle or "/" in handle or Path(handle).exists()):
        path = Path(handle).expanduser()
        if not (path / "saved_model.pb").is_file():
            raise FileNotFoundError(f"{path} is not a SavedModel folder (no saved_model.pb inside). Pass a "
                                    f"registry name ({', '.join(names())}), a TF-Hub URL, or the folder a "
                                    "SavedModel was exported to.")
        return str(path)
    model = get(handle) if not _is_url(handle) or any(
        handle.rstrip("/") in (m.tfhub, m.kaggle) for m in HANDLES.values()) else None
    if config.offline_sources():
        if model is None:
            raise RuntimeError(f"Smoke mode does not download {handle!r}. Use a registry name "
                               f"({', '.join(names())}) or a local SavedModel folder.")
        path = smoke_module(model, verbose=verbose)
        return str(path)
    url = model.kaggle if model else handle
    cache_dir()
    import tensorflow_hub as hub

    try:
        path = hub.resolve(url)
    except Exception as exc:  # noqa: BLE001 - turn any download failure into instructions
        raise RuntimeError(
            f"Could not download the TF-Hub module {url} ({type(exc).__name__}: {exc}). Without network, "
            f"prefetch it where there is network with\n  TFHUB_CACHE_DIR={cache_dir()} python -c "
            f"\"import tensorflow_hub as hub; print(hub.resolve('{url}'))\"\nand copy that cache folder here "
            "(set TFHUB_CACHE_DIR to it), or pass the local SavedModel folder instead of the URL, or set "
            "TLH_SMOKE=1 for an offline stand-in."
        ) from exc
    if verbose:
        print(f"TF-Hub module {url} -> {path}")
    return str(path)


def smoke_module(model: HubModel | str, *, verbose: bool = True) -> Path:
    """Return the offline stand-in for a registry model (smoke mode).

    The real MobileNetV2-0.35 feature-vector SavedModel from the offline
    assets when present (224 px, 1280 features, real ImageNet weights);
    otherwise a tiny generated module with the model's input size and output
    dimension, created once in the cache.

    Args:
        model: A :class:`HubModel` or its name.
        verbose: Print a notice saying what replaces the model. Defaults to True.

    Returns:
        The SavedModel folder.
    """
    spec = get(model) if isinstance(model, str) else model
    assets = config.assets_dir()
    # The rehearsal keeps each handle's contract (size, any-size, feature length); smoke prefers real weights.
    real_asset_fits = config.rehearsal() is None or spec.name == "mobilenet_v2_035_224"
    if real_asset_fits and assets is not None and (assets / SMOKE_ASSET / "saved_model.pb").is_file():
        if verbose:
            print(f"NOTICE: smoke mode: {spec.name} is replaced by the offline MobileNetV2-0.35 feature-vector "
                  "SavedModel (real ImageNet weights, 224 px in, 1280 features out).")
        return assets / SMOKE_ASSET
    size = None if spec.any_size else spec.input_size
    path = config.cache_root() / "tfhub_smoke" / f"{spec.name}_{size or 'any'}_{spec.output_dim}"
    if not (path / "saved_model.pb").is_file():
        from tlhelpers import standins

        standins.make_tiny_module(path, input_size=size, output_dim=spec.output_dim)
    if verbose:
        print(f"NOTICE: {config.mode()}: {spec.name} is replaced by a tiny generated SavedModel with RANDOM weights "
              f"({f'{size} px' if size else 'any size'} in, {spec.output_dim} features out); accuracy numbers mean "
              "nothing.")
    return path


_HUB_LAYER_CLASS: Any = None


def _hub_layer_class() -> Any:
    """Create (once) the serialisable Keras layer class behind :func:`HubLayer`."""
    global _HUB_LAYER_CLASS
    if _HUB_LAYER_CLASS is not None:
        return _HUB_LAYER_CLASS
    import keras
    import numpy as np
    import tensorflow as tf
    import tensorflow_hub as hub
    from keras.src import backend as keras_backend

    @keras.saving.register_keras_serializable(package="tlhelpers", name="HubLayer")
    class HubLayer(keras.layers.Layer):
        """A TF-Hub SavedModel as a Keras 3 layer (see :func:`HubLayer`)."""

        def __init__(self, handle: str, trainable: bool = False, check_inputs: bool = True,
                     train_batchnorm: bool = False, **kwargs: Any) -> None:
            super().__init__(trainable=trainable, **kwargs)
            self.handle = str(handle)
            self.check_inputs = check_inputs
            self.train_batchnorm = train_batchnorm
            self.module_path = resolve(self.handle)
            self._module = hub.load(self.module_path)
            if not callable(self._module):
                raise TypeError(f"The SavedModel at {self.module_path} has no __call__; it is not a TF-Hub TF2 "
                                "image model (TF1 hub.Module formats need tf_keras).")
            self.expected_size = _fixed_size(self._module)
            self.output_dim = _output_dim(self._module, self.expected_size)  # here, not inside a strategy scope
            self.supports_jit = False  # SavedModel functions and the range check stay out of XLA
            for var in _module_variables(self._module):
                # A Keras variable whose storage IS the module's tf.Variable: optimisers, freezing,
                # summaries and .keras saving then act on the module's real weights.
                wrapped = keras_backend.Variable(
                    initializer=np.zeros(var.shape, var.dtype.as_numpy_dtype), trainable=var.trainable,
                    dtype=var.dtype.name, shape=var.shape, name=var.name.split(":")[0].replace("/", "_"))
                wrapped._value = var
                self._track_variable(wrapped)
            self._build_at_init()

        def build(self, input_shape: Any) -> None:
            self._check_shape(tf.TensorShape(input_shape))

        def _check_shape(self, shape: Any) -> None:
            size = self.expected_size
            if shape.rank != 4 or shape[-1] != 3:
                raise ValueError(f"{self.name} expects a batch of RGB images [batch, height, width, 3], "
                                 f"got shape {shape}.")
            if size is not None and None not in (shape[1], shape[2]) and tuple(shape[1:3]) != (size, size):
                raise ValueError(f"{self.name} ({self.handle}) expects {size}x{size} images, got "
                                 f"{shape[1]}x{shape[2]}. Resize them in tf.data "
                                 f"(data.make_pipeline(image_size={size})) or put "
                                 f"keras.layers.Resizing({size}, {size}) before this layer.")

        def _check(self, x: Any) -> Any:
            if x.dtype.is_integer:
                raise ValueError(f"{self.name} expects float images in [0, 1], got {x.dtype.name}. Put "
                                 "keras.layers.Rescaling(1 / 255) (or models.Preprocess('unit')) before it.")
            self._check_shape(x.shape)
            low, high = tf.reduce_min(x), tf.reduce_max(x)
            checks = [tf.debugging.assert_less_equal(
                high, 1.0 + 1e-3, message=f"{self.name}: inputs must be in [0, 1] but values above 1 arrived "
                "(raw 0..255 pixels?). Add keras.layers.Rescaling(1 / 255) before the hub layer."),
                tf.debugging.assert_greater_equal(
                low, -1e-3, message=f"{self.name}: inputs must be in [0, 1] but negative values arrived "
                "(a [-1, 1] preprocess_input?). TF-Hub modules do their own scaling from [0, 1].")]
            with tf.control_dependencies(checks):
                return tf.identity(x)

        def call(self, inputs: Any, training: Any = None) -> Any:
            x = tf.cast(inputs, tf.float32)
            if self.check_inputs:
                x = self._check(x)
            train_mode = bool(training) and self.trainable and self.train_batchnorm
            out = self._module(x, training=train_mode)
            return tf.cast(out, self.compute_dtype)

        def compute_output_shape(self, input_shape: Any) -> tuple:
            return (input_shape[0], self.output_dim)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "handle": self.handle, "check_inputs": self.check_inputs,
                    "train_batchnorm": self.train_batchnorm}

    _HUB_LAYER_CLASS = HubLayer
    return _HUB_LAYER_CLASS


def _module_variables(module: Any) -> list[Any]:
    """Return a loaded SavedModel's variables (its ``variables`` list, else those its ``__call__`` uses)."""
    found = getattr(module, "variables", None)
    if found is not None:
        return list(found)
    seen: dict[int, Any] = {}
    for concrete in getattr(module.__call__, "concrete_functions", []) or []:
        for var in concrete.variables:
            seen.setdefault(id(var), var)
    return list(seen.values())


def _fixed_size(module: Any) -> int | None:
    """Return the fixed square input size a module's ``__call__`` was traced for, or None if any size works."""
    fn = module.__call__ if callable(module) else None
    for concrete in getattr(fn, "concrete_functions", []) or []:
        args, _ = concrete.structured_input_signature
        if args and hasattr(args[0], "shape") and args[0].shape.rank == 4:
            height, width = args[0].shape[1], args[0].shape[2]
            if height is not None and height == width:
                return int(height)
            return None
    return None


def _output_dim(module: Any, size: int | None) -> int:
    """Learn a module's feature length: from its traced signature, else by running it once on a dummy batch.

    The signature needs no computation and works anywhere, including inside a
    ``tf.distribute`` strategy's scope (cross-replica context), where running
    the module is not allowed.
    """
    import tensorflow as tf

    fn = module.__call__ if callable(module) else None
    for concrete in getattr(fn, "concrete_functions", []) or []:
        out = concrete.structured_outputs
        shape = getattr(out, "shape", None)
        if shape is not None and shape.rank == 2 and shape[-1] is not None:
            return int(shape[-1])
    side = size or 224
    with tf.init_scope():
        return int(module(tf.zeros([1, side, side, 3]), training=False).shape[-1])


def HubLayer(handle: str, *, trainable: bool = False, check_inputs: bool = True,  # noqa: N802 - reads like a class
             train_batchnorm: bool = False, **kwargs: Any) -> keras.layers.Layer:
    """Create a Keras 3 layer from a TF-Hub image feature-vector model.

    Works in ``keras.Sequential`` and functional models, freezes like any
    Keras layer (``layer.trainable = False``, then compile again), and is saved
    inside ``.keras`` files (the handle is stored; the module must be loadable
    again where the file is opened, and the weights come from the file).

    Args:
        handle: Registry name (:func:`names`), tfhub.dev or Kaggle Models URL,
            or a local SavedModel folder; see :func:`resolve`.
        trainable: Train the module's weights. Defaults to False (frozen).
        check_inputs: Check dtype, size and the ``[0, 1]`` range of the
            inputs, with messages saying how to fix them. Defaults to True.
        train_batchnorm: When trainable, also run the module's BatchNorm layers
            in training mode (updating their statistics). Defaults to False:
            like ``models.unfreeze``, BatchNorm stays in inference mode.
        **kwargs: Passed to ``keras.layers.Layer`` (e.g. ``name``).

    Returns:
        The layer: float images ``[batch, size, size, 3]`` in ``[0, 1]`` in,
        ``[batch, features]`` out. ``layer.expected_size`` is the fixed input
        size the module needs (None when it accepts any size).
    """
    return _hub_layer_class()(handle, trainable=trainable, check_inputs=check_inputs,
                              train_batchnorm=train_batchnorm, **kwargs)


def expected_image_size(layer: Any, default: int) -> int:
    """Return the input size to feed a hub layer: its fixed size, else ``default``.

    Args:
        layer: A :func:`HubLayer`.
        default: Size to use when the module accepts any size.

    Returns:
        The side length in pixels.
    """
    return int(layer.expected_size or default)


@dataclasses.dataclass
class HubTransferModel:
    """A classifier around a TF-Hub layer, and handles to its parts.

    Attributes:
        model: Raw 0..255 images in, class probabilities out.
        layer: The :func:`HubLayer` (frozen when built).
        features: Raw images in, hub features out (shares ``model``'s layers).
        head: Features in, probabilities out (shares ``model``'s layers).
        image_size: The input size the model was built for.
    """

    model: keras.Model
    layer: keras.layers.Layer
    features: keras.Model
    head: keras.Model
    image_size: int


def build_hub_model(handle: str, num_classes: int, *, image_size: int | None = None, dropout: float = 0.2,
                    augmentation: keras.layers.Layer | None = None, trainable: bool = False) -> HubTransferModel:
    """Build raw images -> [augmentation] -> scale to [0, 1] -> hub layer -> new head.

    The scaling to ``[0, 1]`` happens inside the model, exactly once, so the
    model (and a saved copy) takes raw 0..255 images.

    Args:
        handle: See :func:`resolve`.
        num_classes: Number of classes (2 or more).
        image_size: Input size; defaults to the module's fixed size, else the
            registry's native size, else 224. A module with a fixed size only
            accepts that size.
        dropout: Dropout rate in the head. Defaults to 0.2.
        augmentation: Applied to raw images during training only. Defaults to None.
        trainable: Train the hub module's weights too. Defaults to False.

    Returns:
        A :class:`HubTransferModel` (uncompiled).
    """
    import keras

    from tlhelpers import models

    layer = HubLayer(handle, trainable=trainable, name="hub")
    native = HANDLES[handle].input_size if handle in HANDLES else 224
    size = int(image_size or layer.expected_size or native)
    inputs = keras.Input((size, size, 3), name="image")
    x = augmentation(inputs) if augmentation is not None else inputs
    x = models.Preprocess("unit", name="to_unit_range")(x)
    feats = layer(x)
    head = models.build_head(feats.shape[-1], num_classes, dropout=dropout)
    model = keras.Model(inputs, head(feats), name="hub_classifier")
    return HubTransferModel(model=model, layer=layer, features=keras.Model(inputs, feats, name="hub_features"),
                            head=head, image_size=size)
