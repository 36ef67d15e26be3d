import warnings

import keras
import numpy as np
import pytest

from tlhelpers import backbones, models

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
    np.testing.assert_allclose(models.Preprocess("tf")(x), [[[[-1, 0, 1]]]], atol=1e-6)
    np.testing.assert_allclose(models.Preprocess("unit")(x), [[[[0, 0.5, 1]]]], atol=1e-6)
    np.testing.assert_allclose(models.Preprocess("none")(x), x)
    np.testing.assert_allclose(models.Preprocess("caffe")(x), [[[[255 - 103.939, 127.5 - 116.779, -123.68]]]],
                               atol=1e-4)
    with pytest.raises(ValueError, match="Unknown preprocessing mode"):
        models.Preprocess("bgr")


def test_build_base_errors_are_clear():
    with pytest.raises(ValueError, match="at least 75 px"):
        backbones.build_base("InceptionV3", image_size=40, weights=None)
    with pytest.raises(ValueError, match="only MobileNets"):
        backbones.build_base("VGG16", image_size=32, weights=None, alpha=0.5)
