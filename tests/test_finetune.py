import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from tlhelpers import features, models, training


def _tm(**kw):
    keras.utils.set_random_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return models.build_transfer_model("MobileNetV2", 2, image_size=32, weights=None, alpha=0.35, **kw)


def _data(n=32, size=32):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    x = (np.where(y[:, None, None, None] == 1, 180.0, 60.0) + rng.normal(0, 30, (n, size, size, 3))).clip(0, 255)
    return x.astype("float32"), y


def _bn_layers(base):
    return [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]


def _snapshot(layers):
    return {layer.name: [w.numpy().copy() for w in layer.weights] for layer in layers}


def test_built_model_is_frozen_with_a_trainable_head():
    tm = _tm()
    assert not tm.base.trainable
    counts = models.trainable_summary(tm.model)
    assert counts["trainable"] == 1280 * 2 + 2  # only the head's dense layer
    assert tm.model.output_shape == (None, 2) and tm.features.output_shape == (None, 1280)


def test_unfreeze_keeps_batchnorm_statistics_and_frozen_layers_unchanged():
    tm = _tm()
    trained = models.unfreeze(tm.base, 100)
    assert trained > 0
    bns = _bn_layers(tm.base)
    frozen = [layer for layer in tm.base.layers[:100] if layer.weights and layer not in bns]
    unfrozen = [layer for layer in tm.base.layers[100:] if layer.trainable_weights]
    assert bns and frozen and unfrozen
    before_bn, before_frozen, before_unfrozen = _snapshot(bns), _snapshot(frozen), _snapshot(unfrozen)
    tm.model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")  # recompile after unfreeze
    x, y = _data()
    tm.model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    for layer in bns:  # moving mean/variance (and gamma/beta) untouched
        for a, b in zip(before_bn[layer.name], [w.numpy() for w in layer.weights], strict=True):
            np.testing.assert_array_equal(a, b, err_msg=layer.name)
    for layer in frozen:
        for a, b in zip(before_frozen[layer.name], [w.numpy() for w in layer.weights], strict=True):
            np.testing.assert_array_equal(a, b, err_msg=layer.name)
    changed = [not np.array_equal(before_unfrozen[layer.name][0], layer.weights[0].numpy()) for layer in unfrozen]
    assert all(changed), "every unfrozen non-BN layer should have learned"


def test_training_false_alone_does_not_protect_batchnorm():
    # The trap the lesson warns about: unfreeze naively and the ImageNet statistics drift.
    tm = _tm()
    tm.base.trainable = True
    bns = _bn_layers(tm.base)
    before = _snapshot(bns)
    tm.model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    x, y = _data()
    tm.model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    drifted = [n for n, ws in before.items()
               if not np.array_equal(ws[2], next(layer for layer in bns if layer.name == n).moving_mean.numpy())]
    assert drifted


def test_a_second_deeper_unfreeze_takes_effect():
    # Keras 3 leaves layers frozen one by one frozen when `base.trainable = True` is set on a base that is already
    # trainable; unfreeze must set every layer, or the deeper second call silently trains the old depth.
    tm = _tm()
    bns = _bn_layers(tm.base)
    shallow = models.unfreeze(tm.base, 100)
    deep = models.unfreeze(tm.base, 0)
    assert deep > shallow
    assert all(layer.trainable for layer in tm.base.layers if layer not in bns)
    assert not any(layer.trainable for layer in bns)
    assert models.unfreeze(tm.base, 100) == shallow  # and back up again
    assert not any(layer.trainable for layer in tm.base.layers[:100])


def test_plain_trainable_true_does_not_undo_per_layer_freezing():
    # The Keras behaviour the test above guards against (if Keras changes it, this test says so and the Note in
    # lesson 03 can go).
    tm = _tm()
    tm.base.trainable = True
    for layer in tm.base.layers[:100]:
        layer.trainable = False
    tm.base.trainable = True
    assert not any(layer.trainable for layer in tm.base.layers[:100])


def test_unfreeze_accepts_name_fraction_and_rejects_bad_values():
    tm = _tm()
    n = len(tm.base.layers)
    models.unfreeze(tm.base, 0.25)  # the top quarter: layers from round(n * 0.75) on, BatchNorm excepted
    start = round(n * 0.75)
    for i, layer in enumerate(tm.base.layers):
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        should_train = i >= start and not is_bn and bool(layer.weights)
        assert layer.trainable == should_train or not layer.weights, (i, layer.name, layer.trainable)
    models.unfreeze(tm.base, "block_16_expand")
    assert tm.base.get_layer("block_16_expand").trainable and not tm.base.get_layer("block_15_expand").trainable
    with pytest.raises(ValueError, match="Close names"):
        models.unfreeze(tm.base, "block_99")
    with pytest.raises(ValueError, match="must be in 0"):
        models.unfreeze(tm.base, 10_000)
    with pytest.raises(ValueError, match="between 0 and 1"):
        models.unfreeze(tm.base, 1.5)


def test_extract_features_keeps_order_and_matches_the_model():
    tm = _tm()
    x, y = _data(20)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(6)
    fs = features.extract_features(tm.features, ds, progress=False)
    assert fs.features.shape == (20, 1280) and fs.labels.tolist() == y.tolist()
    np.testing.assert_allclose(fs.features, tm.features.predict(x, verbose=0), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="empty"):
        features.extract_features(tm.features, ds.take(0), progress=False)


def test_extract_features_prints_clean_lines_when_stdout_is_not_a_terminal(capsys):
    tm = _tm()
    x, y = _data(30)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(3)
    features.extract_features(tm.features, ds, desc="train features")
    out = capsys.readouterr().out  # pytest's capture is not a TTY, like a CI log or `tlh train > log`
    assert "\r" not in out
    assert out.splitlines() == ["train features: 30 images -> (30, 1280) in " + out.split(" in ")[-1].strip()]


def test_fit_two_phase_joins_histories_and_saves_checkpoint(tmp_path):
    tm = _tm(augmentation=models.build_augmentation(seed=1))
    x, y = _data(48)
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    result = training.fit_two_phase(tm, train, train, head_epochs=3, fine_tune_epochs=2, unfreeze_from=100,
                                    head_lr=1e-2, checkpoint=str(tmp_path / "best.keras"), verbose=0)
    assert result.fine_tune_at == 3
    # 3 head epochs + 2 fine-tuning epochs (patience 3 cannot stop 2 epochs early); every metric aligned
    assert {k: len(v) for k, v in result.history.items()} == {k: 5 for k in result.history}
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(result.history)
    assert (tmp_path / "best.keras").is_file()
    reloaded = keras.models.load_model(tmp_path / "best.keras")
    assert reloaded.get_layer("preprocess").mode == "tf"
    assert set(result.seconds) == {"features", "head", "fine_tune"}


def test_setup_accelerator_on_cpu_uses_default_strategy():
    strategy = training.setup_accelerator(verbose=False)
    assert strategy.num_replicas_in_sync == 1
    assert keras.mixed_precision.global_policy().name == "float32"
