import numpy as np
import pytest

from tlhelpers import data, datasets
from tlhelpers.course import standins


def test_make_synthetic_folder_and_image_folder_roundtrip(tmp_path):
    root = standins.make_synthetic_folder(tmp_path / "cd", per_class=5, size=20)
    assert sorted(p.name for p in (root / "train").iterdir()) == ["cats", "dogs"]
    ds, names = data.image_folder(root / "train", image_size=16, batch_size=4)
    assert names == ["cats", "dogs"]
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    x, y = np.concatenate(xs), np.concatenate(ys)
    assert x.shape == (10, 16, 16, 3) and x.dtype == np.float32 and x.min() >= 0 and x.max() <= 255
    assert y.tolist() == [0] * 5 + [1] * 5
    # cats are red-dominant, dogs green-dominant in the generated data: labels stay with their images
    cats, dogs = x[y == 0], x[y == 1]
    assert cats[..., 0].mean() > cats[..., 1].mean() and dogs[..., 1].mean() > dogs[..., 0].mean()
    limited, _ = data.image_folder(root / "train", image_size=16, batch_size=4, limit_per_class=2)
    assert sum(int(b.shape[0]) for b, _ in limited) == 4


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.image_folder(tmp_path / "nope", image_size=8, batch_size=2)
    (tmp_path / "flat").mkdir()
    with pytest.raises(FileNotFoundError, match="no class subfolders"):
        data.image_folder(tmp_path / "flat", image_size=8, batch_size=2)


def test_get_cats_and_dogs_in_smoke_mode_without_assets_generates_data(monkeypatch, tmp_path):
    monkeypatch.setenv("TLH_SMOKE", "1")
    monkeypatch.setenv("TLH_ASSETS_DIR", str(tmp_path / "absent"))
    monkeypatch.setenv("TLH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TLH_OFFLINE", "1")
    root = datasets.get_cats_and_dogs()
    assert root.is_relative_to(tmp_path / "cache")
    # As many per class as any lesson's smoke settings take (lesson 04: 50 validation + 50 test from validation/).
    assert len(list((root / "validation" / "dogs").glob("*.jpg"))) == 100
    from tlhelpers.course import report

    assert report.generated() and report.meaningless_now()


def test_get_cats_and_dogs_in_smoke_mode_prefers_real_assets(monkeypatch, tmp_path):
    (tmp_path / "cats_and_dogs_filtered" / "train").mkdir(parents=True)
    monkeypatch.setenv("TLH_SMOKE", "1")
    monkeypatch.setenv("TLH_ASSETS_DIR", str(tmp_path))
    assert datasets.get_cats_and_dogs() == tmp_path / "cats_and_dogs_filtered"


def test_a_protobuf_older_than_tensorflow_metadata_gets_a_sentence_with_the_fix(tmp_path, monkeypatch):
    """Colab 2026: tensorflow-metadata 1.21 (generated for protobuf 6.31.1) beside protobuf 5.29.6."""
    from tlhelpers import datasets

    (tmp_path / "planted_metadata_pb2.py").write_text(
        "class VersionError(Exception):\n    pass\n"
        "raise VersionError('Detected incompatible Protobuf Gencode/Runtime versions when loading "
        "tensorflow_metadata/proto/v0/schema.proto: gencode 6.31.1 runtime 5.29.6. Runtime version cannot be older "
        "than the linked gencode version.')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(datasets, "_METADATA_MODULE", "planted_metadata_pb2")
    with pytest.raises(RuntimeError) as info:
        datasets.import_tfds()
    message = str(info.value)
    assert "protobuf >= 6.31.1" in message and "has 5.29.6" in message, message
    assert 'pip install "protobuf>=6.31.1,<7"' in message and "setup cell" in message


def test_any_other_error_loading_tensorflow_metadata_is_not_dressed_up(tmp_path, monkeypatch):
    from tlhelpers import datasets

    (tmp_path / "planted_bug_pb2.py").write_text("raise KeyError('a real bug')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(datasets, "_METADATA_MODULE", "planted_bug_pb2")
    with pytest.raises(KeyError, match="a real bug"):
        datasets.import_tfds()
    monkeypatch.setattr(datasets, "_METADATA_MODULE", "tensorflow_metadata.proto.v0.schema_pb2")
    assert datasets.import_tfds().load  # this environment's real pair loads
