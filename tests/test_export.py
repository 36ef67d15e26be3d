"""Export with proof: SavedModel and LiteRT artifacts predict what the .keras model predicts.

The real-photo test uses genuine MobileNetV2-0.35 ImageNet weights and 200 real validation photos (offline
assets; skipped with the reason where they are absent). Sizes and latencies are printed, not asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from conftest import real_asset
from tlhelpers import data, export, features, models

WEIGHTS = "keras/models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"


def _asset(rel):
    return real_asset(rel)


@pytest.fixture(scope="module")
def trained_course_model():
    """A course transfer model (augmentation, Preprocess, real backbone, head, ClassNames) with a trained head."""
    root = _asset("cats_and_dogs_filtered")
    _asset(WEIGHTS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLH_SMOKE", "0")  # real weights, found offline
        keras.utils.set_random_seed(0)
        tm = models.build_transfer_model("MobileNetV2", 2, image_size=224, alpha=0.35,
                                         augmentation=models.build_augmentation(seed=0))
    train, names = data.image_folder(root / "train", image_size=224, batch_size=32, limit_per_class=100)
    val, _ = data.image_folder(root / "validation", image_size=224, batch_size=50, limit_per_class=100)
    f = features.extract_features(tm.features, train, progress=False)
    tm.head.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    tm.head.fit(f.features, f.labels, epochs=10, batch_size=32, verbose=0)
    photos = np.concatenate([x.numpy() for x, _ in val])
    assert len(photos) == 200
    return models.with_class_names(tm.model, names), photos


@pytest.mark.assets
@pytest.mark.slow
@pytest.mark.parametrize(("fmt", "quantize", "min_agreement", "max_diff"), [
    ("saved_model", None, 0.99, 1e-4),
    ("litert", None, 0.99, 1e-4),
    ("litert", "float16", 0.97, None),
])
def test_artifact_agrees_with_the_keras_model_on_real_photos(trained_course_model, tmp_path, fmt, quantize,
                                                               min_agreement, max_diff):
    model, photos = trained_course_model
    report = export.export_model(model, tmp_path / "cats_dogs", format=fmt, quantize=quantize, images=photos)
    print("\n" + report.summary())
    assert report.images == 200
    assert report.top1_agreement >= min_agreement
    if max_diff is not None:
        assert report.max_abs_diff <= max_diff
    assert report.path.exists() and not report.path.with_name(report.path.name + ".partial").exists()
    assert (tmp_path / (report.path.name + ".labels.txt")).read_text().split() == ["cats", "dogs"]


def _tiny_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(32, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(256, activation="relu")(x)  # big enough for the converter to quantize (> 1,024 weights)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


def test_saved_model_predicts_in_a_process_without_tlhelpers(tmp_path):
    tm = models.build_transfer_model("MobileNetV2", 2, image_size=64, weights=None, alpha=0.35,
                                     augmentation=models.build_augmentation(seed=0))
    model = models.with_class_names(tm.model, ["a", "b"])
    images = np.random.default_rng(0).uniform(0, 255, (4, 64, 64, 3)).astype("float32")
    report = export.export_model(model, tmp_path / "m", images=images)
    assert report.max_abs_diff <= 1e-5
    np.save(tmp_path / "x.npy", images)
    code = textwrap.dedent(f"""
        import json, sys
        import numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({str(report.path)!r})
        out = loaded.serve(tf.constant(np.load({str(tmp_path / 'x.npy')!r}))).numpy()
        print(json.dumps({{"out": out.tolist(), "tlhelpers": "tlhelpers" in sys.modules}}))
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["tlhelpers"] is False  # no custom layer classes needed to serve it
    np.testing.assert_allclose(np.array(result["out"]), model.predict(images, verbose=0), atol=1e-5)


@pytest.mark.parametrize("fmt", ["saved_model", "litert"])
def test_augmentation_is_off_in_the_artifact(tmp_path, fmt):
    # Keras 3.15.1's model.export keeps RandomContrast (call default training=True) active in the SavedModel;
    # export_model must not.
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.RandomContrast(0.5, value_range=(0, 255), seed=1)(inputs)
    x = keras.layers.Conv2D(4, 3)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    images = np.random.default_rng(0).uniform(0, 255, (8, 16, 16, 3)).astype("float32")
    report = export.export_model(model, tmp_path / "aug", format=fmt, images=images)
    assert report.max_abs_diff <= 1e-5, report.summary()


@pytest.mark.parametrize("fmt", ["litert", "saved_model"])
def test_a_mixed_precision_model_exports_computing_in_float32(tmp_path, fmt):
    # Found by the GPU-shaped rehearsal of lesson 06: under mixed_float16 (every GPU runtime of the course) the
    # LiteRT conversion failed ("'tf.Conv2D' op is neither a custom op nor a flex op", ERROR_NEEDS_FLEX_OPS).
    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        tm = models.build_transfer_model("MobileNetV2", 3, image_size=64, weights=None, alpha=0.35,
                                         augmentation=models.build_augmentation(seed=1))
        model = models.with_class_names(tm.model, ["a", "b", "c"])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.dtype_policy.compute_dtype == "float16"
    twin = export.float32_twin(model)
    assert twin is not model
    assert {layer.dtype_policy.compute_dtype for layer in twin._flatten_layers(recursive=True)} == {"float32"}
    for a, b in zip(twin.weights, model.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # the same weights, not retrained
    images = np.random.default_rng(0).uniform(0, 255, (12, 64, 64, 3)).astype("float32")
    report = export.export_model(model, tmp_path / "mixed", format=fmt, images=images)
    assert report.top1_agreement >= 11 / 12 and report.max_abs_diff < 1e-2, report.summary()
    assert export.float32_twin(twin) is twin  # a float32 model is exported as it is


def test_dynamic_quantization_writes_a_smaller_file_that_still_runs(tmp_path):
    model = _tiny_model()
    plain = export.export_model(model, tmp_path / "plain.tflite", format="litert")
    small = export.export_model(model, tmp_path / "small.tflite", format="litert", quantize="dynamic")
    assert small.size_mb < plain.size_mb
    assert small.top1_agreement >= 0.75 and plain.max_abs_diff <= 1e-5


def test_bad_requests_are_refused_and_nothing_is_overwritten(tmp_path):
    model = _tiny_model()
    with pytest.raises(ValueError, match="Unknown format"):
        export.export_model(model, tmp_path / "x", format="onnx")
    with pytest.raises(ValueError, match="LiteRT files only"):
        export.export_model(model, tmp_path / "x", quantize="dynamic")
    with pytest.raises(ValueError, match="Unknown quantization"):
        export.export_model(model, tmp_path / "x.tflite", format="litert", quantize="int4")
    with pytest.raises(ValueError, match="must be"):
        export.export_model(model, tmp_path / "x", images=np.zeros((2, 8, 8, 3)))
    first = export.export_model(model, tmp_path / "keep")
    stamp = (first.path / "saved_model.pb").stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="exists already"):
        export.export_model(model, tmp_path / "keep")
    assert (first.path / "saved_model.pb").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="must be"):  # refused before the old artifact is replaced
        export.export_model(model, tmp_path / "keep", images=np.zeros((2, 8, 8, 3)), overwrite=True)
    assert (first.path / "saved_model.pb").stat().st_mtime_ns == stamp
    with pytest.raises(FileNotFoundError):
        export.load_artifact(tmp_path / "missing")
