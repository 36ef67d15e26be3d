import json
import warnings

import keras
import numpy as np
import pytest

from conftest import real_asset
from tlhelpers import backbones, kerascompat, layers, models, squeezenet

REQUIRED = ["VGG16", "ResNet50", "ResNet101V2", "InceptionV3", "Xception", "MobileNetV2", "MobileNetV3Small",
            "MobileNetV3Large", "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3",
            "EfficientNetV2B0", "ConvNeXtTiny"]


def test_registry_has_the_course_backbones():
    assert set(REQUIRED) <= set(backbones.names())
    for name in backbones.names():
        spec = backbones.get(name)
        assert spec.preprocess in ("caffe", "tf", "torch", "none") and spec.note
        assert spec.min_size <= spec.input_size


def test_unknown_name_lists_known_and_closest():
    with pytest.raises(KeyError) as err:
        backbones.get("mobilenetv22")
    msg = str(err.value)
    assert "Did you mean 'MobileNetV2'" in msg and "EfficientNetB0" in msg
    assert backbones.get("efficientnetb0").name == "EfficientNetB0"  # case-insensitive


def test_register_refuses_silent_replacement():
    spec = backbones.get("VGG16")
    with pytest.raises(ValueError, match="replace=True"):
        backbones.register(spec)


def test_resolve_weights_finds_cached_file_or_falls_back(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("TLH_ASSETS_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("TLH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr("pathlib.Path.home", lambda: tmp_path / "home")
    monkeypatch.setenv("TLH_SMOKE", "0")
    assert backbones.resolve_weights("VGG16") == "imagenet"
    monkeypatch.setenv("TLH_SMOKE", "1")
    with pytest.warns(UserWarning, match="RANDOM weights"):
        assert backbones.resolve_weights("VGG16") is None
    (tmp_path / "models").mkdir()
    f = tmp_path / "models" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_160_no_top.h5"
    f.write_bytes(b"x")
    assert backbones.resolve_weights("MobileNetV2", alpha=0.35, image_size=160) == str(f)
    assert backbones.resolve_weights("VGG16", weights="/my/file.h5") == "/my/file.h5"


def _raw_images(size, n=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


@pytest.mark.parametrize("name", REQUIRED + ["DenseNet121"])
def test_preprocessing_happens_exactly_once(name):
    spec = backbones.get(name)
    size = max(spec.min_size, 32) if spec.min_size > 32 else 32
    keras.utils.set_random_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = models.build_transfer_model(name, 3, image_size=size, weights=None)
    raw = _raw_images(size)
    ours = tm.features(raw, training=False).numpy()
    manual = spec.preprocess_input()(raw.copy())  # the official function (it works in place: copy)
    reference = keras.layers.GlobalAveragePooling2D()(tm.base(manual, training=False)).numpy()
    scale = float(np.abs(reference).max())
    assert scale > 0
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4 * scale)
    # Applying preprocessing a second time would change the result (so the test can fail).
    twice = keras.layers.GlobalAveragePooling2D()(
        tm.base(spec.preprocess_input()(manual.copy()), training=False)).numpy()
    if spec.preprocess != "none":
        assert np.abs(twice - ours).max() > 1e-2 * scale


def test_preprocess_layer_modes_and_errors():
    x = np.array([[[[0.0, 127.5, 255.0]]]], "float32")
    np.testing.assert_allclose(layers.Preprocess("tf")(x), [[[[-1, 0, 1]]]], atol=1e-6)
    np.testing.assert_allclose(layers.Preprocess("unit")(x), [[[[0, 0.5, 1]]]], atol=1e-6)
    np.testing.assert_allclose(layers.Preprocess("none")(x), x)
    np.testing.assert_allclose(layers.Preprocess("caffe")(x), [[[[255 - 103.939, 127.5 - 116.779, -123.68]]]],
                               atol=1e-4)
    with pytest.raises(ValueError, match="Unknown preprocessing mode"):
        layers.Preprocess("bgr")


def test_build_base_errors_are_clear():
    with pytest.raises(ValueError, match="at least 75 px"):
        backbones.build_base("InceptionV3", image_size=40, weights=None)
    with pytest.raises(ValueError, match="only MobileNets"):
        backbones.build_base("VGG16", image_size=32, weights=None, alpha=0.5)


def test_decode_imagenet_offline_falls_back_to_indices(monkeypatch, tmp_path):
    monkeypatch.setenv("TLH_SMOKE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("TLH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TLH_ASSETS_DIR", str(tmp_path / "none"))
    monkeypatch.setattr(backbones.Path, "home", lambda: tmp_path)
    probs = np.zeros((2, 1000), np.float32)
    probs[0, 281], probs[0, 3], probs[1, 999] = 0.7, 0.2, 0.9
    out = backbones.decode_imagenet(probs, top=2)
    assert out[0] == [("class_281", pytest.approx(0.7)), ("class_3", pytest.approx(0.2))]
    assert out[1][0] == ("class_999", pytest.approx(0.9))


def test_decode_imagenet_uses_cached_class_names(monkeypatch, tmp_path):
    monkeypatch.setenv("TLH_SMOKE", "1")
    cache = tmp_path / "cache"
    (cache / "keras" / "models").mkdir(parents=True)
    index = {str(i): [f"n{i:08d}", f"label{i}"] for i in range(1000)}
    index["281"] = ["n02123045", "tabby"]
    (cache / "keras" / "models" / "imagenet_class_index.json").write_text(json.dumps(index))
    monkeypatch.setenv("TLH_CACHE_DIR", str(cache))
    probs = np.full((1, 1000), 1e-4, np.float32)
    probs[0, 281] = 0.9
    assert backbones.decode_imagenet(probs, top=1) == [[("tabby", pytest.approx(0.9))]]
    with pytest.raises(ValueError, match=r"\[N, 1000\]"):
        backbones.decode_imagenet(np.zeros((1, 10)))


def test_imagenet_classifier_smoke_has_1000_classes(monkeypatch):
    monkeypatch.setenv("TLH_SMOKE", "1")
    model = backbones.imagenet_classifier("MobileNetV3Small")
    assert model.output_shape == (None, 1000)
    probs = model.predict(np.full((1, 224, 224, 3), 128, np.float32), verbose=0)
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-4)


def _offline_smoke(monkeypatch, tmp_path):
    monkeypatch.setenv("TLH_SMOKE", "1")
    monkeypatch.setenv("TLH_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("TLH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(backbones.Path, "home", lambda: tmp_path)


@pytest.mark.assets
def test_squeezenet_imagenet_classifier_offline_has_the_real_feature_extractor(monkeypatch, tmp_path, capsys):
    """The assets hold SqueezeNet's no-top weights only: the classifier is built with them and a random top, and
    says so (it used to fail: getattr(keras.applications, "") for a network outside keras.applications)."""
    real_asset("squeezenet/" + squeezenet.WEIGHTS_FILE)
    _offline_smoke(monkeypatch, tmp_path)
    with pytest.warns(UserWarning, match="RANDOM 1000-class top"):
        model = backbones.imagenet_classifier("SqueezeNet")
    assert model.output_shape == (None, 1000)
    base = backbones.build_base("SqueezeNet")  # the asset's weights, loaded by order
    for layer in base.layers:
        for ours, theirs in zip(model.get_layer(layer.name).get_weights(), layer.get_weights(), strict=True):
            np.testing.assert_array_equal(ours, theirs)
    probs = model.predict(np.full((1, 224, 224, 3), 0.0, np.float32), verbose=0)
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-4)


def test_a_cached_classifier_file_is_loaded_whole(monkeypatch, tmp_path, capsys):
    """With the top's weights file cached, every layer comes from it (conv10 too) and nothing is called random."""
    _offline_smoke(monkeypatch, tmp_path)
    spec = backbones.get("SqueezeNet")
    keras.utils.set_random_seed(3)
    saved = spec.construct(include_top=True)
    folder = tmp_path / "cache" / "keras" / "models"
    folder.mkdir(parents=True)
    import h5py

    with h5py.File(folder / spec.weights_filename(top=True), "w") as f:
        kerascompat.save_weights_to_hdf5_group(f, saved)
    model = backbones.imagenet_classifier("SqueezeNet")
    assert "RANDOM" not in capsys.readouterr().out
    x = np.random.default_rng(0).uniform(-100, 100, (2, 224, 224, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), saved.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_every_caller_builds_a_backbone_through_construct(monkeypatch, tmp_path):
    """build_base, imagenet_classifier and the rehearsal's stand-in weights all go through Backbone.construct."""
    calls = []
    real = backbones.Backbone.construct

    def spy(self, **kwargs):
        calls.append((self.name, kwargs.get("include_top", False)))
        return real(self, **kwargs)

    monkeypatch.setattr(backbones.Backbone, "construct", spy)
    _offline_smoke(monkeypatch, tmp_path)
    backbones.build_base("MobileNetV3Small", image_size=64, weights=None)
    backbones.imagenet_classifier("SqueezeNet")
    monkeypatch.setenv("TLH_REHEARSE", "1gpu")
    from tlhelpers.course import standins

    standins.standin_weights_file(backbones.get("SqueezeNet"), alpha=None, image_size=64)
    assert calls[0] == ("MobileNetV3Small", False)
    assert ("SqueezeNet", True) in calls and calls[-1] == ("SqueezeNet", False)
