"""The suite's own isolation (conftest.py's autouse fixture): what one test does to Keras does not reach the next.

The two tests run in file order; the first changes Keras's global state the way the mixed-precision tests of
`test_export.py` and `test_kerashub.py` do, the second checks that it starts afresh."""

import gc
import weakref

import keras

_left_behind: list[weakref.ref] = []


def test_a_test_switches_to_mixed_precision_and_builds_a_model():
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    assert model.layers[0].name == "dense" and model.layers[0].compute_dtype == "float16"
    _left_behind.append(weakref.ref(model))


def test_the_next_test_starts_in_float32_with_fresh_names_and_the_model_collected():
    assert keras.mixed_precision.global_policy().name == "float32"
    assert keras.layers.Dense(1).name == "dense"  # "dense_2" when the previous test's names were still counted
    assert _left_behind and _left_behind[0]() is None, "the previous test's model is still alive"
    gc.collect()
