"""Look inside a trained classifier: Grad-CAM heat maps.

What belongs here: computations that say *why* a trained model decided as it
did (which image regions drove a class score). Drawing them lives in
:mod:`tlhelpers.plots`; the most confident mistakes are
:func:`tlhelpers.evaluate.worst_mistakes`.

Grad-CAM (Selvaraju et al., 2017): take the last convolutional feature map
``A`` (``h x w x K``) and the score ``y`` of a class; weight each of the ``K``
channels by the mean gradient ``dy/dA_k`` over the map, sum, and keep the
positive part. The result is an ``h x w`` map of where evidence *for* that
class sits, upsampled to the photo for display. It is coarse (a 7 x 7 map for
a 224 px MobileNetV2) and says where the network looked, not why.

The course's models are chains: raw images -> [augmentation] -> ``Preprocess``
-> backbone (a nested model whose output is the last feature map) -> pooling
-> head. :func:`grad_cam` runs the chain layer by layer, so it finds the
feature map itself (the last top-level layer with a smaller 4-D output) and
checks that its layer-by-layer run reproduces the model's own predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["GradCam", "feature_map_layer", "grad_cam", "upsample", "mass_in"]


@dataclass
class GradCam:
    """Result of :func:`grad_cam`.

    Attributes:
        heatmaps: ``[N, h, w]`` float32 in 0..1 (each map divided by its maximum; all zeros when no region
            speaks for the class), at the feature map's resolution.
        class_index: ``[N]`` the class each map explains.
        probs: ``[N, C]`` the model's outputs for the images (probabilities; one logit for one-output models).
        layer: Name of the layer whose output was used as the feature map.
    """

    heatmaps: np.ndarray
    class_index: np.ndarray
    probs: np.ndarray
    layer: str


def _chain(model: keras.Model) -> list[Any]:
    import keras

    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def _shape(layer: Any) -> tuple | None:
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return None


def feature_map_layer(model: keras.Model) -> str:
    """Name the top-level layer whose output Grad-CAM uses: the last one with a 4-D output smaller than the input.

    For the course's transfer models this is the backbone (``include_top=False``: its output is the last
    convolutional feature map); for the scratch CNN, the last convolution or pooling block.

    Raises:
        ValueError: The model has no such layer (e.g. a TF-Hub feature-vector model, whose module outputs a pooled
            vector): the message says so and what to do.
    """
    size = tuple(model.input_shape[1:3])
    for layer in reversed(_chain(model)):
        shape = _shape(layer)
        if shape is not None and len(shape) == 4 and shape[1] is not None and tuple(shape[1:3]) != size:
            return layer.name
    raise ValueError(
        f"{model.name} has no convolutional feature map among its top-level layers (no layer with a 4-D output "
        "smaller than the input), so Grad-CAM has nothing to weight. This happens with TF-Hub feature-vector "
        "modules, which return a pooled vector: use a keras.applications backbone (models.build_transfer_model) "
        "or a hub module that returns the feature map.")


def grad_cam(model: keras.Model, images: Any, class_index: int | Any | None = None, *,
             layer: str | None = None) -> GradCam:
    """Compute Grad-CAM heat maps for a batch of raw images.

    Args:
        model: A trained classifier whose top-level layers form a chain (every course model does).
        images: ``[N, H, W, 3]`` raw images as the model takes them (0..255 for course models).
        class_index: The class to explain: one int for all images, one per image, or None (each image's
            predicted class). For a one-logit model (``Dense(1)``), 1 explains the positive class, 0 the other.
        layer: Feature-map layer name. Defaults to :func:`feature_map_layer`.

    Returns:
        A :class:`GradCam`.

    Raises:
        ValueError: No feature map, an unknown layer name, or a model whose layers do not form a chain (its
            layer-by-layer run does not reproduce ``model(images)``).
    """
    import tensorflow as tf

    chain = _chain(model)
    name = layer or feature_map_layer(model)
    names = [lay.name for lay in chain]
    if name not in names:
        raise ValueError(f"{model.name} has no top-level layer {name!r}; top-level layers: {names}.")
    k = names.index(name)
    x = tf.convert_to_tensor(np.asarray(images, dtype="float32"))
    if x.shape.rank != 4:
        raise ValueError(f"Expected a batch of images [N, H, W, 3], got shape {tuple(x.shape)}.")
    not_a_chain = (f"{model.name}'s layers do not form a simple chain (running them one after another does not "
                   "reproduce the model's predictions), so Grad-CAM cannot split it at the feature map. Pass a "
                   "functional model built as input -> ... -> backbone -> pooling -> head.")
    with tf.GradientTape() as tape:
        try:
            h = x
            for lay in chain[:k]:
                h = lay(h, training=False)
            fmap = tf.cast(chain[k](h, training=False), tf.float32)
            tape.watch(fmap)
            h = fmap
            for lay in chain[k + 1:]:
                h = lay(h, training=False)
        except (ValueError, TypeError, tf.errors.InvalidArgumentError) as exc:
            raise ValueError(not_a_chain) from exc
        out = tf.cast(h, tf.float32)
        one_logit = out.shape[-1] == 1
        if class_index is None:
            idx = tf.cast(out[:, 0] > 0, tf.int32) if one_logit else tf.argmax(out, axis=-1, output_type=tf.int32)
        else:
            idx = tf.broadcast_to(tf.constant(class_index, tf.int32), [tf.shape(out)[0]])
        if one_logit:  # the logit speaks for class 1, its negative for class 0
            score = tf.where(idx == 1, out[:, 0], -out[:, 0])
        else:  # log-probability: does not saturate the way a softmax probability does
            score = tf.math.log(tf.gather(out, idx, batch_dims=1) + 1e-9)
    grads = tape.gradient(score, fmap)
    reference = tf.cast(model(x, training=False), tf.float32)
    tol = 1e-3 if model.dtype_policy.compute_dtype == "float32" else 5e-2
    if out.shape != reference.shape or not np.allclose(out.numpy(), reference.numpy(), atol=tol):
        raise ValueError(not_a_chain)
    if grads is None:
        raise ValueError(f"The class score does not depend on {name!r}: choose an earlier feature-map layer.")
    weights = tf.reduce_mean(grads, axis=(1, 2))  # [N, K]: how much each channel matters for the class
    cam = tf.nn.relu(tf.einsum("nhwk,nk->nhw", fmap, weights))
    peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
    cam = tf.math.divide_no_nan(cam, peak)
    return GradCam(heatmaps=cam.numpy().astype("float32"), class_index=idx.numpy(), probs=out.numpy(), layer=name)


def upsample(heatmaps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``[N, h, w]`` heat maps to ``size`` (bilinear), e.g. to overlay them on the photos."""
    import tensorflow as tf

    maps = tf.convert_to_tensor(np.asarray(heatmaps, "float32"))[..., None]
    return tf.image.resize(maps, size, method="bilinear").numpy()[..., 0]


def mass_in(heatmaps: np.ndarray, region: tuple[slice, slice]) -> np.ndarray:
    """Share of each heat map's total that falls in ``region`` (rows, columns): 1.0 = all of it; NaN if empty."""
    maps = np.asarray(heatmaps, "float64")
    total = maps.sum(axis=(1, 2))
    inside = maps[:, region[0], region[1]].sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / total, np.nan)
