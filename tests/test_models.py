import keras
import numpy as np
import pytest

from tlhelpers import layers, models


def test_scratch_cnn_shape_and_probabilities():
    model = models.build_scratch_cnn((32, 32, 3), 10)
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    p = model(x, training=False).numpy()
    assert p.shape == (4, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    denses = [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert len(convs) == 3 and denses == [256, 128, 10]
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in model.layers) == 2


def test_scratch_cnn_rescales_inputs_once():
    model = models.build_scratch_cnn((8, 8, 3), 2, filters=(4,), dense_units=(4,))
    rescale = model.get_layer("rescale_0_1")
    out = rescale(np.full((1, 8, 8, 3), 255.0, "float32")).numpy()
    np.testing.assert_allclose(out, 1.0)


def test_scratch_cnn_learns_a_separable_problem():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 256)
    x = np.where(y[:, None, None, None] == 1, 200.0, 30.0) + rng.normal(0, 10, (256, 16, 16, 3))
    model = models.build_scratch_cnn((16, 16, 3), 2, filters=(8,), dense_units=(16,), dropout=0.0)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x.astype("float32"), y, epochs=5, batch_size=32, verbose=0)
    assert hist.history["accuracy"][-1] > 0.95


def test_scratch_cnn_rejects_one_class():
    with pytest.raises(ValueError, match="at least 2"):
        models.build_scratch_cnn((8, 8, 3), 1)


def test_random_affine_identity_flip_and_inference():
    import tensorflow as tf

    x = tf.random.uniform((16, 24, 24, 3), 0, 255, seed=1)
    still = layers.RandomAffine(flip=False, rotation=0.0, zoom=0.0, translation=0.0)
    np.testing.assert_allclose(still(x, training=True).numpy(), x.numpy(), atol=1e-3)
    flip = layers.RandomAffine(flip=True, rotation=0.0, zoom=0.0, translation=0.0, seed=3)
    y, xn = flip(x, training=True).numpy(), x.numpy()
    same = [np.allclose(y[i], xn[i], atol=1e-3) for i in range(16)]
    mirrored = [np.allclose(y[i], xn[i][:, ::-1], atol=1e-3) for i in range(16)]
    assert all(a or b for a, b in zip(same, mirrored, strict=True)) and 0 < sum(mirrored) < 16
    full = layers.RandomAffine(seed=0)
    assert np.array_equal(full(x, training=False).numpy(), xn)  # inactive outside training
    moved = full(x, training=True).numpy()
    assert moved.shape == xn.shape and not np.allclose(moved, xn)
    assert moved.min() >= -1e-3 and moved.max() <= 255 + 1e-3  # reflect fill keeps the value range


def test_random_affine_shift_moves_content_by_the_drawn_amount_in_its_direction(monkeypatch):
    """Every random draw at its maximum: the shift is +0.2 x 21 = 4.2 px right and down, so the dot at (10, 10)
    lands between (14, 14) and (15, 15), mostly on (14, 14); a sign error would move it up and left."""
    import keras
    import tensorflow as tf

    monkeypatch.setattr(keras.random, "uniform", lambda shape, low, high, seed=None: keras.ops.full(shape, high))
    img = np.zeros((1, 21, 21, 1), np.float32)
    img[0, 10, 10, 0] = 255.0
    layer = layers.RandomAffine(flip=False, rotation=0.0, zoom=0.0, translation=0.2, fill_mode="constant", seed=5)
    out = layer(tf.constant(img), training=True).numpy()[0, ..., 0]
    assert np.unravel_index(out.argmax(), out.shape) == (14, 14)
    np.testing.assert_allclose(out[14:16, 14:16].sum(), 255.0, rtol=1e-3)


def test_build_augmentation_fused_and_unfused_are_savable(tmp_path):
    import keras

    for fused in (True, False):
        aug = models.build_augmentation(seed=1, fused=fused)
        names = [type(layer).__name__ for layer in aug.layers]
        assert ("RandomAffine" in names) == fused
        model = keras.Sequential([keras.Input((16, 16, 3)), aug, keras.layers.GlobalAveragePooling2D()])
        model.save(tmp_path / f"m{fused}.keras")
        keras.models.load_model(tmp_path / f"m{fused}.keras")
