"""The course's Keras layers are real classes, registered under names that never change."""

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tlhelpers import layers, models

DATA = Path(__file__).resolve().parent / "data"


@pytest.mark.parametrize("cls", [layers.Preprocess, layers.RandomAffine, layers.ClassNames, layers.HubLayer])
def test_each_layer_is_a_keras_layer_class_registered_under_its_stable_name(cls):
    assert issubclass(cls, keras.layers.Layer)
    assert keras.saving.get_registered_name(cls) == f"tlhelpers>{cls.__name__}"


def test_isinstance_works_on_what_the_builders_return():
    aug = models.build_augmentation(seed=0)
    assert any(isinstance(layer, layers.RandomAffine) for layer in aug.layers)
    named = models.with_class_names(keras.Sequential([keras.Input((3,)), keras.layers.Softmax()]), ["a", "b", "c"])
    assert isinstance(named.layers[-1], layers.ClassNames) and models.class_names_of(named) == ["a", "b", "c"]


def test_a_file_saved_by_0_1_0_loads_in_a_fresh_process_and_predicts_the_same():
    """tests/data/saved_by_v0.1.0.keras was written by the lazily-built layer classes of tlhelpers 0.1.0."""
    code = (
        "import sys, numpy as np\n"
        "from tlhelpers import models\n"
        f"m = models.load_model({str(DATA / 'saved_by_v0.1.0.keras')!r})\n"
        f"x = np.load({str(DATA / 'saved_by_v0.1.0_inputs.npy')!r})\n"
        f"expected = np.load({str(DATA / 'saved_by_v0.1.0_outputs.npy')!r})\n"
        "np.testing.assert_allclose(m.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)\n"
        "print(models.class_names_of(m), [type(l).__name__ for l in m.layers])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={"TF_CPP_MIN_LOG_LEVEL": "3", **__import__("os").environ})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "['ant', 'bee', 'cat']" in done.stdout
    assert "RandomAffine" in done.stdout and "Preprocess" in done.stdout and "ClassNames" in done.stdout


def test_a_plain_keras_load_needs_only_the_layers_module(tmp_path):
    inputs = keras.Input((8, 8, 3))
    x = layers.Preprocess("torch", name="pre")(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    model.save(tmp_path / "m.keras")
    x = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    again = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(again.get_layer("pre"), layers.Preprocess) and again.get_layer("pre").mode == "torch"
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_unknown_preprocess_mode_lists_the_known_ones():
    with pytest.raises(ValueError, match="expected one of"):
        layers.Preprocess("bgr")
