"""The Keras 3 TF-Hub layer, the handle registry and the feature cache.

Layer tests run twice: on the real hub-style MobileNetV2-0.35 SavedModel from the
offline assets (skipped, with the reason, where absent) and on a tiny generated one.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import real_asset
from tlhelpers import features, layers, models, tfhub
from tlhelpers.course import config, standins

ASSET = tfhub.SMOKE_ASSET


@pytest.fixture(scope="module", params=["real", "tiny"])
def module_path(request, tmp_path_factory):
    if request.param == "real":
        return str(real_asset(ASSET))
    return str(standins.make_tiny_module(tmp_path_factory.mktemp("hub") / "tiny", input_size=64, output_dim=24))


def _size(path):
    return layers.HubLayer(path).expected_size


def _batch(size, n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, size, size, 3), dtype=np.float32), np.arange(n) % 2


def _variables(layer):
    return [v.numpy().copy() for v in layer.weights]


def test_keras3_rejects_the_classic_hub_keraslayer():
    """The bug this module exists for: hub.KerasLayer is a tf_keras layer, and Keras 3 refuses it."""
    import keras
    import tensorflow_hub as hub

    path = standins.make_tiny_module(config.cache_root() / "tfhub_smoke" / "test_classic", input_size=32, output_dim=8)
    with pytest.raises(ValueError, match="Only instances of `?keras.Layer`? can be added"):
        keras.Sequential([keras.Input((32, 32, 3)), hub.KerasLayer(str(path), trainable=False)])


def test_output_equals_hub_load(module_path):
    import tensorflow_hub as hub

    layer = layers.HubLayer(module_path)
    x, _ = _batch(layer.expected_size, n=4)
    np.testing.assert_allclose(layer(x).numpy(), hub.load(module_path)(x).numpy(), rtol=1e-5, atol=1e-5)


def test_frozen_layer_is_unchanged_by_fit_in_sequential(module_path):
    import keras

    layer = layers.HubLayer(module_path)
    assert layer.trainable_weights == [] and len(layer.weights) > 0
    size = layer.expected_size
    model = keras.Sequential([keras.Input((size, size, 3)), layer, keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    before, head_before = _variables(layer), model.layers[-1].kernel.numpy().copy()
    x, y = _batch(size)
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, _variables(layer), strict=True))
    assert not np.allclose(head_before, model.layers[-1].kernel.numpy())  # the head did train


def test_trainable_layer_changes_in_functional_model_and_batchnorm_stays(module_path):
    import keras

    layer = layers.HubLayer(module_path, trainable=True)
    size = layer.expected_size
    inputs = keras.Input((size, size, 3))
    outputs = keras.layers.Dense(2, activation="softmax")(layer(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    trainable_before = [v.numpy().copy() for v in layer.trainable_weights]
    frozen_before = [v.numpy().copy() for v in layer.non_trainable_weights]
    assert trainable_before
    x, y = _batch(size)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    changed = sum(not np.allclose(a, v.numpy()) for a, v in zip(trainable_before, layer.trainable_weights,
                                                               strict=True))
    assert changed >= len(trainable_before) // 2
    # non-trainable variables (BatchNorm moving statistics) stay: train_batchnorm defaults to False
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(frozen_before, layer.non_trainable_weights,
                                                           strict=True))


def test_keras_file_and_export_round_trip(module_path, tmp_path):
    import keras

    tm = models.build_hub_model(module_path, 3)
    x = np.random.default_rng(1).uniform(0, 255, (4, tm.image_size, tm.image_size, 3)).astype(np.float32)
    expected = tm.model.predict(x, verbose=0)
    tm.model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    tm.model.export(str(tmp_path / "exported"), verbose=False)
    served = keras.layers.TFSMLayer(str(tmp_path / "exported"), call_endpoint="serve")
    np.testing.assert_allclose(served(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_input_contract_errors_say_what_to_do(module_path):
    import keras

    layer = layers.HubLayer(module_path)
    size = layer.expected_size
    with pytest.raises(ValueError, match=rf"expects {size}x{size} images, got 40x40.*Resizing"):
        keras.Sequential([keras.Input((40, 40, 3)), layers.HubLayer(module_path)])
    with pytest.raises(tf.errors.InvalidArgumentError, match="raw 0..255 pixels.*Rescaling"):
        layer(np.full((1, size, size, 3), 200, np.uint8))
    x, _ = _batch(size, n=2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="raw 0..255 pixels"):
        layer(x * 255)
    with pytest.raises(tf.errors.InvalidArgumentError, match="negative values"):
        layer(x * 2 - 1)


def test_registry_names_and_errors():
    assert {"resnet_v2_50", "inception_v3", "mobilenet_v2_100_224", "efficientnet_b0"} <= set(tfhub.names())
    spec = tfhub.get("inception_v3")
    assert (spec.input_size, spec.output_dim) == (299, 2048)
    assert spec.tfhub.startswith("https://tfhub.dev/") and spec.kaggle.startswith("https://www.kaggle.com/models/")
    assert tfhub.get(spec.tfhub) is spec and tfhub.get(spec.kaggle) is spec
    with pytest.raises(KeyError, match="Did you mean 'inception_v3'"):
        tfhub.get("inceptoin_v3")
    with pytest.raises(FileNotFoundError, match="not a SavedModel folder"):
        tfhub.resolve("/nonexistent/folder")


def test_smoke_resolves_names_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("TLH_SMOKE", "1")
    monkeypatch.setenv("TLH_OFFLINE", "1")  # no download attempt, and nothing written outside tmp_path
    monkeypatch.setenv("TLH_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "tfhub"))
    monkeypatch.setenv("TLH_ASSETS_DIR", str(tmp_path / "no_assets"))
    path = tfhub.resolve("inception_v3")  # no assets: a tiny module with the same contract
    assert path.startswith(str(tmp_path))
    layer = layers.HubLayer(path)
    assert layer.expected_size == 299
    assert layer(np.zeros((1, 299, 299, 3), np.float32)).shape == (1, 2048)
    assert tfhub.resolve(tfhub.get("inception_v3").tfhub) == path  # URLs of registry entries too
    with pytest.raises(RuntimeError, match="Smoke mode does not download"):
        tfhub.resolve("https://example.com/some/other/model")


def test_full_mode_offline_says_how_to_prefetch(monkeypatch, tmp_path):
    import tensorflow_hub as hub

    monkeypatch.setenv("TLH_SMOKE", "0")
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "hubcache"))

    def offline(handle):
        raise OSError("Name or service not known")

    monkeypatch.setattr(hub, "resolve", offline)
    assert tfhub.cache_dir() == tmp_path / "hubcache"
    with pytest.raises(RuntimeError, match=r"(?s)prefetch it where there is network.*TFHUB_CACHE_DIR="):
        tfhub.resolve("resnet_v2_50")


def test_feature_cache_file_and_augmented_passes(tmp_path):
    import keras

    path = standins.make_tiny_module(tmp_path / "tiny", input_size=32, output_dim=6)
    tm = models.build_hub_model(str(path), 2)
    x = np.random.default_rng(0).uniform(0, 255, (10, 32, 32, 3)).astype(np.float32)
    y = np.arange(10) % 2
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    cache = tmp_path / "feats" / "train.npz"
    first = features.extract_features(tm.features, ds, progress=False, cache_file=cache)
    assert cache.is_file() and first.features.shape == (10, 6)
    again = features.extract_features(keras.Sequential([keras.Input((32, 32, 3))]), ds, progress=False,
                                      cache_file=cache)  # a different model: proves it was loaded, not recomputed
    np.testing.assert_array_equal(again.features, first.features)
    aug = features.extract_features(tm.features, ds, progress=False, passes=3,
                                    augmentation=keras.layers.RandomFlip("horizontal", seed=1))
    assert aug.features.shape == (30, 6) and aug.labels.tolist() == y.tolist() * 3
    np.testing.assert_allclose(aug.features[:10], first.features, rtol=1e-5)  # pass 1: the images as they are
    # passes 2 and 3 are augmented: flipped images give other features, and each pass draws its own flips
    assert not np.allclose(aug.features[10:20], first.features, rtol=1e-3)
    assert not np.allclose(aug.features[20:30], aug.features[10:20], rtol=1e-3)
    with pytest.raises(ValueError, match="augmentation"):
        features.extract_features(tm.features, ds, progress=False, passes=2)


def test_head_trained_on_features_attaches_to_the_layer(tmp_path):
    path = standins.make_tiny_module(tmp_path / "tiny", input_size=32, output_dim=6)
    tm = models.build_hub_model(str(path), 2)
    x = np.random.default_rng(0).uniform(0, 255, (6, 32, 32, 3)).astype(np.float32)
    feats = tm.features.predict(x, verbose=0)
    np.testing.assert_allclose(tm.head.predict(feats, verbose=0), tm.model.predict(x, verbose=0), rtol=1e-5)
    assert models.trainable_summary(tm.model)["trainable"] == 6 * 2 + 2


def test_cache_dir_leaves_the_environment_as_it_was(tmp_path, monkeypatch):
    monkeypatch.delenv("TFHUB_CACHE_DIR", raising=False)
    monkeypatch.setenv("TLH_CACHE_DIR", str(tmp_path))
    assert tfhub.cache_dir() == tmp_path / "tfhub" and (tmp_path / "tfhub").is_dir()
    assert "TFHUB_CACHE_DIR" not in os.environ
