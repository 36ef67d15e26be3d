"""KerasHub presets as course backbones: offline on preset folders the tests write themselves.

The presets are written by ``standins.make_preset`` (a tiny KerasHub ResNet with random weights, saved with
``save_to_preset``) and loaded back with ``from_preset(folder)``, the same calls a downloaded preset goes through.
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

keras_hub = pytest.importorskip("keras_hub", reason="keras-hub is not installed: pip install -e '.[kerashub]'")

import keras

from tlhelpers import compare, kerashub, models, training
from tlhelpers.cli import prefetch
from tlhelpers.course import config, standins

SIZE = 32


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    return standins.make_preset(tmp_path_factory.mktemp("kh") / "tiny_resnet", image_size=SIZE)


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.uniform(0, 90, (n, SIZE, SIZE, 3)).astype("float32")
    x[y == 1, ..., 0] += 150  # class 1 is red: learnable
    return x, y


def _ds(x, y, batch=8):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


def _bn_state(base):
    return [w.numpy().copy() for layer in models._all_layers(base)
            if isinstance(layer, keras.layers.BatchNormalization) for w in layer.weights]


def _layer_weights(base):
    return {layer.name: [w.numpy().copy() for w in layer.weights] for layer in base.layers if layer.weights}


def _check_fine_tuning(base, before_bn, before):
    """BatchNorm identical; the unfrozen layers changed; the frozen ones did not."""
    after_bn = _bn_state(base)
    assert len(after_bn) == len(before_bn) > 0
    moved = [i for i, (a, b) in enumerate(zip(before_bn, after_bn, strict=True)) if not np.array_equal(a, b)]
    assert moved == [], "a BatchNorm weight or statistic moved"
    changed, kept = [], []
    for layer in base.layers:
        if not layer.weights or isinstance(layer, keras.layers.BatchNormalization):
            continue
        same = all(np.array_equal(a, w.numpy()) for a, w in zip(before[layer.name], layer.weights, strict=True))
        (kept if same else changed).append((layer.name, layer.trainable))
    assert changed and all(trainable for _, trainable in changed), changed
    assert all(not trainable for _, trainable in kept), f"unfrozen layers that did not change: {kept}"
    assert any(not t for _, t in kept), "nothing stayed frozen: the test would not see a wrong unfreeze"


def test_a_kerashub_backbone_with_the_course_head_trains_through_fit_two_phase(preset, monkeypatch):
    monkeypatch.setenv("TLH_SMOKE", "1")
    training.set_seed(0)
    tm = models.build_transfer_model(f"kerashub:{preset}", 2)
    assert tm.preset == f"kerashub:{preset}" and tm.image_size == SIZE  # the converter's size
    assert not tm.base.trainable and tm.model.layers[1].name == "preprocess"
    before_bn, before = _bn_state(tm.base), _layer_weights(tm.base)
    x, y = _data()
    result = training.fit_two_phase(tm, _ds(x, y), _ds(x, y), head_epochs=3, fine_tune_epochs=2,
                                    unfreeze_from=0.5, fine_tune_lr=1e-3, patience=5, verbose=0)
    assert result.epochs_run == {"head": 3, "fine_tune": 2} and result.seconds["features"] > 0  # features once
    assert len(result.history["val_accuracy"]) == 5
    _check_fine_tuning(tm.base, before_bn, before)
    probs = tm.model.predict(x, verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)  # probabilities, not logits


def test_a_kerashub_classifier_trains_through_fit_two_phase_and_keeps_predicting_like_itself(preset, monkeypatch):
    monkeypatch.setenv("TLH_SMOKE", "1")
    training.set_seed(0)
    classifier = keras_hub.models.ImageClassifier.from_preset(str(preset), num_classes=2)
    tm = models.from_kerashub_classifier(classifier)
    before_bn, before = _bn_state(tm.base), _layer_weights(tm.base)
    dense_before = classifier.output_dense.kernel.numpy().copy()
    x, y = _data()
    training.fit_two_phase(tm, _ds(x, y), _ds(x, y), head_epochs=2, fine_tune_epochs=2, unfreeze_from=0.5,
                           fine_tune_lr=1e-3, patience=5, verbose=0)
    _check_fine_tuning(tm.base, before_bn, before)
    assert not np.array_equal(dense_before, classifier.output_dense.kernel.numpy())  # the shared head trained
    # The wrapper shares the classifier's weights: softmax of the classifier's logits (its preprocessor runs
    # inside predict) equals the course model's probabilities (its Rescaling layer runs once, in the model).
    logits = classifier.predict(x[:8], verbose=0)
    np.testing.assert_allclose(tm.model.predict(x[:8], verbose=0), keras.ops.softmax(logits).numpy(), atol=1e-5)


def test_the_presets_preprocessing_is_applied_exactly_once(preset):
    tm = models.build_transfer_model(f"kerashub:{preset}", 2)
    backbone = keras_hub.models.Backbone.from_preset(str(preset))
    converter = keras_hub.layers.ImageConverter.from_preset(str(preset))
    x, _ = _data(8, seed=1)
    ours = tm.features.predict(x, verbose=0)
    theirs = keras.ops.mean(backbone(converter(x)), axis=(1, 2)).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-4)
    twice = keras.ops.mean(backbone(converter(converter(x))), axis=(1, 2)).numpy()
    assert np.abs(twice - theirs).max() > 100 * np.abs(ours - theirs).max() + 1e-3  # the check can fail


def test_keras_file_and_preset_round_trips_predict_the_same(preset, tmp_path):
    tm = models.build_transfer_model(f"kerashub:{preset}", 2)
    tm.head.layers[-1].kernel.assign(np.random.default_rng(0).normal(size=tm.head.layers[-1].kernel.shape))
    x, _ = _data(8, seed=2)
    expected = tm.model.predict(x, verbose=0)
    tm.model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "m.keras").predict(x, verbose=0), expected,
                               atol=1e-6)
    # ... also in a fresh process that only imports Keras (+ keras_hub: its classes are in the file)
    np.save(tmp_path / "x.npy", x)
    code = textwrap.dedent(f"""
        import keras, keras_hub, numpy as np
        m = keras.models.load_model({str(tmp_path / 'm.keras')!r})
        np.save({str(tmp_path / 'p.npy')!r}, m.predict(np.load({str(tmp_path / 'x.npy')!r}), verbose=0))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), expected, atol=1e-6)

    classifier = keras_hub.models.ImageClassifier.from_preset(str(preset), num_classes=3)
    logits = classifier.predict(x, verbose=0)
    classifier.save_to_preset(str(tmp_path / "saved_preset"))
    again = keras_hub.models.ImageClassifier.from_preset(str(tmp_path / "saved_preset"))
    np.testing.assert_allclose(again.predict(x, verbose=0), logits, atol=1e-6)
    assert kerashub.find_local(str(tmp_path / "saved_preset")) == tmp_path / "saved_preset"


def test_the_logits_trap(preset):
    """KerasHub's ImageClassifier outputs logits; a loss that assumes probabilities computes something else."""
    classifier = keras_hub.models.ImageClassifier.from_preset(str(preset), num_classes=2)
    dense = classifier.output_dense
    dense.kernel.assign(np.zeros(dense.kernel.shape))
    dense.bias.assign([2.0, -1.0])  # logits (2, -1) for every image: a confident class-0 model
    x, y = _data(16, seed=3)
    logits = classifier.predict(x, verbose=0)
    assert (logits < 0).any() or (logits > 1).any() or not np.allclose(logits.sum(1), 1)  # not probabilities
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    true_loss = float(-log_p[np.arange(len(y)), y].mean())  # cross-entropy by hand
    wrong = float(keras.losses.SparseCategoricalCrossentropy()(y, logits))  # what the keras.io guide compiles
    right = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits))
    assert right == pytest.approx(true_loss, rel=1e-4)
    assert true_loss == pytest.approx((np.log1p(np.exp(-3.0)) + np.log1p(np.exp(3.0))) / 2, rel=1e-4)
    assert abs(wrong - true_loss) > true_loss, (wrong, true_loss)  # clipped 'probabilities': 8 instead of 1.5
    # The course's wrapper ends in a softmax: its outputs are probabilities and the default loss is right.
    tm = models.from_kerashub_classifier(classifier)
    probs = tm.model.predict(x, verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert float(keras.losses.SparseCategoricalCrossentropy()(y, probs)) == pytest.approx(true_loss, rel=1e-3)


def test_backbone_trainable_true_leaves_kerashub_batchnorm_training_and_unfreeze_does_not(preset):
    x, y = _data(16, seed=4)
    naive = keras_hub.models.ImageClassifier.from_preset(str(preset), num_classes=2)
    naive.backbone.trainable = True  # what tutorials write
    before = _bn_state(naive.backbone)
    naive.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    naive.fit(x, y, epochs=1, batch_size=8, verbose=0)
    moved = sum(not np.array_equal(a, b) for a, b in zip(before, _bn_state(naive.backbone), strict=True))
    assert moved > 0  # the trap: ImageNet statistics overwritten by this batch's
    course = keras_hub.models.ImageClassifier.from_preset(str(preset), num_classes=2)
    models.unfreeze(course.backbone, 0)  # every layer trains, BatchNorm stays frozen
    before = _bn_state(course.backbone)
    course.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    course.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, _bn_state(course.backbone), strict=True))


def test_a_token_backbone_without_a_converter_gets_pooled_tokens_and_a_notice(tmp_path, monkeypatch, capsys):
    """DINOv2-style presets are backbones only, output tokens (3-D) and may carry no image converter."""
    monkeypatch.setenv("TLH_SMOKE", "1")
    backbone = keras_hub.models.DINOV2Backbone(patch_size=14, num_layers=1, hidden_dim=16, num_heads=2,
                                               intermediate_dim=32, image_shape=(28, 28, 3),
                                               position_embedding_shape=(28, 28, 3))
    assert len(backbone.output.shape) == 3  # tokens, not a feature map
    backbone.save_to_preset(str(tmp_path / "dino"))
    with pytest.warns(UserWarning, match="has no image converter"):
        tm = models.build_transfer_model(f"kerashub:{tmp_path / 'dino'}", 2, image_size=28)
    assert tm.features.output.shape[-1] == 16
    x = np.random.default_rng(0).uniform(0, 255, (4, 28, 28, 3)).astype("float32")
    tokens = backbone.predict({"images": x}, verbose=0)
    np.testing.assert_allclose(tm.features.predict(x, verbose=0), tokens.mean(axis=1), atol=1e-4)


def test_where_presets_are_found(preset, tmp_path, monkeypatch):
    monkeypatch.setenv("TLH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub"))
    monkeypatch.delenv("TLH_SMOKE", raising=False)
    monkeypatch.delenv("TLH_REHEARSE", raising=False)
    monkeypatch.setenv("TLH_OFFLINE", "1")
    monkeypatch.setenv("TLH_ASSETS_DIR", str(tmp_path / "no_assets"))
    assert kerashub.preset_name("kerashub:resnet_50_imagenet") == "resnet_50_imagenet"
    assert kerashub.preset_name("kerashub:kaggle://keras/resnetv1/keras/resnet_50_imagenet/3") == "resnet_50_imagenet"
    with pytest.raises(FileNotFoundError, match="tlh prefetch"):  # full mode, offline, nothing local
        kerashub.resolve("kerashub:resnet_18_imagenet")
    with pytest.raises(FileNotFoundError, match="not a KerasHub preset folder"):
        kerashub.resolve(f"kerashub:{tmp_path}")
    # a download kagglehub made earlier: models/<owner>/<model>/keras/<preset>/<version>
    import shutil

    for version in ("2", "3"):
        shutil.copytree(preset, tmp_path / "kagglehub" / "models" / "keras" / "resnetv1" / "keras" /
                        "resnet_18_imagenet" / version)
    found = kerashub.resolve("kerashub:resnet_18_imagenet")
    assert found.endswith("resnet_18_imagenet/3")
    asset = next(a for a in prefetch.manifest(["7"]) if a.kind == "kerashub")
    assert asset.key == "kerashub:resnet_50_imagenet" and "kaggle://keras/resnetv1" in asset.source
    assert prefetch.is_cached(asset) is None
    shutil.copytree(preset, tmp_path / "cache" / "kerashub" / "resnet_50_imagenet")  # a local preset folder
    assert prefetch.is_cached(asset) == tmp_path / "cache" / "kerashub" / "resnet_50_imagenet"
    lines = "\n".join(kerashub.describe_cache())
    assert "resnet_50_imagenet" in lines and "resnet_18_imagenet" in lines and "KAGGLEHUB_CACHE" in lines
    # what `tlh prefetch` downloaded (it points KAGGLEHUB_CACHE at <cache>/kagglehub) is found by a later
    # process whose KAGGLEHUB_CACHE is the default
    shutil.copytree(preset, tmp_path / "cache" / "kagglehub" / "models" / "keras" / "resnetv1" / "keras" /
                    "resnet_101_imagenet" / "1")
    assert kerashub.find_local("resnet_101_imagenet") is not None
    assert "resnet_101_imagenet" in "\n".join(kerashub.describe_cache())


def test_smoke_mode_stands_in_a_generated_preset_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TLH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub"))
    monkeypatch.setenv("TLH_ASSETS_DIR", str(tmp_path / "no_assets"))
    monkeypatch.setenv("TLH_SMOKE", "1")
    where = kerashub.resolve("kerashub:resnet_50_imagenet")
    assert "kerashub-standins/tiny/resnet_50_imagenet" in where
    assert "KerasHub preset resnet_50_imagenet (stand-in, random weights)" in capsys.readouterr().out
    assert keras_hub.models.Backbone.from_preset(where).count_params() < 1_000_000


def test_the_rehearsal_stand_in_has_the_real_architecture(tmp_path, monkeypatch):
    monkeypatch.setenv("TLH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub"))
    monkeypatch.setenv("TLH_REHEARSE", "1gpu")
    assert config.rehearsal() == "1gpu"
    backbone = kerashub.load_backbone("kerashub:resnet_18_imagenet")
    assert backbone.count_params() == kerashub.KNOWN["resnet_18_imagenet"].params  # KerasHub's own metadata


def test_compare_and_tlh_train_take_a_preset(preset, tmp_path, monkeypatch):
    from tlhelpers import cli

    monkeypatch.setenv("TLH_SMOKE", "1")
    x, y = _data()
    df = compare.compare([f"kerashub:{preset}"], _ds(x, y), _ds(x, y), num_classes=2, image_size=SIZE, epochs=1,
                         fine_tune_epochs=1, out_dir=tmp_path / "cmp")
    assert list(df["status"]) == ["ok"], df.loc[0, "error"]
    assert df.loc[0, "kind"] == "kerashub" and df.loc[0, "params_total"] > df.loc[0, "params_trainable"] > 0
    folder = standins.make_synthetic_folder(tmp_path / "photos", per_class=12, size=48)
    out = tmp_path / "model.keras"
    code = cli.main(["train", str(folder), "--backbone", f"kerashub:{preset}", "--image-size", str(SIZE),
                     "--epochs", "1", "--fine-tune-epochs", "1", "--batch-size", "8", "--unfreeze-from", "0.5",
                     "--out", str(out)])
    assert code == 0 and out.is_file()
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["settings"]["backbone"] == f"kerashub:{preset}"
    assert cli.main(["train", str(folder), "--backbone", "kerashub:/no/such/preset", "--out",
                     str(tmp_path / "x.keras")]) != 0


def test_a_mixed_precision_kerashub_model_exports_to_litert(preset, tmp_path):
    """The GPU runtimes train in mixed_float16; the export's float32 twin must rebuild a KerasHub backbone too."""
    from tlhelpers import export

    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        tm = models.build_transfer_model(f"kerashub:{preset}", 2)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert tm.base.dtype_policy.compute_dtype == "float16"
    twin = export.float32_twin(tm.model)
    assert {layer.dtype_policy.compute_dtype for layer in twin._flatten_layers(recursive=True)} == {"float32"}
    for a, b in zip(twin.weights, tm.model.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    x, _ = _data(12, seed=5)
    report = export.export_model(tm.model, tmp_path / "kh.tflite", format="litert", images=x)
    assert report.top1_agreement >= 11 / 12 and report.max_abs_diff < 1e-2, report.summary()


GPU_SHAPED = textwrap.dedent("""
    import os, sys
    os.environ["TLH_SMOKE"] = "1"
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from tlhelpers import models, training
    keras.mixed_precision.set_global_policy("mixed_float16")  # what every GPU runtime of the course trains in
    strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    rng = np.random.default_rng(0)
    y = np.arange(32) % 2
    x = rng.uniform(0, 90, (32, 32, 32, 3)).astype("float32")
    x[y == 1, ..., 0] += 150
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    with strategy.scope():
        tm = models.build_transfer_model("kerashub:" + sys.argv[1], 2)
    result = training.fit_two_phase(tm, ds, ds, head_epochs=1, fine_tune_epochs=1, unfreeze_from=0.5, verbose=0)
    # XLA, which Keras turns on for a single GPU (jit_compile="auto"): every layer must compile. One device:
    # XLA cannot place variables mirrored over several devices (TensorFlow's known issue).
    single = models.build_transfer_model("kerashub:" + sys.argv[1], 2)
    models.unfreeze(single.base, 0.5)
    single.model.compile("adam", "sparse_categorical_crossentropy", jit_compile=True)
    single.model.fit(ds, epochs=1, verbose=0)
    print("replicas", strategy.num_replicas_in_sync, "dtype", tm.base.dtype_policy.name,
          "epochs", sum(result.epochs_run.values()))
""")


def test_a_preset_trains_under_mirrored_strategy_mixed_precision_and_xla(preset):
    proc = subprocess.run([sys.executable, "-c", GPU_SHAPED, str(preset)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "replicas 2 dtype mixed_float16 epochs 2" in proc.stdout, proc.stdout[-2000:]


def test_a_wrong_unfreeze_point_fails_before_any_training(preset, monkeypatch):
    """The tiny preset has 24 layers; tlh train's default --unfreeze-from 100 must fail at once, not after phase 1."""
    monkeypatch.setenv("TLH_SMOKE", "1")
    tm = models.build_transfer_model(f"kerashub:{preset}", 2)
    kernel = tm.head.layers[-1].kernel.numpy().copy()
    x, y = _data(8)
    with pytest.raises(ValueError, match="has 24 layers; from_layer must be in 0..23, got 100"):
        training.fit_two_phase(tm, _ds(x, y), _ds(x, y), head_epochs=1, fine_tune_epochs=1, unfreeze_from=100,
                               verbose=0)
    np.testing.assert_array_equal(tm.head.layers[-1].kernel.numpy(), kernel)  # nothing trained
    assert models.unfreeze_start(tm.base, 0.5) == 12 and not tm.base.trainable  # the check changes nothing
