"""Where a file, weights or the hardware come from: the one place the learner helpers ask.

What belongs here: every decision that depends on how the course runs (full
mode, smoke mode, the GPU-shaped rehearsal, ``TLH_OFFLINE``), for the
learner helpers (``backbones``, ``tfhub``, ``kerashub``, ``datasets``,
``training``, ``plots``). They ask a question here and get a value: a file, a
stand-in, or "download it yourself" (None / ``"imagenet"``); they never read
the mode. Whatever is fabricated is marked here (:func:`report.note_generated`),
so the run summary says which numbers mean nothing.

In full mode every answer is "nothing to replace": the helper downloads what
it needs as a learner's own code would.
"""

from __future__ import annotations

import contextlib
import shutil
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tlhelpers.course import config, realfiles, report

__all__ = [
    "OFFLINE_ENV",
    "cache_root",
    "environment",
    "offline",
    "network_allowed",
    "asset_roots",
    "real_file",
    "backbone_weights",
    "classifier_weights",
    "hub_module_standin",
    "kerashub_standin",
    "tfds_source",
    "cats_and_dogs",
    "own_photos_standin",
    "rehearsed_strategy",
    "gpu_count",
    "rehearsal_banner",
    "generated_now",
]

#: The variable that forbids downloads in any mode (``TLH_OFFLINE=1``).
OFFLINE_ENV = realfiles.OFFLINE_ENV


def cache_root() -> Path:
    """Return the course's cache folder (``TLH_CACHE_DIR``, else ``data/cache`` of the repository)."""
    return config.cache_root()


def environment(changes: dict[str, str | None]) -> contextlib.AbstractContextManager[None]:
    """Set environment variables for a ``with`` block (None removes one), then put them back."""
    return config.environment(changes)


def offline() -> bool:
    """Tell whether the course replaces downloads by offline sources (smoke mode and the rehearsal)."""
    return config.offline_sources()


def network_allowed() -> bool:
    """Tell whether a download may be tried (``TLH_OFFLINE`` unset and no network failure seen yet)."""
    return realfiles.network_allowed()


def asset_roots() -> list[Path]:
    """Return the folders that hold the course's small real files (the cache's ``assets``, the offline assets)."""
    return realfiles.roots()


def real_file(filenames: Sequence[str]) -> Path | None:
    """Return one of the course's small real files whose name is among ``filenames`` (fetched once), else None."""
    for real in realfiles.FILES.values():
        if Path(real.relative).name in filenames and (found := realfiles.ensure(real.key)) is not None:
            return found
    return None


def backbone_weights(backbone: Any, *, alpha: float, image_size: int | None, found: Path | None,
                     searched: Sequence[Path] = ()) -> str | None:
    """Say which no-top ImageNet weights a backbone loads.

    Args:
        backbone: A :class:`tlhelpers.backbones.Backbone`.
        alpha: Width multiplier.
        image_size: Input size (None: the native one).
        found: The weights file the backbone's own search found, or None.
        searched: The folders searched (named in the warning when nothing was found).

    Returns:
        ``found``; in the rehearsal a stand-in file with random weights (Keras
        cannot download here); in smoke mode None (random weights, with a
        warning: the numbers mean nothing); in full mode ``"imagenet"`` (Keras
        downloads them).
    """
    if config.rehearsal() is not None:
        note = f"{backbone.name} ImageNet weights (rehearsal stand-in, random)"
        if found is not None and found.parent == config.cache_root() / "keras" / "models":
            report.note_generated(note, kind="weights")  # laid out by an earlier rehearsal run: still random
            return str(found)
        if found is None:
            from tlhelpers.course import standins

            report.note_generated(note, kind="weights")
            return str(standins.standin_weights_file(backbone, alpha=alpha,
                                                     image_size=image_size or backbone.input_size))
    if found is not None:
        return str(found)
    if config.smoke_mode():
        warnings.warn(f"Smoke mode: no offline ImageNet weights for {backbone.name} (alpha={alpha}) found in "
                      f"{', '.join(str(d) for d in searched)}; using RANDOM weights. Accuracy numbers of this run "
                      "mean nothing.", stacklevel=3)
        print(f"NOTICE: {backbone.name} uses RANDOM weights (smoke mode, no offline weight file).")
        report.note_generated(f"{backbone.name} ImageNet weights (random weights instead)", kind="weights")
        return None
    return "imagenet"


def classifier_weights(backbone: Any, *, alpha: float | None) -> str | None:
    """Say which weights an ImageNet classifier (with its top) loads when no top file is cached.

    Returns:
        ``"download"`` in full mode; in the rehearsal a stand-in file with
        random weights; in smoke mode None (the caller builds what it can
        offline and says its predictions mean nothing).
    """
    if config.rehearsal() is not None:
        from tlhelpers.course import standins

        report.note_generated(f"{backbone.name} ImageNet classifier (rehearsal stand-in, random)", kind="weights")
        return str(standins.standin_weights_file(backbone, alpha=alpha, image_size=backbone.input_size, top=True))
    return None if config.offline_sources() else "download"


def hub_module_standin(model: Any, real_key: str, *, verbose: bool = True) -> Path | None:
    """Return the offline stand-in for a TF-Hub registry model, or None in full mode (download it).

    Smoke mode: the real MobileNetV2-0.35 feature-vector SavedModel
    (``real_key`` of the course's real files) when present. The rehearsal keeps
    each handle's contract (input size, feature length), so it uses the real
    module only for the handle it is. Otherwise a tiny generated module with
    the handle's input size and feature length, created once in the cache and
    marked meaningless.

    Args:
        model: A :class:`tlhelpers.tfhub.HubModel`.
        real_key: The real files' key of the real SavedModel.
        verbose: Print what replaces the model. Defaults to True.
    """
    if not config.offline_sources():
        return None
    real_fits = config.rehearsal() is None or model.name == "mobilenet_v2_035_224"
    real = realfiles.ensure(real_key) if real_fits else None
    if real is not None:
        if verbose:
            print(f"NOTICE: smoke mode: {model.name} is replaced by the MobileNetV2-0.35 feature-vector SavedModel "
                  f"(real ImageNet weights, 224 px in, 1280 features out) at {real}.")
        return real
    size = None if model.any_size else model.input_size
    path = config.cache_root() / "tfhub_smoke" / f"{model.name}_{size or 'any'}_{model.output_dim}"
    if not (path / "saved_model.pb").is_file():
        from tlhelpers.course import standins

        standins.make_tiny_module(path, input_size=size, output_dim=model.output_dim)
    report.note_generated(f"TF-Hub module {model.name} (a tiny module with random weights instead)", kind="weights")
    if verbose:
        print(f"NOTICE: {config.mode()}: {model.name} is replaced by a tiny generated SavedModel with RANDOM weights "
              f"({f'{size} px' if size else 'any size'} in, {model.output_dim} features out); accuracy numbers mean "
              "nothing.")
    return path


def kerashub_standin(name: str, known: Any | None) -> Path | None:
    """Return a stand-in KerasHub preset folder (random weights) offline, or None in full mode.

    The rehearsal builds the preset's real architecture when it is one of
    ``kerashub.KNOWN`` (``known``); smoke mode a tiny one.
    """
    if not config.offline_sources():
        return None
    from tlhelpers.course import standins

    full_size = config.rehearsal() is not None and known is not None
    target = config.cache_root() / "kerashub-standins" / ("full" if full_size else "tiny") / name
    if not (target / "config.json").is_file():
        standins.make_preset(target, architecture=dict(known.architecture) if full_size else None,
                             image_size=known.image_size if known else 224)
    report.note_generated(f"KerasHub preset {name} (stand-in, random weights)", kind="weights")
    return target


@contextlib.contextmanager
def tfds_source(name: str, num_examples: int) -> Iterator[None]:
    """Around a ``tfds.load``: the real dataset, or offline without it ``tfds.testing.mock_data`` (marked).

    Also starts a new data section of the run report (a generated dataset of
    an earlier part no longer marks this part's numbers).
    """
    report.new_data_section()
    if not config.offline_sources() or (name in realfiles.FILES and realfiles.ensure(name) is not None):
        yield
        return
    import tensorflow_datasets as tfds

    report.note_generated(f"{name} (tfds.testing.mock_data: random images)")
    with tfds.testing.mock_data(num_examples=num_examples, policy=tfds.testing.MockPolicy.USE_CODE):
        yield


def cats_and_dogs() -> Path | None:
    """Return the offline ``cats_and_dogs_filtered`` folder, or None in full mode (download it).

    Offline: the real photos (cache, offline assets, or downloaded once),
    else a generated stand-in (coloured noise, marked meaningless).
    """
    report.new_data_section()
    if not config.offline_sources():
        return None
    real = realfiles.ensure("cats_and_dogs_filtered")
    if real is not None:
        return real
    report.note_generated(realfiles.FILES["cats_and_dogs_filtered"].what)
    target = config.cache_root() / "synthetic" / "cats_and_dogs_100"
    if not (target / "validation").is_dir():
        print("Smoke mode without offline assets: generating a stand-in image folder.")
        from tlhelpers.course import standins

        standins.make_synthetic_folder(target, per_class=100)  # as many as any lesson's smoke settings use
    return target


def own_photos_standin(per_class: int) -> Path | None:
    """Return a class-per-folder stand-in for lesson 05's photos offline, or None in full mode (download them).

    Offline: a copy of the first ``per_class`` real photos per class of
    ``cats_and_dogs_filtered/train``, else generated images (marked
    meaningless); either way a fresh folder the learner may modify.
    """
    report.new_data_section()
    if not config.offline_sources():
        return None
    from tlhelpers.course import standins

    real = realfiles.ensure("cats_and_dogs_filtered")
    # Real and generated copies never share a folder, so a later run with the real photos never reuses stand-ins.
    target = config.cache_root() / "smoke" / f"my_photos_{per_class}{'' if real else '_generated'}"
    if real is None:
        report.note_generated(realfiles.FILES["cats_and_dogs_filtered"].what)
    if not target.is_dir():
        if real is not None:
            print(f"Smoke mode: using {per_class} real photos per class of cats_and_dogs_filtered ({real}) "
                  "instead of flower_photos.")
            standins.sample_folder(real / "train", target, per_class=per_class)
        else:
            print("Smoke mode without the real photos: generating a stand-in image folder.")
            standins.make_synthetic_folder(target.with_name(target.name + "_gen"), per_class=per_class)
            shutil.copytree(target.with_name(target.name + "_gen") / "train", target)
    return target


def rehearsed_strategy(*, mixed_precision: bool, verbose: bool) -> Any | None:
    """In the rehearsal, set the CPU up as the GPU runtime it imitates and return its strategy; else None."""
    shape = config.rehearsal()
    if shape is None:
        return None
    from tlhelpers.course import rehearsal

    return rehearsal.setup(shape, mixed_precision=mixed_precision, verbose=verbose)


def gpu_count() -> int:
    """Return how many GPUs this runtime has: the real ones, or the rehearsal's (1 or 2) on the CPU."""
    shape = config.rehearsal()
    if shape is not None:
        return 2 if shape == "2gpu" else 1
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def rehearsal_banner() -> str | None:
    """Return the line that says which runtime the rehearsal imitates, or None outside it."""
    shape = config.rehearsal()
    return None if shape is None else f"REHEARSAL {shape}: {config.REHEARSAL_SHAPES[shape]} (on the CPU)"


def generated_now() -> bool:
    """Tell whether what is computed now comes from generated data or random weights (charts get a watermark)."""
    return report.meaningless_now()

