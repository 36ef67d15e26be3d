"""Grad-CAM: it points at the region that decides, finds the course models' feature map, and says when it can't."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tlhelpers import explain, models

SIZE = 48


def _left_half_task(n: int, seed: int):
    """Label 1 = a bright square somewhere in the LEFT half. The right half always holds distractors (dark blobs,
    speckle) drawn the same way for both classes, so only the left half carries the label."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(60, 120, size=(n, SIZE, SIZE, 3)).astype("float32")
    y = rng.integers(0, 2, n)
    for i in range(n):
        for _ in range(2):  # distractors in the right half
            r, c = rng.integers(0, SIZE - 10), rng.integers(SIZE // 2, SIZE - 10)
            x[i, r:r + 10, c:c + 10] = rng.uniform(0, 30)
        x[i, :, SIZE // 2:] += rng.normal(0, 25, size=(SIZE, SIZE // 2, 3))
        if y[i] == 1:
            r, c = rng.integers(0, SIZE - 10), rng.integers(0, SIZE // 2 - 10)
            x[i, r:r + 10, c:c + 10] = 250
    return np.clip(x, 0, 255), y


def _small_cnn() -> keras.Model:
    keras.utils.set_random_seed(0)
    base = keras.Sequential([keras.Input((SIZE, SIZE, 3)),
                             keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
                             keras.layers.MaxPooling2D(),
                             keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
                             keras.layers.MaxPooling2D(),
                             keras.layers.Conv2D(32, 3, padding="same", activation="relu")], name="base")
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = base(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))


def test_heat_map_mass_falls_in_the_region_that_decides():
    x, y = _left_half_task(600, seed=0)
    model = _small_cnn()
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    xt, yt = _left_half_task(200, seed=1)
    assert model.evaluate(xt, yt, verbose=0)[1] > 0.9  # it learned the task, so its decision uses the left half
    pos = xt[yt == 1][:40]
    cam = explain.grad_cam(model, pos, class_index=1)
    assert cam.layer == "base" and cam.heatmaps.shape == (len(pos), 12, 12)
    share = explain.mass_in(explain.upsample(cam.heatmaps, (SIZE, SIZE)), (slice(None), slice(0, SIZE // 2)))
    assert np.nanmean(share) > 0.75, share  # a uniform map gives 0.5, a map of the distractors less
    assert np.mean(share > 0.5) > 0.9


def test_course_transfer_model_backbone_is_the_feature_map():
    tm = models.build_transfer_model("MobileNetV2", 3, image_size=64, weights=None, alpha=0.35)
    images = np.random.default_rng(0).uniform(0, 255, (4, 64, 64, 3)).astype("float32")
    assert explain.feature_map_layer(tm.model) == tm.base.name
    cam = explain.grad_cam(tm.model, images)
    assert cam.heatmaps.shape == (4, 2, 2)
    assert np.all((cam.heatmaps >= 0) & (cam.heatmaps <= 1))
    np.testing.assert_allclose(cam.probs, tm.model.predict(images, verbose=0), atol=1e-5)
    np.testing.assert_array_equal(cam.class_index, cam.probs.argmax(axis=1))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["VGG16", "ResNet50", "InceptionV3", "EfficientNetV2B0", "ConvNeXtTiny",
                                  "MobileNetV3Small", "DenseNet121", "Xception", "SqueezeNet"])
def test_every_registry_backbone_with_a_feature_map_is_explained(name):
    from tlhelpers import backbones

    keras.utils.set_random_seed(0)
    size = max(96, backbones.get(name).min_size)
    tm = models.build_transfer_model(name, 2, image_size=size, weights=None)
    images = np.random.default_rng(1).uniform(0, 255, (2, size, size, 3)).astype("float32")
    cam = explain.grad_cam(tm.model, images)
    assert cam.layer == tm.base.name
    assert cam.heatmaps.ndim == 3 and cam.heatmaps.shape[0] == 2 and min(cam.heatmaps.shape[1:]) >= 1
    assert np.all(np.isfinite(cam.heatmaps)) and np.all((cam.heatmaps >= 0) & (cam.heatmaps <= 1))
    keras.backend.clear_session()


def test_one_logit_model_explains_the_sign_of_its_logit():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    images = np.random.default_rng(1).uniform(0, 255, (6, 32, 32, 3)).astype("float32")
    cam = explain.grad_cam(model, images)
    logits = model.predict(images, verbose=0)[:, 0]
    np.testing.assert_array_equal(cam.class_index, (logits > 0).astype(int))


def test_a_model_without_feature_map_gets_a_clear_error():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Flatten()(inputs)  # like a TF-Hub feature-vector module: no spatial map after the input
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    with pytest.raises(ValueError, match="no convolutional feature map"):
        explain.grad_cam(model, np.zeros((1, 32, 32, 3), "float32"))


def test_a_branching_model_is_refused_not_misread():
    inputs = keras.Input((32, 32, 3))
    a = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
    b = keras.layers.Conv2D(4, 1, strides=2, padding="same")(inputs)
    x = keras.layers.Concatenate()([a, b])
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    with pytest.raises(ValueError, match="simple chain"):
        explain.grad_cam(model, np.zeros((1, 32, 32, 3), "float32"))


def test_overlay_plot_returns_its_figure_and_refuses_mismatched_maps():
    import matplotlib

    matplotlib.use("Agg")
    from tlhelpers import plots

    images = np.random.default_rng(0).uniform(0, 255, (3, 40, 40, 3))
    maps = np.random.default_rng(1).uniform(0, 1, (3, 5, 5)).astype("float32")
    fig = plots.plot_gradcam(images, maps, titles=["cat 97 %", "dog 60 %", "cat 51 %"],
                             title_colors=["green", "red", "green"], ncols=2)
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled] == ["cat 97 %", "dog 60 %", "cat 51 %"]
    assert any("evidence" in ax.get_ylabel() for ax in fig.axes)  # the colour bar says what the colours mean
    with pytest.raises(ValueError, match="as many heat maps"):
        plots.plot_gradcam(images, maps[:2])
