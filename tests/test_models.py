import keras
import numpy as np
import pytest

from tlhelpers import models


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
