import numpy as np
import psutil
import pytest
import tensorflow as tf

from tlhelpers import data, datasets
from tlhelpers.course import config


def _uint8_dataset(n=70, size=32, classes=10, channels=3):
    rng = np.random.default_rng(0)
    labels = np.arange(n) % classes
    # Each image encodes its label in its brightness so alignment can be checked after resizing.
    images = np.stack([np.full((size, size, channels), 20 * lab, np.uint8) for lab in labels])
    images[:, 0, 0, 0] = rng.integers(0, 255, n)
    return tf.data.Dataset.from_tensor_slices((images, labels)), labels


def test_pipeline_batches_resizes_and_keeps_labels_aligned():
    ds, labels = _uint8_dataset()
    out = data.make_pipeline(ds, image_size=48, batch_size=16, training=True)
    seen = []
    for x, y in out:
        assert x.dtype == tf.float32 and x.shape[1:] == (48, 48, 3)
        assert x.shape[0] <= 16
        assert float(tf.reduce_min(x)) >= 0.0 and float(tf.reduce_max(x)) <= 255.0
        centre = x[:, 24, 24, 1].numpy()  # the label-encoding brightness, away from the noisy corner
        np.testing.assert_allclose(centre, 20 * y.numpy(), atol=0.5)
        seen.extend(y.numpy().tolist())
    assert sorted(seen) == sorted(labels.tolist())  # nothing dropped or duplicated


def test_pipeline_is_deterministic_without_training_and_shuffles_with_it():
    ds, labels = _uint8_dataset()
    plain = np.concatenate([y.numpy() for _, y in data.make_pipeline(ds, image_size=32, batch_size=8)])
    assert plain.tolist() == labels.tolist()
    shuffled = np.concatenate([y.numpy() for _, y in data.make_pipeline(ds, image_size=32, batch_size=8,
                                                                         training=True)])
    assert shuffled.tolist() != labels.tolist()


@pytest.mark.parametrize("channels", [1, 4])
def test_pipeline_makes_grayscale_and_rgba_rgb(channels):
    ds, _ = _uint8_dataset(n=4, channels=channels)
    x, _ = next(iter(data.make_pipeline(ds, image_size=16, batch_size=4)))
    assert x.shape == (4, 16, 16, 3)


def test_pipeline_handles_images_of_varying_size():
    images = [np.zeros((h, 20, 3), np.uint8) + h for h in (10, 30, 50)]
    ds = tf.data.Dataset.from_generator(lambda: ((im, 0) for im in images),
                                        output_signature=(tf.TensorSpec((None, None, 3), tf.uint8),
                                                          tf.TensorSpec((), tf.int32)))
    x, _ = next(iter(data.make_pipeline(ds, image_size=24, batch_size=3)))
    assert x.shape == (3, 24, 24, 3)
    np.testing.assert_allclose(x[:, 12, 12, 0].numpy(), [10, 30, 50], atol=0.5)


def test_pipeline_never_resizes_the_whole_dataset():
    # A million 32x32 images resized to 224 px would be 600 GB: the first batch must come at once.
    huge = tf.data.Dataset.range(1_000_000).map(lambda i: (tf.zeros((32, 32, 3), tf.uint8), i))
    before = psutil.Process().memory_info().rss
    x, _ = next(iter(data.make_pipeline(huge, image_size=224, batch_size=8)))
    assert x.shape == (8, 224, 224, 3)
    assert psutil.Process().memory_info().rss - before < 1.5 * 2**30


def test_the_cache_holds_the_small_originals_not_resized_images():
    """One epoch fills the cache: 2,000 originals of 32x32 are 6 MB; resized to 224 px in float32 they would be
    1.2 GB (the regression: resizing before caching)."""
    n = 2000
    src = tf.data.Dataset.range(n).map(lambda i: (tf.fill((32, 32, 3), tf.cast(i % 255, tf.uint8)), i))
    ds = data.make_pipeline(src, image_size=224, batch_size=100)
    before = psutil.Process().memory_info().rss
    seen = sum(int(x.shape[0]) for x, _ in ds)
    assert seen == n
    assert psutil.Process().memory_info().rss - before < 500 * 2**20


def test_pipeline_rejects_bad_sizes():
    ds, _ = _uint8_dataset(n=2)
    with pytest.raises(ValueError, match="positive"):
        data.make_pipeline(ds, image_size=0, batch_size=2)


def test_dataset_bytes_matches_the_numbers_in_the_lessons():
    assert data.dataset_bytes(50_000, 224) / 2**30 == pytest.approx(28.0, abs=0.05)
    assert data.dataset_bytes(60_000, 224) / 2**30 == pytest.approx(33.6, abs=0.05)
    assert data.dataset_bytes(60_000, 96) / 2**30 == pytest.approx(6.2, abs=0.05)
    assert data.dataset_bytes(10, 32, dtype_bytes=1) == 10 * 32 * 32 * 3


def test_take_examples():
    ds = tf.data.Dataset.range(10)
    assert len(list(data.take_examples(ds, 3))) == 3
    assert len(list(data.take_examples(ds, None))) == 10


def test_load_tfds_in_smoke_mode_is_offline_and_sized(monkeypatch, tmp_path):
    monkeypatch.setenv("TLH_SMOKE", "1")
    monkeypatch.setenv("TLH_CACHE_DIR", str(tmp_path))
    s = config.LessonSettings(mode="smoke", image_size=32, batch_size=8, epochs=1,
                              train_examples=40, val_examples=8, test_examples=16)
    train, val, test, names = datasets.load_tfds("cifar10", s)
    assert names[:3] == ["airplane", "automobile", "bird"] and len(names) == 10
    assert [sum(1 for _ in d) for d in (train, val, test)] == [40, 8, 16]
    image, label = next(iter(train))
    assert image.shape == (32, 32, 3) and image.dtype == tf.uint8
    with pytest.raises(ValueError, match="validation_fraction"):
        datasets.load_tfds("cifar10", s, validation_fraction=1.5)


def test_image_folder_cache_stays_in_memory_when_small_and_goes_to_disk_when_large(tmp_path, monkeypatch):
    from tlhelpers.course import standins

    root = standins.make_synthetic_folder(tmp_path / "f", per_class=6, size=32) / "train"
    assert data.cache_location("auto", 1000, 96) == ""  # 27 MiB: memory
    monkeypatch.setenv("TLH_RAM_CACHE_MB", "0.01")
    where = data.cache_location("auto", 1000, 96, key="x")
    assert where and "tlh_image_cache_" in where  # over the budget: a file on disk
    assert data.cache_location("auto", 1000, 96, key="y") != where  # never shared between datasets
    assert data.cache_location(None, 10, 8) is None
    batches = {}
    for cache in ("memory", tmp_path / "cachedir", None, "auto"):
        ds, names = data.image_folder(root, image_size=24, batch_size=4, cache=cache)
        next(iter(ds))  # a partial first pass must not spoil a disk cache
        epochs = [np.concatenate([x.numpy() for x, _ in ds]) for _ in range(2)]
        np.testing.assert_array_equal(epochs[0], epochs[1])
        batches[str(cache)] = epochs[0]
    assert list((tmp_path / "cachedir").iterdir())  # the disk cache was written there
    for got in batches.values():
        np.testing.assert_array_equal(got, batches["memory"])  # same pixels whatever the cache


def test_image_folder_with_nothing_left_says_so(tmp_path):
    # Found when lesson 04 took its test half of a generated folder that was too small: TensorFlow's
    # "Input 'filename' of 'ReadFile' Op has type float32" came out instead of a message.
    from tlhelpers.course import standins

    standins.make_synthetic_folder(tmp_path / "f", per_class=3, size=16)
    with pytest.raises(ValueError, match=r"No images left in .*after skipping the first 3 per class"):
        data.image_folder(tmp_path / "f" / "validation", image_size=16, batch_size=2, skip_per_class=3)
