"""Registry of ``keras.applications`` backbones, their preprocessing and their weights.

What belongs here: everything that differs from one pretrained network to the
next: how to construct it, which ``preprocess_input`` it expects, its native
input size, where its ImageNet weights live (online and offline). Models built
from these live in :mod:`tlhelpers.models`.

Preprocessing "modes" (what ``keras.applications.<net>.preprocess_input`` does):

* ``caffe``: RGB to BGR, subtract the ImageNet channel means (VGG16, ResNet50).
* ``tf``: scale 0..255 to -1..1 (MobileNetV2, InceptionV3, Xception, ResNetV2).
* ``torch``: scale to 0..1, normalise by ImageNet mean and std (DenseNet).
* ``none``: the network rescales inside itself and expects 0..255
  (EfficientNet, EfficientNetV2, MobileNetV3, ConvNeXt).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tlhelpers import kerascompat, squeezenet
from tlhelpers.course import sources

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = [
    "Backbone",
    "REGISTRY",
    "get",
    "names",
    "parse_spec",
    "weights_cache_dirs",
    "download_factory_weights",
    "resolve_weights",
    "build_base",
    "register",
    "imagenet_classifier",
    "decode_imagenet",
]


@dataclasses.dataclass(frozen=True)
class Backbone:
    """How to build one pretrained network.

    Attributes:
        name: Registry name, e.g. ``"MobileNetV2"``.
        constructor: Attribute of ``keras.applications`` that builds it.
        module: Submodule of ``keras.applications`` holding its ``preprocess_input``.
        preprocess: Preprocessing mode: ``caffe``, ``tf``, ``torch`` or ``none``.
        input_size: Native input side length in pixels.
        min_size: Smallest input side the architecture accepts.
        note: One line about the network.
        weights_file: File name of the no-top ImageNet weights in the Keras
            cache (``{alpha}`` and ``{size}`` are filled in), or None.
        kwargs: Extra constructor arguments.
        factory: For networks outside ``keras.applications``: a function
            ``(include_top, weights, input_shape, pooling) -> keras.Model``,
            with ``weights`` a file path or None. ``constructor`` is then
            ignored.
        weights_url: Where ``factory`` weights are downloaded from in full mode.
    """

    name: str
    constructor: str
    module: str
    preprocess: str
    input_size: int
    min_size: int
    note: str
    weights_file: str | None = None
    kwargs: tuple[tuple[str, Any], ...] = ()
    factory: Any = None
    weights_url: str | None = None

    def construct(self, *, include_top: bool = False, weights: str | None = None, size: int | None = None,
                  pooling: str | None = None, alpha: float | None = None) -> keras.Model:
        """Call the network's constructor: the one place the course builds a backbone.

        For a ``keras.applications`` network this is the line a learner types::

            keras.applications.MobileNetV2(include_top=False, weights="imagenet", input_shape=(160, 160, 3))

        Args:
            include_top: With the 1000-class ImageNet classifier (native size
                only) instead of the feature extractor. Defaults to False.
            weights: A weights file, ``"imagenet"`` (Keras downloads it; not
                for a ``factory`` network) or None (random). Defaults to None.
            size: Input side length (ignored with the top: native size).
                Defaults to the native size.
            pooling: None, ``"avg"`` or ``"max"`` (without the top).
            alpha: Width multiplier (MobileNets), or None for the default.

        Returns:
            The model.

        Raises:
            ValueError: ``alpha`` for a network without a width multiplier, or
                ``include_top`` for a factory without that parameter.
        """
        import keras

        kwargs = dict(self.kwargs)
        if alpha is not None:
            if "alpha" not in self.constructor_params():
                raise ValueError(f"{self.name} has no width multiplier (alpha); only MobileNets do.")
            kwargs["alpha"] = alpha
        if include_top and "include_top" not in self.constructor_params():
            raise ValueError(f"{self.name}'s factory has no include_top parameter: it builds the feature extractor "
                             "only, so there is no ImageNet classifier to construct.")
        side = self.input_size if include_top else (size or self.input_size)
        ctor = self.factory or getattr(keras.applications, self.constructor)
        extra = {} if include_top else {"pooling": pooling}
        return ctor(include_top=include_top, weights=weights, input_shape=(side, side, 3), **extra, **kwargs)

    def constructor_params(self) -> set[str]:
        """Return the names of the constructor's parameters (``"alpha"`` among them for MobileNets)."""
        import inspect

        import keras

        return set(inspect.signature(self.factory or getattr(keras.applications, self.constructor)).parameters)

    def preprocess_input(self) -> Any:
        """Return the official ``keras.applications.<module>.preprocess_input`` function."""
        import keras

        return getattr(keras.applications, self.module).preprocess_input

    def weights_filename(self, alpha: float = 1.0, size: int | None = None, *, top: bool = False) -> str | None:
        """Return the Keras cache file name of the ImageNet weights.

        Args:
            alpha: Width multiplier (MobileNets). Defaults to 1.0.
            size: Input size (MobileNetV2 has one file per size). Defaults to
                the native size.
            top: The file of the whole classifier (with its 1000-class top)
                instead of the no-top base. Defaults to False.

        Returns:
            The file name, or None when unknown.
        """
        if self.weights_file is None:
            return None
        name = self.weights_file.format(alpha=float(alpha), size=size or self.input_size)
        return name.replace("_no_top", "").replace("_notop", "") if top else name


def _b(name: str, constructor: str, module: str, preprocess: str, size: int, min_size: int, note: str,
       weights_file: str | None, **kwargs: Any) -> Backbone:
    return Backbone(name, constructor, module, preprocess, size, min_size, note, weights_file,
                    tuple(sorted(kwargs.items())))


REGISTRY: dict[str, Backbone] = {b.name: b for b in [
    _b("VGG16", "VGG16", "vgg16", "caffe", 224, 32, "2014, 14.7 M conv params: simple and heavy; the classic baseline.",
       "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _b("ResNet50", "ResNet50", "resnet50", "caffe", 224, 32, "2015 residual network, 23.6 M params.",
       "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _b("ResNet101V2", "ResNet101V2", "resnet_v2", "tf", 224, 32, "Deeper pre-activation ResNet, 42.6 M params.",
       "resnet101v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _b("InceptionV3", "InceptionV3", "inception_v3", "tf", 299, 75, "GoogLeNet family, 21.8 M params, native 299 px.",
       "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _b("Xception", "Xception", "xception", "tf", 299, 71, "Depthwise-separable Inception, 20.9 M params, 299 px.",
       "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _b("DenseNet121", "DenseNet121", "densenet", "torch", 224, 32, "DenseNet, 7.0 M params, torch-style input.",
       "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    _b("MobileNetV2", "MobileNetV2", "mobilenet_v2", "tf", 224, 32,
       "Mobile-sized (alpha 1.0: 2.3 M params; alpha 0.35: 0.4 M); fast on CPUs.",
       "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{size}_no_top.h5"),
    _b("MobileNetV3Small", "MobileNetV3Small", "mobilenet_v3", "none", 224, 32,
       "Tiny and fast (0.9 M params); rescales inside the model.",
       "weights_mobilenet_v3_small_224_{alpha}_float_no_top_v2.h5", include_preprocessing=True),
    _b("MobileNetV3Large", "MobileNetV3Large", "mobilenet_v3", "none", 224, 32,
       "Mobile-sized (3.0 M params); rescales inside the model.",
       "weights_mobilenet_v3_large_224_{alpha}_float_no_top_v2.h5", include_preprocessing=True),
    _b("EfficientNetB0", "EfficientNetB0", "efficientnet", "none", 224, 32,
       "4.0 M params; expects 0..255 and rescales inside the model.", "efficientnetb0_notop.h5"),
    _b("EfficientNetB1", "EfficientNetB1", "efficientnet", "none", 240, 32, "6.6 M params, native 240 px.",
       "efficientnetb1_notop.h5"),
    _b("EfficientNetB2", "EfficientNetB2", "efficientnet", "none", 260, 32, "7.8 M params, native 260 px.",
       "efficientnetb2_notop.h5"),
    _b("EfficientNetB3", "EfficientNetB3", "efficientnet", "none", 300, 32, "10.8 M params, native 300 px.",
       "efficientnetb3_notop.h5"),
    _b("EfficientNetV2B0", "EfficientNetV2B0", "efficientnet_v2", "none", 224, 32,
       "2021, 5.9 M params, faster training than EfficientNet; rescales inside.", "efficientnetv2-b0_notop.h5",
       include_preprocessing=True),
    _b("ConvNeXtTiny", "ConvNeXtTiny", "convnext", "none", 224, 32,
       "2022 modernised ConvNet, 27.8 M params; strong accuracy, slow on CPU.", "convnext_tiny_notop.h5",
       include_preprocessing=True),
]}


def _squeezenet_factory(include_top: bool = False, weights: str | None = None,
                        input_shape: tuple[int, int, int] = (224, 224, 3), pooling: str | None = None,
                        **_: Any) -> keras.Model:
    return squeezenet.squeezenet_v1_1(input_shape, weights=weights, pooling=pooling, include_top=include_top)


REGISTRY["SqueezeNet"] = Backbone(
    "SqueezeNet", "", "imagenet_utils", "caffe", 224, 32,
    "SqueezeNet v1.1 (2016), 0.72 M params: not in keras.applications; the bring-your-own-backbone example.",
    squeezenet.WEIGHTS_FILE, factory=_squeezenet_factory, weights_url=squeezenet.WEIGHTS_URL)


def names() -> list[str]:
    """Return the registered backbone names, sorted."""
    return sorted(REGISTRY)


def register(backbone: Backbone, *, replace: bool = False) -> None:
    """Add a backbone to the registry.

    Args:
        backbone: Its description.
        replace: Allow replacing an existing entry. Defaults to False.

    Raises:
        ValueError: The name exists and ``replace`` is False.
    """
    if backbone.name in REGISTRY and not replace:
        raise ValueError(f"A backbone named {backbone.name!r} is registered already; pass replace=True.")
    REGISTRY[backbone.name] = backbone


def get(name: str | Backbone) -> Backbone:
    """Look a backbone up by name (case-insensitive).

    Args:
        name: Registry name, or a :class:`Backbone` (returned as is).

    Returns:
        The :class:`Backbone`.

    Raises:
        KeyError: Unknown name; the message lists the known names and the
            closest match.
    """
    if isinstance(name, Backbone):
        return name
    by_lower = {k.lower(): v for k, v in REGISTRY.items()}
    if str(name).lower() in by_lower:
        return by_lower[str(name).lower()]
    close = difflib.get_close_matches(str(name).lower(), list(by_lower), n=1, cutoff=0.5)
    hint = f" Did you mean {by_lower[close[0]].name!r}?" if close else ""
    raise KeyError(f"Unknown backbone {name!r}.{hint} Known backbones: {', '.join(names())}. "
                   "To use another network, see tlhelpers.backbones.register.")


def parse_spec(spec: str) -> tuple[str, float | None]:
    """Split a backbone spec ``"name"`` or ``"name@alpha"`` into its name and width multiplier.

    The one parser for the ``"MobileNetV2@0.35"`` form used by ``tlh compare``,
    :func:`tlhelpers.compare.candidate`, lesson settings and ``tlh prefetch``.

    Args:
        spec: E.g. ``"VGG16"`` or ``"MobileNetV2@0.35"``.

    Returns:
        ``(name, alpha)``; ``alpha`` is None when the spec has no ``@``.

    Raises:
        ValueError: Empty name, or an alpha that is not a positive number.
    """
    name, sep, alpha = str(spec).strip().partition("@")
    if not name:
        raise ValueError(f"No backbone name in {spec!r}; expected 'Name' or 'Name@alpha', e.g. 'MobileNetV2@0.35'.")
    if not sep:
        return name, None
    try:
        value = float(alpha)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"The width multiplier in {spec!r} must be a positive number, e.g. 'MobileNetV2@0.35'.")
    return name, value


def weights_cache_dirs() -> list[Path]:
    """Return the folders searched for ImageNet weight files, in order.

    ``$KERAS_HOME/models``, ``~/.keras/models``, ``<cache root>/keras/models``,
    then every folder of the laptop tier's real files
    (:func:`tlhelpers.course.sources.asset_roots`: ``<cache root>/assets/*`` and the
    offline assets' ``*``, e.g. ``keras/models`` and ``squeezenet``).
    """
    dirs = []
    if os.environ.get("KERAS_HOME"):
        dirs.append(Path(os.environ["KERAS_HOME"]) / "models")
    dirs.append(Path.home() / ".keras" / "models")
    dirs.append(sources.cache_root() / "keras" / "models")
    for root in sources.asset_roots():
        if root.is_dir():
            dirs += [root / "keras" / "models", *sorted(p for p in root.iterdir() if p.is_dir() and p.name != "keras")]
    return list(dict.fromkeys(dirs))


def resolve_weights(backbone: str | Backbone, *, alpha: float = 1.0, image_size: int | None = None,
                    weights: str | None = "auto") -> str | None:
    """Decide which weights to load: a cached file, a download, or random.

    Args:
        backbone: Name or :class:`Backbone`.
        alpha: Width multiplier (MobileNets). Defaults to 1.0.
        image_size: Input size (picks MobileNetV2's per-size file). Defaults
            to the native size.
        weights: ``"auto"`` (default): the cached ImageNet file if present,
            else ``"imagenet"`` (download) in full mode, else random weights
            (None) in smoke mode, with a warning. ``"imagenet"``, None or a
            file path are passed through.

    Returns:
        A file path, ``"imagenet"`` or None.
    """
    spec = get(backbone)
    if weights != "auto":
        return weights
    found = _cached_no_top_file(spec, alpha, image_size)
    # The course decides what replaces missing weights offline (smoke mode, the rehearsal); else Keras downloads.
    return sources.backbone_weights(spec, alpha=alpha, image_size=image_size, found=found,
                                    searched=weights_cache_dirs())


def _cached_no_top_file(spec: Backbone, alpha: float, image_size: int | None) -> Path | None:
    """Return the no-top ImageNet weights file found offline (or among the laptop tier's real files), else None."""
    # MobileNetV2 has one file per input size; conv weights fit any size, so the 224 px file also serves.
    candidates = [spec.weights_filename(alpha, image_size), spec.weights_filename(alpha, 224)]
    for filename in dict.fromkeys(c for c in candidates if c):
        for folder in weights_cache_dirs():
            if (folder / filename).is_file():
                return folder / filename
    return sources.real_file(candidates)  # the course's small real files (the laptop tier), fetched once


def build_base(
    backbone: str | Backbone,
    *,
    image_size: int | None = None,
    weights: str | None = "auto",
    alpha: float | None = None,
    pooling: str | None = None,
) -> keras.Model:
    """Construct a backbone without its classification top.

    Args:
        backbone: Name or :class:`Backbone`.
        image_size: Input side length; defaults to the native size.
        weights: See :func:`resolve_weights`. Defaults to ``"auto"``.
        alpha: Width multiplier for MobileNets (None: the network's default).
        pooling: ``None``, ``"avg"`` or ``"max"``. Defaults to None
            (a 4-D feature map).

    Returns:
        The base model, expecting input preprocessed as ``spec.preprocess`` says.

    Raises:
        ValueError: ``image_size`` is below the architecture's minimum.
        RuntimeError: The weights could not be downloaded; says how to get
            them offline.
    """
    spec = get(backbone)
    size = image_size or spec.input_size
    if size < spec.min_size:
        raise ValueError(f"{spec.name} needs images of at least {spec.min_size} px, got {size}.")
    if alpha is not None and "alpha" not in spec.constructor_params():
        raise ValueError(f"{spec.name} has no width multiplier (alpha); only MobileNets do.")
    resolved = resolve_weights(spec, alpha=alpha or 1.0, image_size=size, weights=weights)
    if spec.factory is not None and resolved == "imagenet":
        resolved = download_factory_weights(spec)
    try:
        return spec.construct(weights=resolved, size=size, pooling=pooling, alpha=alpha)
    except Exception as exc:  # a failed weights download becomes instructions; anything else is a bug: re-raised
        if resolved == "imagenet" and kerascompat.is_download_failure(exc):
            raise RuntimeError(
                f"Could not download the ImageNet weights of {spec.name} ({exc}). Without network, put "
                f"{spec.weights_filename(alpha or 1.0, size)!r} into one of "
                f"{', '.join(str(d) for d in weights_cache_dirs())}, run 'tlh prefetch' where there is network, "
                "or set TLH_SMOKE=1 to use random weights."
            ) from exc
        raise


def imagenet_classifier(backbone: str | Backbone, *, alpha: float | None = None) -> keras.Model:
    """Construct a complete ImageNet classifier (with its 1000-class top) at its native size.

    Full mode loads the ImageNet weights (downloaded once). Without the
    classifier's weights file and without network (smoke mode), the network
    is still built: with the no-top ImageNet weights where those are cached
    (the feature extractor is real, the 1000-class top random), else with
    random weights, with a notice either way; its predictions then mean
    nothing, but every cell runs.

    Args:
        backbone: Name or :class:`Backbone`.
        alpha: Width multiplier for MobileNets. Defaults to the network's default.

    Returns:
        The model; it expects ``spec.input_size`` images preprocessed as
        ``spec.preprocess`` says (EfficientNet and friends: raw 0..255).
    """
    spec = get(backbone)
    top_file = spec.weights_filename(alpha or 1.0, spec.input_size, top=True)
    cached = [d / top_file for d in weights_cache_dirs() if top_file and (d / top_file).is_file()]
    if cached:
        return spec.construct(include_top=True, weights=str(cached[0]), alpha=alpha)
    weights = sources.classifier_weights(spec, alpha=alpha)  # offline the course may stand in; else download
    if weights == "download":
        weights = download_factory_weights(spec, top=True) if spec.factory is not None else "imagenet"
    if weights is not None:
        return spec.construct(include_top=True, weights=weights, alpha=alpha)
    model = spec.construct(include_top=True, weights=None, alpha=alpha)
    base_file = _cached_no_top_file(spec, alpha or 1.0, spec.input_size)
    if base_file is None:
        warnings.warn(f"{spec.name} classifier uses RANDOM weights (no ImageNet weights file here): its predictions "
                      "mean nothing.", stacklevel=2)
        return model
    copied = _copy_weights_by_name(spec.construct(weights=str(base_file), alpha=alpha), model)
    warnings.warn(f"{spec.name} classifier: ImageNet weights for its feature extractor ({copied} layers, from "
                  f"{base_file.name}), a RANDOM 1000-class top (no {top_file} here): its predictions mean "
                  "nothing.", stacklevel=2)
    return model


def _copy_weights_by_name(source: keras.Model, target: keras.Model) -> int:
    """Copy the weights of every layer of ``source`` into ``target``'s layer of the same name; return the count."""
    by_name = {layer.name: layer for layer in target.layers}
    with_weights = [layer for layer in source.layers if layer.weights]
    missing = [layer.name for layer in with_weights if layer.name not in by_name]
    if missing:
        raise ValueError(f"{target.name} has no layers named {missing[:5]} (of {source.name}); cannot copy weights.")
    for layer in with_weights:
        by_name[layer.name].set_weights(layer.get_weights())
    return len(with_weights)


_CLASS_INDEX_FILE = "imagenet_class_index.json"


def decode_imagenet(probs: Any, top: int = 5) -> list[list[tuple[str, float]]]:
    """Turn ImageNet class probabilities into readable ``(label, probability)`` lists.

    The class names come from a cached ``imagenet_class_index.json`` (any
    folder of :func:`weights_cache_dirs`), else from
    ``keras.applications.imagenet_utils.decode_predictions``, which downloads
    them once. In smoke mode nothing is downloaded: without the cached file,
    labels fall back to ``"class_<index>"``.

    Args:
        probs: ``[N, 1000]`` probabilities.
        top: How many classes per image. Defaults to 5.

    Returns:
        One list per image of ``(label, probability)``, most likely first.
    """
    import keras

    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] != 1000:
        raise ValueError(f"Expected ImageNet probabilities of shape [N, 1000], got {probs.shape}.")
    order = np.argsort(-probs, axis=1)[:, :top]
    names = _imagenet_class_names()
    if names is None and not sources.offline():
        decoded = keras.applications.imagenet_utils.decode_predictions(probs, top=top)  # downloads the names once
        return [[(label, float(p)) for _, label, p in row] for row in decoded]
    names = names or [f"class_{i}" for i in range(1000)]
    return [[(names[i], float(row[i])) for i in idx] for row, idx in zip(probs, order, strict=True)]


def _imagenet_class_names() -> list[str] | None:
    """Read the 1000 ImageNet class names from a cached ``imagenet_class_index.json``, if any."""
    import json

    for folder in weights_cache_dirs():
        path = folder / _CLASS_INDEX_FILE
        if path.is_file():
            index = json.loads(path.read_text(encoding="utf-8"))
            return [index[str(i)][1] for i in range(1000)]
    return None


def download_factory_weights(spec: Backbone, *, top: bool = False) -> str:
    """Download a bring-your-own backbone's weights file once into ``<cache root>/keras/models``.

    Args:
        spec: A registered backbone with a ``factory``, ``weights_file`` and ``weights_url``.
        top: The classifier's file (with its 1000-class top) instead of the
            no-top one. Defaults to False.

    Returns:
        The local path of the file (already there: no download).

    Raises:
        RuntimeError: No URL, or the download failed; says where to put the file by hand.
    """
    import keras

    if not spec.weights_url or not spec.weights_file:
        raise RuntimeError(f"{spec.name} has no weights URL; pass weights=<path of the weights file>.")
    filename = spec.weights_filename(top=top)
    url = spec.weights_url if not top else spec.weights_url.rsplit("/", 1)[0] + "/" + filename  # same release
    dest = sources.cache_root() / "keras"
    try:
        return str(keras.utils.get_file(filename, url, cache_dir=str(dest), cache_subdir="models"))
    except Exception as exc:  # a failed download becomes instructions; anything else is a bug: re-raised
        if not kerascompat.is_download_failure(exc):
            raise
        raise RuntimeError(f"Could not download the {spec.name} weights from {url} ({exc}). Put "
                           f"{filename!r} into {dest / 'models'} (or the offline assets), or set "
                           "TLH_SMOKE=1 for random weights.") from exc


