"""Every file the course downloads, listed once: address(es), digest, size, and the lessons that read it.

What belongs here: the registry and nothing else. :mod:`tlhelpers.course.realfiles`
(the laptop tier's small real files), :mod:`tlhelpers.datasets` (full mode's
datasets), :mod:`tlhelpers.backbones` and :mod:`tlhelpers.squeezenet` (weights),
:mod:`tlhelpers.tfhub` (the module the offline assets hold) and ``tlh prefetch``
/ ``tlh doctor`` read their addresses and checks from :data:`FILES`, so an
address or a digest is written in one place. ImageNet weights that
``keras.applications`` downloads itself are not listed (Keras holds their
addresses and hashes); the MobileNetV2-0.35 file is, because the laptop tier
fetches it without Keras.
"""

from __future__ import annotations

import dataclasses

__all__ = ["Download", "FILES", "TFHUB_MOBILENET_V2_035", "SQUEEZENET_RELEASE", "smoke_files"]

#: The TF-Hub handle of MobileNetV2-0.35's feature vector (tfhub.dev now redirects to Kaggle Models).
TFHUB_MOBILENET_V2_035 = "https://tfhub.dev/google/imagenet/mobilenet_v2_035_224/feature_vector/5"
#: The keras-squeezenet release holding SqueezeNet v1.1's weights, with and without the classifier (MIT licence).
SQUEEZENET_RELEASE = "https://github.com/rcmalli/keras-squeezenet/releases/download/v1.0/"


@dataclasses.dataclass(frozen=True)
class Download:
    """One file (or archive) the course downloads.

    Attributes:
        key: Short name, e.g. ``"cats_and_dogs_filtered"``.
        what: What it is, for people.
        relative: Where it sits inside a cache or the offline assets folder (same layout).
        url: The current official address (tried first).
        filename: The downloaded file's name (a mirror serves it under this name).
        size: Download size in bytes, as published (or as the source's own download prints it).
        sha256: SHA-256 of the downloaded file, or None when the file is checked
            by its content after unpacking instead (or not pinned: see ``what``).
        unpack: ``"zip"``, ``"tar.gz"`` or None (a single file).
        content: ``(count, digest)`` of the unpacked photos
            (:func:`tlhelpers.course.realfiles.content_digest`), or None.
        marker: A file that must exist inside an unpacked folder.
        also: Older addresses of the same file, tried in order when an earlier
            one fails; every address is held to the same checks.
        smoke_lessons: The lessons whose smoke mode (the laptop tier) reads it.
    """

    key: str
    what: str
    relative: str
    url: str
    filename: str
    size: int
    sha256: str | None = None
    unpack: str | None = None
    content: tuple[int, str] | None = None
    marker: str = ""
    also: tuple[str, ...] = ()
    smoke_lessons: tuple[str, ...] = ()


FILES: dict[str, Download] = {f.key: f for f in [
    Download(
        "cats_and_dogs_filtered", "cats_and_dogs_filtered photos (2,000 train / 1,000 validation, cats and dogs)",
        # The TF tutorial's address since tensorflow/docs 0e030eb (2025-11), then the one it used before.
        "cats_and_dogs_filtered", "https://download.mlcc.google.com/mledu-datasets/cats_and_dogs_filtered.zip",
        "cats_and_dogs_filtered.zip", 68_606_236, unpack="zip",
        # The 2,999 photos' own checksums (../shared/assets/cats_and_dogs_filtered.sha256), folded into one digest.
        content=(2999, "ed5616fbeac1c1efa6b8d067a12e1bfa59c1a232903576e3f2db3eb3562a32f6"), marker="train",
        also=("https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip",),
        smoke_lessons=("02", "03", "04", "05", "06", "07")),
    Download(
        "mobilenet_v2_0.35", "MobileNetV2 (alpha 0.35) ImageNet weights, no top",
        "keras/models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5",
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5", 2_019_496,
        sha256="67ded21fbf5fc8c95bc7854a75c0448d8c1b94a760e88d2b2d3b378f7f65d23a",
        smoke_lessons=("03", "04", "05", "06")),
    Download(
        "squeezenet", "SqueezeNet v1.1 ImageNet weights, no top",
        "squeezenet/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5",
        SQUEEZENET_RELEASE + "squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5", 3_002_560,
        sha256="17154246284f555591549ac2c83e127abfbf4307dc4b0060fdaa2931d0fa38da", smoke_lessons=("04",)),
    Download(
        # tfhub.dev now redirects to Kaggle Models; the archive's checksum is not pinned (it is not published),
        # so the unpacked module is checked for a SavedModel instead.
        "mobilenet_v2_035_224_feature_vector", "MobileNetV2-0.35 TF-Hub feature vector (224 px in, 1280 out)",
        "tfhub/mobilenet_v2_035_224_feature_vector", TFHUB_MOBILENET_V2_035 + "?tf-hub-format=compressed",
        "mobilenet_v2_035_224_feature_vector.tar.gz", 5_000_000, unpack="tar.gz", marker="saved_model.pb",
        smoke_lessons=("02", "07")),
    Download(
        "cifar10", "CIFAR-10 through TensorFlow Datasets (the lessons take small slices)",
        "tensorflow_datasets/cifar10", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
        # 170,052,171 bytes: the binary archive TFDS downloads (its catalog: "Download size: 162.17 MiB").
        "tfds:cifar10", 170_052_171, smoke_lessons=("01", "02", "03")),
    Download(
        # Full mode's own-folder dataset (lessons 05 and 06); not among the offline assets, digest not pinned here
        # (the file was never downloaded on CI's machines, which have no internet).
        "flower_photos", "flower_photos (3,670 photos of 5 flower kinds, the TF image-classification tutorial's)",
        "flower_photos", "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz",
        "flower_photos.tgz", 228_813_984, unpack="tar.gz"),
]}


def smoke_files() -> dict[str, Download]:
    """Return the files some lesson's smoke mode reads (the laptop tier's real files), by key."""
    return {key: spec for key, spec in FILES.items() if spec.smoke_lessons}
