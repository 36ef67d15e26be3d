"""The course's Keras layers: real classes, registered for ``.keras`` files at import.

What belongs here: every Keras layer class of ``tlhelpers`` and nothing else.

- :class:`Preprocess`: a backbone's ``preprocess_input`` as a layer (raw 0..255 in).
- :class:`RandomAffine`: flip + rotation + zoom + shift in one resampling (training only).
- :class:`ClassNames`: an identity layer whose config carries the class names.
- :class:`HubLayer`: a TF-Hub SavedModel as a Keras 3 layer.

Each is registered with ``keras.saving.register_keras_serializable`` under
the package ``"tlhelpers"`` and its own class name (``"tlhelpers>Preprocess"``
...). Those names are stored in every ``.keras`` file the course writes, so
they never change; ``tests/test_layers.py`` opens a file written by 0.1.0.
Importing this module (or :func:`tlhelpers.models.load_model`) is all a fresh
Python process needs to open such a file.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from tlhelpers import tfhub
from tlhelpers.data import CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD

__all__ = ["PREPROCESS_MODES", "Preprocess", "RandomAffine", "ClassNames", "HubLayer", "expected_image_size"]

PREPROCESS_MODES = ("caffe", "tf", "torch", "none", "unit")


@keras.saving.register_keras_serializable(package="tlhelpers", name="Preprocess")
class Preprocess(keras.layers.Layer):
    """Map raw 0..255 RGB images to what a backbone expects (``preprocess_input`` as a layer).

    Keeping preprocessing inside the model means the saved model takes raw
    images and nobody can apply it twice or forget it.

    Args:
        mode: ``"caffe"`` (RGB->BGR, minus ImageNet means), ``"tf"`` (to
            -1..1), ``"torch"`` (0..1, ImageNet mean/std), ``"unit"`` (to
            0..1, the TF-Hub convention) or ``"none"`` (pass 0..255 through).
        **kwargs: Passed to ``keras.layers.Layer`` (e.g. ``name``).
    """

    def __init__(self, mode: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in PREPROCESS_MODES:
            raise ValueError(f"Unknown preprocessing mode {mode!r}; expected one of {PREPROCESS_MODES}.")
        self.mode = mode

    def call(self, x: Any) -> Any:
        """Apply the layer (Keras calls this)."""
        x = ops.cast(x, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "unit":
            return x / 255.0
        if self.mode == "caffe":
            x = ops.flip(x, axis=-1)  # RGB -> BGR
            return x - ops.convert_to_tensor(CAFFE_MEAN_BGR, dtype=x.dtype)
        if self.mode == "torch":
            mean = ops.convert_to_tensor(IMAGENET_MEAN, dtype=x.dtype)
            std = ops.convert_to_tensor(IMAGENET_STD, dtype=x.dtype)
            return (x / 255.0 - mean) / std
        return x  # "none": the backbone rescales 0..255 itself

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments stored in ``.keras`` files."""
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="tlhelpers", name="RandomAffine")
class RandomAffine(keras.layers.Layer):
    """Random flip, rotation, zoom and shift as ONE resampling per image (training only).

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
    """

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
        """Apply the layer (Keras calls this)."""
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
        """Return the output shape for an input shape."""
        return input_shape

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments stored in ``.keras`` files."""
        return {**super().get_config(), "flip": self.flip, "rotation": self.rotation, "zoom": self.zoom,
                "translation": self.translation, "fill_mode": self.fill_mode, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tlhelpers", name="ClassNames")
class ClassNames(keras.layers.Layer):
    """Pass probabilities through unchanged; the layer's config stores the class names.

    Put last in a classifier (see :func:`tlhelpers.models.with_class_names`),
    it makes a ``.keras`` file self-describing: ``layer.names[i]`` is class ``i``.

    Args:
        names: Class names in label order.
        **kwargs: Passed to ``keras.layers.Layer`` (e.g. ``name``).
    """

    def __init__(self, names: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.names = [str(n) for n in names]

    def call(self, x: Any) -> Any:
        """Apply the layer (Keras calls this)."""
        return x

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments stored in ``.keras`` files."""
        return {**super().get_config(), "names": self.names}


@keras.saving.register_keras_serializable(package="tlhelpers", name="HubLayer")
class HubLayer(keras.layers.Layer):
    """A TF-Hub image feature-vector SavedModel as a Keras 3 layer.

    Why a new layer: ``hub.KerasLayer`` is a ``tf_keras`` (Keras 2) layer and
    Keras 3 refuses it. This layer loads the SavedModel with ``hub.load`` and
    registers the module's own ``tf.Variable`` objects as its Keras weights, so
    freezing (``layer.trainable = False``, then compile again), fine-tuning,
    ``model.summary()`` and ``.keras`` saving work as for any Keras layer. A
    ``.keras`` file stores the handle; the module must be loadable again where
    the file is opened, and the weights come from the file.

    Args:
        handle: Registry name (:func:`tlhelpers.tfhub.names`), tfhub.dev or
            Kaggle Models URL, or a local SavedModel folder; see
            :func:`tlhelpers.tfhub.resolve`.
        trainable: Train the module's weights. Defaults to False (frozen).
        check_inputs: Check dtype, size and the ``[0, 1]`` range of the
            inputs, with messages saying how to fix them. Defaults to True.
        train_batchnorm: When trainable, also run the module's BatchNorm layers
            in training mode (updating their statistics). Defaults to False:
            like ``models.unfreeze``, BatchNorm stays in inference mode.
        **kwargs: Passed to ``keras.layers.Layer`` (e.g. ``name``).

    Float images ``[batch, size, size, 3]`` in ``[0, 1]`` in, ``[batch,
    features]`` out. ``layer.expected_size`` is the fixed input size the module
    needs (None when it accepts any size); ``layer.output_dim`` the feature length.
    """

    def __init__(self, handle: str, trainable: bool = False, check_inputs: bool = True,
                 train_batchnorm: bool = False, **kwargs: Any) -> None:
        import tensorflow as tf
        import tensorflow_hub as hub

        from tlhelpers import kerascompat

        super().__init__(trainable=trainable, **kwargs)
        self.handle = str(handle)
        self.check_inputs = check_inputs
        self.train_batchnorm = train_batchnorm
        self.module_path = tfhub.resolve(self.handle)
        self._module = hub.load(self.module_path)
        # A module loaded in a strategy's scope (two GPUs) has its functions restored per replica: see call().
        self._loaded_in = tf.distribute.get_strategy() if tf.distribute.has_strategy() else None
        if not callable(self._module):
            raise TypeError(f"The SavedModel at {self.module_path} has no __call__; it is not a TF-Hub TF2 "
                            "image model (TF1 hub.Module formats need tf_keras).")
        self.expected_size = tfhub.fixed_size(self._module)
        self.output_dim = tfhub.output_dim(self._module, self.expected_size)  # here, not inside a strategy scope
        self.supports_jit = False  # SavedModel functions and the range check stay out of XLA
        for var in tfhub.module_variables(self._module):
            # A Keras variable whose storage IS the module's tf.Variable: optimisers, freezing,
            # summaries and .keras saving then act on the module's real weights.
            self._track_variable(kerascompat.variable_over(var, var.trainable,
                                                           var.name.split(":")[0].replace("/", "_")))
        self._build_at_init()

    def build(self, input_shape: Any) -> None:
        """Check the input shape once, when Keras builds the layer."""
        import tensorflow as tf

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
        import tensorflow as tf

        if x.dtype.is_integer:
            raise ValueError(f"{self.name} expects float images in [0, 1], got {x.dtype.name}. Put "
                             "keras.layers.Rescaling(1 / 255) (or layers.Preprocess('unit')) before it.")
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
        """Apply the layer (Keras calls this)."""
        import tensorflow as tf

        x = tf.cast(inputs, tf.float32)
        if self.check_inputs:
            x = self._check(x)
        train_mode = bool(training) and self.trainable and self.train_batchnorm
        strategy = self._loaded_in
        in_its_scope = strategy is not None and tf.distribute.get_strategy() is strategy
        if in_its_scope and tf.distribute.in_cross_replica_context():
            # Called directly (`extractor(images)`), not by fit/predict, in the scope the module was loaded in:
            # TensorFlow runs such a module only per replica ("a graph generated from the cross-replica context
            # in an in-replica context"). Run it on each replica with the whole batch and keep the first result.
            out = strategy.experimental_local_results(
                strategy.run(lambda t: self._module(t, training=train_mode), args=(x,)))[0]
        else:
            out = self._module(x, training=train_mode)
        return tf.cast(out, self.compute_dtype)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        """Return the output shape for an input shape."""
        return (input_shape[0], self.output_dim)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments stored in ``.keras`` files."""
        return {**super().get_config(), "handle": self.handle, "check_inputs": self.check_inputs,
                "train_batchnorm": self.train_batchnorm}


def expected_image_size(layer: HubLayer, default: int) -> int:
    """Return the input size to feed a hub layer: its fixed size, else ``default``.

    Args:
        layer: A :class:`HubLayer`.
        default: Size to use when the module accepts any size.

    Returns:
        The side length in pixels.
    """
    return int(layer.expected_size or default)
