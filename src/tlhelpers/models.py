"""Model builders: the scratch CNN baseline and transfer-learning models.

What belongs here: functions that return Keras models (and change which of
their layers train). Every model takes raw ``float32`` images in 0..255;
whatever scaling a network needs happens inside the model, exactly once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["build_scratch_cnn"]


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
