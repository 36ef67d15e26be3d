"""TensorFlow Datasets works on this environment's protobuf: the pair the Colab runtime ships broken.

tensorflow-metadata 1.21 is generated for protobuf >= 6.31.1 but declares >= 4.25.2 (tensorflow/metadata#68); with
Colab's protobuf 5.29.6, ``import tensorflow_datasets`` half-fails (no ``tfds.testing``, no ``tfds.builder``). The
lessons' setup cell installs the protobuf the metadata files need. CI runs this file in every environment it
builds, the Colab and Kaggle replicas included, after that cell ran there.
"""

from __future__ import annotations

import pytest


def test_tensorflow_datasets_imports_whole():
    import tensorflow_datasets as tfds

    missing = [name for name in ("load", "builder", "testing", "core", "features") if not hasattr(tfds, name)]
    assert not missing, f"tensorflow_datasets imported without {missing}: a protobuf/tensorflow-metadata mismatch"


BUILDER = """
import numpy as np
import tensorflow_datasets as tfds


class TinyShapes(tfds.core.GeneratorBasedBuilder):
    \"\"\"Six 8x8 images in two classes, written by the test.\"\"\"

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(8, 8, 3)),
            "label": tfds.features.ClassLabel(names=["dark", "light"])}), supervised_keys=("image", "label"))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for i in range(6):
            yield i, {"image": np.full((8, 8, 3), 40 * i, np.uint8), "label": int(i >= 3)}
"""


def test_tfds_load_works_offline_on_a_prepared_dataset(tmp_path, monkeypatch):
    import importlib

    import tensorflow_datasets as tfds

    package = tmp_path / "code" / "tiny_shapes_pkg"  # TFDS reads a builder's checksums from its package
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(BUILDER, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "code"))
    builder = importlib.import_module("tiny_shapes_pkg").TinyShapes(data_dir=str(tmp_path / "data"))
    builder.download_and_prepare()
    # offline from here: any attempt to reach the network fails the test
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("tfds.load tried to reach the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    ds, info = tfds.load("tiny_shapes", split="train", data_dir=str(tmp_path / "data"), as_supervised=True,
                         with_info=True, download=False)
    labels = sorted(int(label) for _, label in ds)
    assert labels == [0, 0, 0, 1, 1, 1]
    assert info.features["label"].names == ["dark", "light"]
    assert info.splits["train"].num_examples == 6


@pytest.mark.parametrize("module", ["tensorflow_metadata.proto.v0.schema_pb2",
                                    "tensorflow_metadata.proto.v0.statistics_pb2"])
def test_tensorflow_metadata_protos_load(module):
    import importlib

    importlib.import_module(module)
