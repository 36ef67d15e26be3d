"""SqueezeNet v1.1 written in Keras 3: the course's "bring your own backbone" example.

What belongs here: a network that is not in ``keras.applications``, its
architecture written out, and its pretrained weights loaded *by order* from a
Keras-1-era HDF5 file whose layer names (``fire2/squeeze1x1``) Keras 3 cannot
map by name. :mod:`tlhelpers.backbones` registers it as ``"SqueezeNet"``, so
every helper that takes a registry name (``build_transfer_model``,
``compare``...) can use it.

The recipe for any other network: (1) write a function ``(input_shape,
weights) -> keras.Model`` without a classification top; (2) wrap it in a
:class:`tlhelpers.backbones.Backbone` with its preprocessing mode and native
size; (3) ``backbones.register(...)``.

Weights: SqueezeNet v1.1 ImageNet weights, no top, from the keras-squeezenet
project (MIT licence), Caffe-style preprocessing (BGR, ImageNet means
subtracted). 722,496 parameters.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from tlhelpers import downloads

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["WEIGHTS_FILE", "WEIGHTS_URL", "squeezenet_v1_1", "load_weights_by_order", "FIRE_MODULES"]

WEIGHTS_FILE = downloads.FILES["squeezenet"].filename
WEIGHTS_URL = downloads.FILES["squeezenet"].url

#: (name, squeeze filters, expand filters) in network order; a max-pool follows fire3 and fire5.
FIRE_MODULES = [("fire2", 16, 64), ("fire3", 16, 64), ("fire4", 32, 128), ("fire5", 32, 128),
                ("fire6", 48, 192), ("fire7", 48, 192), ("fire8", 64, 256), ("fire9", 64, 256)]


def squeezenet_v1_1(input_shape: tuple[int, int, int] = (224, 224, 3), weights: str | os.PathLike | None = None,
                    pooling: str | None = None, *, include_top: bool = False, **_: Any) -> keras.Model:
    """Build SqueezeNet v1.1, by default without its classifier.

    Args:
        input_shape: ``(height, width, 3)``; at least 32 px. Defaults to 224 px.
        weights: Path of the HDF5 weights file (with the top when
            ``include_top``: ``WEIGHTS_FILE`` without ``_notop``), or None for
            random weights.
        pooling: None (feature map), ``"avg"`` or ``"max"``; without the top.
            Defaults to None.
        include_top: With the ImageNet classifier (dropout, ``conv10``: a 1x1
            convolution to 1000 channels, ReLU, global average, softmax).
            Defaults to False.

    Returns:
        A model from Caffe-preprocessed images to a ``[h, w, 512]`` feature map
        (or 512 pooled features, or 1000 ImageNet class probabilities).
    """
    import keras
    from keras import layers

    inputs = keras.Input(input_shape, name="image")
    x = layers.Conv2D(64, 3, strides=2, padding="valid", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for name, squeeze, expand in FIRE_MODULES:
        s = layers.Conv2D(squeeze, 1, activation="relu", name=f"{name}_squeeze1x1")(x)
        left = layers.Conv2D(expand, 1, activation="relu", name=f"{name}_expand1x1")(s)
        right = layers.Conv2D(expand, 3, padding="same", activation="relu", name=f"{name}_expand3x3")(s)
        x = layers.Concatenate(name=f"{name}_concat")([left, right])
        if name in ("fire3", "fire5"):
            x = layers.MaxPooling2D(3, strides=2, name=f"pool{name[-1]}")(x)
    if include_top:
        x = layers.Dropout(0.5, name="drop9")(x)
        x = layers.Conv2D(1000, 1, padding="valid", activation="relu", name="conv10")(x)
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Activation("softmax", name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    model = keras.Model(inputs, x, name="squeezenet_v1_1")
    if weights is not None:
        load_weights_by_order(model, weights)
    return model


def load_weights_by_order(model: keras.Model, path: str | os.PathLike) -> int:
    """Load a Keras-1 HDF5 weights file into ``model``'s conv layers, matching them by order.

    The file lists its layers in ``attrs["layer_names"]``; the conv layers with
    weights come in the same order as ``model``'s. Shapes are checked, so a
    wrong architecture fails loudly instead of loading garbage.

    Args:
        model: From :func:`squeezenet_v1_1`.
        path: The HDF5 file.

    Returns:
        The number of arrays loaded.

    Raises:
        ValueError: Layer counts or shapes do not match; says which.
    """
    import h5py
    import keras

    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    with h5py.File(path, "r") as f:
        group = f.get("model_weights", f)
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["layer_names"]]
        stored = []
        for name in names:
            arrays: list[Any] = []
            group[name].visit(lambda key, g=group[name], out=arrays: out.append(g[key][()])
                              if hasattr(g[key], "shape") else None)
            if arrays:
                kernel = next(a for a in arrays if a.ndim == 4)
                bias = next(a for a in arrays if a.ndim == 1)
                stored.append((name, kernel, bias))
    if len(stored) != len(convs):
        raise ValueError(f"{path} holds {len(stored)} layers with weights, the model has {len(convs)} conv layers.")
    for layer, (name, kernel, bias) in zip(convs, stored, strict=True):
        expected = tuple(layer.kernel.shape)
        if kernel.shape != expected:
            raise ValueError(f"Layer {layer.name}: the file's {name} has kernel {kernel.shape}, expected {expected}.")
        layer.set_weights([kernel, bias])
    return 2 * len(stored)
