"""The private Keras internals behind tlhelpers.kerascompat still behave as the course needs.

CI runs this file in every environment it builds (newest pins, Colab and Kaggle replicas), so a Keras release
that renames or changes one of them fails here, by name, before a lesson does.
"""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from tlhelpers import kerascompat


class _Holder(keras.layers.Layer):
    """A custom layer that keeps a Dense as an attribute: `.layers` does not show it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = keras.layers.Dense(2, name="inner_dense")

    def call(self, x):
        return self.inner(x)


def test_all_sublayers_finds_layers_inside_custom_layers():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, _Holder(name="holder")(keras.layers.Dense(3, name="outer")(inputs)))
    names = [layer.name for layer in kerascompat.all_sublayers(model)]
    assert "inner_dense" in names and "holder" in names and "outer" in names
    assert model.name not in names
    assert kerascompat.all_sublayers(model, include_self=True)[0] is model
    assert len(names) == len(set(names))


def test_variable_over_shares_storage_with_the_tf_variable():
    tf_var = tf.Variable(np.arange(6, dtype="float32").reshape(2, 3), trainable=True, name="module/kernel")
    wrapped = kerascompat.variable_over(tf_var, trainable=False, name="module_kernel")
    assert isinstance(wrapped, keras.Variable) and not wrapped.trainable
    tf_var.assign(tf.ones((2, 3)))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(wrapped), np.ones((2, 3)))
    wrapped.assign(np.full((2, 3), 7.0, "float32"))
    np.testing.assert_array_equal(tf_var.numpy(), np.full((2, 3), 7.0))


def test_imagenet_class_index_url_is_keras_address():
    url = kerascompat.imagenet_class_index_url()
    assert url.startswith("https://") and url.endswith("imagenet_class_index.json")


def test_hdf5_weights_load_by_keras_load_weights(tmp_path):
    def build():
        inputs = keras.Input((4,))
        return keras.Model(inputs, keras.layers.Dense(2, name="d")(keras.layers.Dense(3, name="c")(inputs)))

    source, target = build(), build()
    path = tmp_path / "weights.h5"
    with h5py.File(path, "w") as f:
        kerascompat.save_weights_to_hdf5_group(f, source)
    target.load_weights(str(path))
    for a, b in zip(source.get_weights(), target.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("decision", [True, False])
def test_patch_auto_jit_decides_jit_compile_auto(monkeypatch, decision):
    from keras.src.trainers import trainer

    monkeypatch.setattr(trainer.Trainer, "_resolve_auto_jit_compile", trainer.Trainer._resolve_auto_jit_compile)
    seen = []

    def decide(model, supports_jit):
        seen.append(bool(supports_jit(model)))
        return decision

    kerascompat.patch_auto_jit(decide)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer="sgd", loss="mse", jit_compile="auto")
    assert model.jit_compile is decision
    assert seen and all(seen)  # the decision was asked, with a check that says a Dense supports XLA


def _with_future_argument(path, out, value):
    """A copy of a .keras file as a newer Keras might write it: a new initializer argument."""
    import json
    import zipfile

    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "config.json":
                data = data.replace(b'"class_name": "GlorotUniform", "config": {',
                                    b'"class_name": "GlorotUniform", "config": {"future_axes": ' +
                                    json.dumps(value).encode() + b", ")
                assert b"future_axes" in data
            dst.writestr(item, data)


def test_a_file_from_a_newer_keras_loads_when_only_none_defaults_are_new(tmp_path):
    from tlhelpers import models

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    model.save(tmp_path / "m.keras")
    newer = tmp_path / "newer.keras"
    _with_future_argument(tmp_path / "m.keras", newer, None)
    before = newer.read_bytes()
    with pytest.raises((TypeError, ValueError), match="future_axes"):
        keras.models.load_model(newer)  # what Keras itself does
    with pytest.warns(UserWarning, match=r"GlorotUniform\.future_axes"):
        again = models.load_model(newer)
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert newer.read_bytes() == before  # the learner's file is never changed


def test_a_new_argument_with_a_real_value_is_still_refused(tmp_path):
    from tlhelpers import models

    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Dense(3)(inputs)).save(tmp_path / "m.keras")
    _with_future_argument(tmp_path / "m.keras", tmp_path / "newer.keras", [0, 1])
    with pytest.raises((TypeError, ValueError), match="future_axes"):
        models.load_model(tmp_path / "newer.keras")
