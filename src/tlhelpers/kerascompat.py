"""Every private Keras internal the package reaches into, in one room.

What belongs here: each use of a Keras name that is not public API
(``keras.src...``, underscore attributes), behind a small function with the
behaviour the course relies on. Keras may rename any of them in a minor
release; ``tests/test_kerascompat.py`` checks each one on the Keras version it
runs with, and CI runs it on every Keras version it installs (the newest pins
and the Colab/Kaggle replicas, see README "Supported versions"). When Keras
grows a public equivalent, switch to it here and nowhere else.

Checked on Keras 3.13.2 (Colab and Kaggle, 2026) and 3.15.1 (CI's newest pins).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = [
    "all_sublayers",
    "variable_over",
    "imagenet_class_index_url",
    "save_weights_to_hdf5_group",
    "patch_auto_jit",
    "without_newer_defaults",
    "is_download_failure",
]


def is_download_failure(exc: BaseException) -> bool:
    """Say whether ``exc`` is how ``keras.utils.get_file`` reports a failed download, and nothing else.

    ``get_file`` (which the ``keras.applications`` constructors call for ImageNet
    weights) turns HTTP and URL errors into a bare ``Exception("URL fetch failure
    on <url>: <code> -- <reason>")``, lets ``OSError`` through (no network, a
    broken connection, a full disk) and raises ``ValueError("Incomplete or
    corrupted file detected. ...")`` when the file's hash does not match. Any
    other exception is a bug and must surface with its traceback.
    ``tests/test_kerascompat.py`` makes ``get_file`` fail each way against a
    local server.
    """
    if isinstance(exc, OSError):
        return True
    if type(exc) is Exception and str(exc).startswith("URL fetch failure on "):
        return True
    return isinstance(exc, ValueError) and str(exc).startswith("Incomplete or corrupted file detected")


def all_sublayers(model: Any, include_self: bool = False) -> list[Any]:
    """Every layer inside ``model``, nested ones included, each once.

    Keras has no public deep walk: ``model.layers`` stops at the first level and
    misses layers held by custom layers (KerasHub's transformer blocks). This is
    Keras's own tracker walk, ``Layer._flatten_layers(recursive=True)``.
    """
    return list(model._flatten_layers(include_self=include_self, recursive=True))


def variable_over(tf_variable: Any, trainable: bool, name: str) -> Any:
    """Return a Keras variable whose storage IS ``tf_variable`` (no copy).

    Used by ``layers.HubLayer``: optimisers, freezing, summaries and ``.keras``
    saving then act on the TF-Hub module's real weights. Built through
    ``keras.src.backend.Variable`` with its private ``_value`` replaced.
    """
    import numpy as np
    from keras.src import backend as keras_backend

    wrapped = keras_backend.Variable(
        initializer=np.zeros(tf_variable.shape, tf_variable.dtype.as_numpy_dtype), trainable=trainable,
        dtype=tf_variable.dtype.name, shape=tf_variable.shape, name=name)
    wrapped._value = tf_variable
    return wrapped


def imagenet_class_index_url() -> str:
    """Return the address ``keras.applications.*.decode_predictions`` downloads the class names from."""
    from keras.src.applications import imagenet_utils

    return str(imagenet_utils.CLASS_INDEX_PATH)


def save_weights_to_hdf5_group(group: Any, model: Any) -> None:
    """Write ``model``'s weights in the legacy ``.h5`` layout ``keras.applications`` loads by name."""
    from keras.src.legacy.saving import legacy_h5_format

    legacy_h5_format.save_weights_to_hdf5_group(group, model)


def patch_auto_jit(decide: Any) -> None:
    """Replace how ``jit_compile="auto"`` is resolved at ``compile``: ``decide(trainer, supports_jit)``.

    ``decide`` gets the model being compiled and Keras's own
    ``model_supports_jit`` check, and returns whether XLA is on. Keras keeps the
    decision in the private ``Trainer._resolve_auto_jit_compile``.

    Raises:
        RuntimeError: This Keras resolves ``"auto"`` elsewhere.
    """
    from keras.src.trainers import trainer

    if not hasattr(trainer.Trainer, "_resolve_auto_jit_compile") or not hasattr(trainer, "model_supports_jit"):
        raise RuntimeError("This Keras version decides jit_compile='auto' differently; the 1gpu rehearsal "
                           "cannot imitate it. Use a Keras version CI runs (README, Supported versions).")

    def _resolve(self: Any) -> bool:
        return bool(decide(self, trainer.model_supports_jit))

    trainer.Trainer._resolve_auto_jit_compile = _resolve


def without_newer_defaults(path: str | os.PathLike, out_dir: str | os.PathLike) -> tuple[Path, list[str]]:
    """Copy a ``.keras`` file, dropping arguments this Keras does not know that a newer Keras saved as ``None``.

    A file saved by a newer Keras may carry new constructor arguments at their
    default, e.g. Keras 3.15 writes ``input_axes: None`` into every
    ``GlorotUniform``; Keras 3.13 (Colab, Kaggle) then refuses the whole file
    ("unexpected keyword argument 'input_axes'"). Only arguments whose value is
    ``None`` and that the installed class does not accept are dropped, so the
    loaded model is the same; anything else is left for Keras to refuse.

    Args:
        path: The ``.keras`` file (never modified).
        out_dir: Where to write the cleaned copy.

    Returns:
        The copy's path and the dropped arguments as ``"Class.argument"``.
    """
    import importlib
    import inspect
    import json
    import zipfile

    dropped: set[str] = set()

    def clean(node: Any) -> Any:
        if isinstance(node, list):
            return [clean(n) for n in node]
        if not isinstance(node, dict):
            return node
        node = {k: clean(v) for k, v in node.items()}
        module, name, config = node.get("module"), node.get("class_name"), node.get("config")
        if isinstance(module, str) and module.startswith("keras") and isinstance(name, str) \
                and isinstance(config, dict):
            try:
                cls = getattr(importlib.import_module(module), name)
                params = inspect.signature(cls.__init__).parameters
            except (ImportError, AttributeError, TypeError, ValueError):
                return node
            if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
                for key in [k for k, v in config.items() if v is None and k not in params]:
                    del config[key]
                    dropped.add(f"{name}.{key}")
        return node

    target = Path(out_dir) / Path(path).name
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "config.json":
                data = json.dumps(clean(json.loads(data))).encode()
            dst.writestr(item, data)
    return target, sorted(dropped)
