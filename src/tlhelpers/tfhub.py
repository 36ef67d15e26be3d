"""TF-Hub models: the handle registry, the module cache, and what a module promises.

What belongs here: everything about TF-Hub SavedModels except the Keras
layer: which handle a lesson uses (tfhub.dev and Kaggle Models forms, input
size, output size), where modules are cached (``TFHUB_CACHE_DIR``), how a
handle becomes a local folder (downloaded once; offline stand-ins in smoke
mode and the rehearsal), and what a loaded module's signature says (input
size, feature length, variables). The Keras 3 layer around a module is
:class:`tlhelpers.layers.HubLayer`; the classifier built on it is
:func:`tlhelpers.models.build_hub_model`.

Why not ``hub.KerasLayer``: it is a ``tf_keras`` (Keras 2) layer. Keras 3
refuses it (``ValueError: Only instances of keras.Layer can be added to a
Sequential model``).

Input contract of TF-Hub image modules: float32 images in ``[0, 1]``; some
modules need one fixed size (the layer reads it from the module and checks it).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from pathlib import Path
from typing import Any

from tlhelpers import downloads
from tlhelpers.course import sources

__all__ = [
    "HubModel",
    "HANDLES",
    "get",
    "names",
    "cache_dir",
    "resolve",
    "module_variables",
    "fixed_size",
    "output_dim",
]

SMOKE_ASSET = "tfhub/mobilenet_v2_035_224_feature_vector"
#: The :data:`tlhelpers.course.realfiles.FILES` key of that module (smoke mode's real stand-in for every handle).
SMOKE_REAL_FILE = "mobilenet_v2_035_224_feature_vector"


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
    HubModel("mobilenet_v2_035_224", downloads.TFHUB_MOBILENET_V2_035,
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
    """Return the TF-Hub download cache (created if missing; the environment is left as it is).

    Returns:
        ``$TFHUB_CACHE_DIR`` if set, else ``<cache root>/tfhub``. :func:`resolve`
        points ``tensorflow_hub`` at it for the download only.
    """
    path = Path(os.environ.get("TFHUB_CACHE_DIR") or sources.cache_root() / "tfhub").expanduser()
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
        URLs resolve to :func:`tlhelpers.course.sources.hub_module_standin`.

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
    if sources.offline():  # smoke mode and the rehearsal: the course stands in for registry handles
        if model is None:
            raise RuntimeError(f"Smoke mode does not download {handle!r}. Use a registry name "
                               f"({', '.join(names())}) or a local SavedModel folder.")
        return str(sources.hub_module_standin(model, SMOKE_REAL_FILE, verbose=verbose))
    url = model.kaggle if model else handle
    import tensorflow_hub as hub

    try:
        with sources.environment({"TFHUB_CACHE_DIR": str(cache_dir())}):  # tensorflow_hub reads it on each call
            path = hub.resolve(url)
    except OSError as exc:  # no network, an HTTP error (urllib's errors are OSErrors); anything else surfaces
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


def module_variables(module: Any) -> list[Any]:
    """Return a loaded SavedModel's variables (its ``variables`` list, else those its ``__call__`` uses)."""
    found = getattr(module, "variables", None)
    if found is not None:
        return list(found)
    seen: dict[int, Any] = {}
    for concrete in getattr(module.__call__, "concrete_functions", []) or []:
        for var in concrete.variables:
            seen.setdefault(id(var), var)
    return list(seen.values())


def fixed_size(module: Any) -> int | None:
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


def output_dim(module: Any, size: int | None) -> int:
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
