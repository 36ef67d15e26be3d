"""Genuine transfer learning on real photos with real ImageNet weights (offline assets).

Skipped, with the reason, only where ../shared/assets (or TLH_ASSETS_DIR) is absent.
"""

import time

import keras
import pytest

from conftest import real_asset
from tlhelpers import backbones, data, evaluate, features, models, tfhub, training

WEIGHTS = "keras/models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"


def _asset(rel):
    return real_asset(rel)


@pytest.fixture(scope="module")
def cats_dogs():
    root = _asset("cats_and_dogs_filtered")
    _asset(WEIGHTS)
    train, names = data.image_folder(root / "train", image_size=224, batch_size=32, shuffle=True, seed=1)
    val, val_names = data.image_folder(root / "validation", image_size=224, batch_size=64)
    assert names == val_names == ["cats", "dogs"]
    return train, val


@pytest.mark.assets
@pytest.mark.slow
def test_mobilenetv2_real_weights_frozen_then_fine_tuned(cats_dogs, monkeypatch):
    monkeypatch.setenv("TLH_SMOKE", "0")  # real weights must be found offline, not replaced by random ones
    train, val = cats_dogs
    path = backbones.resolve_weights("MobileNetV2", alpha=0.35, image_size=224)
    assert path.endswith("0.35_224_no_top.h5"), path
    keras.utils.set_random_seed(0)
    tm = models.build_transfer_model("MobileNetV2", 2, image_size=224, alpha=0.35,
                                     augmentation=models.build_augmentation(seed=0))
    start = time.perf_counter()
    result = training.fit_two_phase(tm, train, val, head_epochs=10, fine_tune_epochs=2, unfreeze_from=100,
                                    head_lr=1e-3, fine_tune_lr=1e-5, verbose=0)
    seconds = time.perf_counter() - start
    head_acc = result.history["val_accuracy"][result.fine_tune_at - 1]
    preds = evaluate.predict_dataset(tm.model, val, keep_images=0)
    print(f"\nfrozen-base val acc {head_acc:.4f}; after fine-tuning {preds.accuracy:.4f} on "
          f"{len(preds.labels)} images; {result.seconds} ({seconds:.0f}s)")
    assert len(preds.labels) == 1000
    assert head_acc >= 0.95
    assert preds.accuracy >= head_acc - 1e-6  # fine-tuning from layer 100 does not lower it
    assert preds.accuracy >= 0.96
    assert all(not layer.trainable for layer in tm.base.layers
               if isinstance(layer, keras.layers.BatchNormalization))


@pytest.mark.assets
@pytest.mark.slow
def test_real_hub_module_cached_features_reach_95_percent(cats_dogs, tmp_path):
    """Cached features of the real TF-Hub-style MobileNetV2-0.35 SavedModel, head trained on them."""
    train, val = cats_dogs
    path = str(_asset(tfhub.SMOKE_ASSET))
    keras.utils.set_random_seed(0)
    tm = models.build_hub_model(path, 2)
    train_f = features.extract_features(tm.features, train, progress=False, cache_file=tmp_path / "train.npz")
    val_f = features.extract_features(tm.features, val, progress=False)
    assert len(train_f.labels) == 1999 and len(val_f.labels) == 1000
    tm.head.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    tm.head.fit(train_f.features, train_f.labels, epochs=10, batch_size=32, verbose=0)
    _, acc = tm.head.evaluate(val_f.features, val_f.labels, verbose=0)
    # the head trained on cached features works unchanged on raw images inside the full model
    end_to_end = evaluate.predict_dataset(tm.model, val, keep_images=0)
    print(f"\nhub cached features: val acc {acc:.4f} (features {train_f.seconds + val_f.seconds:.0f}s); "
          f"end-to-end {end_to_end.accuracy:.4f}")
    assert acc >= 0.95
    assert abs(end_to_end.accuracy - acc) < 1e-3
