"""KerasHub presets as backbones: where they come from, what they expect, and offline copies.

What belongs here: everything about a KerasHub preset (``keras_hub``, the
maintained library of pretrained Keras 3 models, whose presets live on Kaggle
Models) that the rest of the course needs: naming one (``"kerashub:<preset>"``),
finding it (a local preset folder, the ``kagglehub`` download cache, or a
download), reading its preprocessing (the preset's ``ImageConverter``: resize,
then ``x * scale + offset``) and loading its backbone. Models built from a
preset live in :mod:`tlhelpers.models` (``build_transfer_model("kerashub:...")``).

Where a preset is looked for, in order:

1. the spec itself when it is a folder (``"kerashub:/data/my_preset"``: what
   ``save_to_preset`` wrote);
2. ``<folder>/<preset name>`` for every folder of :func:`preset_dirs`
   (``<cache root>/kerashub`` and the offline assets' ``kerashub``);
3. ``kagglehub``'s download cache (``$KAGGLEHUB_CACHE``, default
   ``~/.cache/kagglehub``), where an earlier download put it, then
   ``<cache root>/kagglehub`` (where ``tlh prefetch`` downloads);
4. smoke mode and the rehearsal: a stand-in preset with random weights
   (:func:`tlhelpers.course.standins.make_preset`), said as generated;
5. full mode: the preset name, which KerasHub downloads from Kaggle Models
   into the ``kagglehub`` cache (``TLH_OFFLINE=1`` stops with instructions).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tlhelpers.course import sources
from tlhelpers.data import IMAGENET_MEAN, IMAGENET_STD

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = [
    "PREFIX",
    "KNOWN",
    "KnownPreset",
    "is_preset",
    "preset_name",
    "preset_dirs",
    "kagglehub_cache",
    "find_local",
    "resolve",
    "load_backbone",
    "load_converter",
    "converter_scale_offset",
    "describe_cache",
]

PREFIX = "kerashub:"

#: KerasHub's ImageNet normalisation as an image converter's scale and offset: (x / 255 - mean) / std.
_IMAGENET_SCALE = tuple(1 / (255 * s) for s in IMAGENET_STD)
_IMAGENET_OFFSET = tuple(-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True))


@dataclasses.dataclass(frozen=True)
class KnownPreset:
    """What the course knows about a KerasHub preset without downloading it.

    Attributes:
        name: The preset name, e.g. ``"resnet_50_imagenet"``.
        params: Backbone parameters (KerasHub's preset metadata).
        image_size: The converter's input size.
        architecture: ``ResNetBackbone`` arguments of the same network (the
            rehearsal builds it with random weights to run the full-size code).
        scale: The converter's per-channel scale (ImageNet mean/std folded in).
        offset: The converter's per-channel offset.
        handle: Its Kaggle Models handle.
    """

    name: str
    params: int
    image_size: int
    architecture: tuple[tuple[str, Any], ...]
    scale: tuple[float, ...] = _IMAGENET_SCALE
    offset: tuple[float, ...] = _IMAGENET_OFFSET
    handle: str = ""


def _resnet(name: str, params: int, blocks: list[int], block_type: str, version: int) -> KnownPreset:
    arch = {"input_conv_filters": [64], "input_conv_kernel_sizes": [7],
            "stackwise_num_filters": [64, 128, 256, 512], "stackwise_num_blocks": blocks,
            "stackwise_num_strides": [1, 2, 2, 2], "block_type": block_type, "use_pre_activation": False}
    return KnownPreset(name, params, 224, tuple((k, v) for k, v in arch.items()),
                       handle=f"kaggle://keras/resnetv1/keras/{name}/{version}")


#: Presets whose architecture the course can rebuild offline (for the rehearsal); any other preset works too.
KNOWN: dict[str, KnownPreset] = {p.name: p for p in [
    _resnet("resnet_18_imagenet", 11_186_112, [2, 2, 2, 2], "basic_block", 3),
    _resnet("resnet_50_imagenet", 23_561_152, [3, 4, 6, 3], "bottleneck_block", 3),
]}


def is_preset(spec: Any) -> bool:
    """Tell whether a backbone spec names a KerasHub preset (``"kerashub:<preset or folder>"``)."""
    return isinstance(spec, str) and spec.strip().lower().startswith(PREFIX)


def preset_name(spec: str) -> str:
    """Return the preset part of a spec: ``"kerashub:resnet_50_imagenet"`` -> ``"resnet_50_imagenet"``.

    A folder gives its last component; a ``kaggle://owner/model/keras/<preset>/<version>``
    handle gives ``<preset>``.

    Raises:
        ValueError: Nothing after the prefix.
    """
    body = spec.strip()[len(PREFIX):] if is_preset(spec) else spec.strip()
    if not body:
        raise ValueError(f"No preset in {spec!r}; expected e.g. 'kerashub:resnet_50_imagenet' or "
                         "'kerashub:/path/to/preset_folder'.")
    if body.startswith(("kaggle://", "hf://")):
        parts = [p for p in body.split("://", 1)[1].split("/") if p]
        return parts[3] if body.startswith("kaggle://") and len(parts) >= 4 else parts[-1]
    return Path(body).expanduser().name or body


def preset_dirs() -> list[Path]:
    """Return the folders holding local preset copies (``<folder>/<preset name>/config.json``), in order.

    ``<cache root>/kerashub`` (where ``tlh prefetch`` copies presets), then
    ``kerashub`` in every folder of :func:`tlhelpers.course.sources.asset_roots`.
    """
    dirs = [sources.cache_root() / "kerashub", *(root / "kerashub" for root in sources.asset_roots())]
    return list(dict.fromkeys(dirs))


def kagglehub_cache() -> Path:
    """Return ``kagglehub``'s download cache: ``$KAGGLEHUB_CACHE``, else ``~/.cache/kagglehub``."""
    return Path(os.environ.get("KAGGLEHUB_CACHE") or Path.home() / ".cache" / "kagglehub").expanduser()


def _kaggle_caches() -> list[Path]:
    """Return kagglehub's cache, then ``<cache root>/kagglehub`` (where ``tlh prefetch`` points it)."""
    return list(dict.fromkeys([kagglehub_cache(), sources.cache_root() / "kagglehub"]))


def _is_preset_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def find_local(name: str) -> Path | None:
    """Find a local copy of a preset: a preset folder, then the course's folders, then the kagglehub cache.

    Args:
        name: A preset name (``"resnet_50_imagenet"``) or folder.

    Returns:
        The folder holding its ``config.json``, or None.
    """
    path = Path(name).expanduser()
    if _is_preset_dir(path):
        return path
    name = preset_name(name)
    for folder in preset_dirs():
        if _is_preset_dir(folder / name):
            return folder / name
    # kagglehub layout: models/<owner>/<model>/keras/<preset>/<version>/
    versions = [p for cache in _kaggle_caches() for p in cache.glob(f"models/*/*/keras/{name}/*") if _is_preset_dir(p)]
    versions.sort(key=lambda p: int(p.name) if p.name.isdigit() else -1)
    return versions[-1] if versions else None


def resolve(spec: str) -> str:
    """Decide where a preset is loaded from (see the module docstring for the order).

    Args:
        spec: ``"kerashub:<preset name, folder or kaggle:// handle>"`` (the
            prefix is optional).

    Returns:
        A folder path, or (full mode, no local copy) the name or handle for
        KerasHub to download.

    Raises:
        FileNotFoundError: A folder was named that is not a preset folder, or
            ``TLH_OFFLINE=1`` in full mode and no local copy exists.
    """
    body = spec.strip()[len(PREFIX):] if is_preset(spec) else spec.strip()
    name = preset_name(spec)
    looks_like_path = os.sep in body or body.startswith((".", "~"))
    if looks_like_path and not body.startswith(("kaggle://", "hf://")):
        path = Path(body).expanduser()
        if not _is_preset_dir(path):
            what = "does not exist" if not path.exists() else "has no config.json"
            raise FileNotFoundError(f"{path} {what}: it is not a KerasHub preset folder. A preset folder is what "
                                    "`model.save_to_preset(folder)` writes (config.json, model.weights.h5, ...).")
        return str(path)
    found = find_local(name)
    if found is not None:
        return str(found)
    standin = sources.kerashub_standin(name, KNOWN.get(name))  # offline (smoke mode, rehearsal): random weights
    if standin is not None:
        return str(standin)
    if not sources.network_allowed():
        raise FileNotFoundError(
            f"No local copy of the KerasHub preset {name!r} and {sources.OFFLINE_ENV}=1 forbids downloading "
            f"it. Run 'tlh prefetch' where there is network (it lands in {_kaggle_caches()[-1]}), or put the preset "
            f"folder (config.json, model.weights.h5, ...) at {preset_dirs()[0] / name}.")
    return body


def load_backbone(spec: str) -> keras.Model:
    """Load a preset's backbone (its pretrained network, without a task head).

    Args:
        spec: See :func:`resolve`.

    Returns:
        A ``keras_hub.models.Backbone`` (a functional ``keras.Model``).

    Raises:
        RuntimeError: The download failed; says how to get the preset offline.
    """
    import keras_hub

    where = resolve(spec)
    try:
        return keras_hub.models.Backbone.from_preset(where)
    except OSError as exc:  # no network or an HTTP error (requests' and kagglehub's errors are OSErrors)
        if Path(where).is_dir():
            raise
        raise RuntimeError(
            f"Could not load the KerasHub preset {where!r} ({type(exc).__name__}: {exc}). It downloads from "
            f"Kaggle Models into {kagglehub_cache()} (set KAGGLEHUB_CACHE to move it); without network, copy "
            f"a preset folder to {preset_dirs()[0] / preset_name(where)} or run 'tlh prefetch' where there "
            "is network.") from exc


def load_converter(spec: str) -> Any:
    """Load a preset's image converter (its resize and ``x * scale + offset``), or None when it has none.

    A preset without one has no ``image_converter.json``. A converter that is there but fails to load is an
    error, raised as it is: the model would otherwise be fed pixels its backbone was not trained on.
    """
    import keras_hub

    where = resolve(spec)
    if Path(where).is_dir() and not (Path(where) / "image_converter.json").is_file():
        return None
    try:
        return keras_hub.layers.ImageConverter.from_preset(where)
    except FileNotFoundError:  # a downloaded preset without the file
        return None


def converter_scale_offset(converter: Any) -> tuple[Any, Any]:
    """Return the ``(scale, offset)`` a converter applies to 0..255 pixels (``(1.0, 0.0)`` for none).

    Per-channel values come back as lists (``keras.layers.Rescaling`` takes them as they are).
    """
    if converter is None:
        return 1.0, 0.0

    def plain(value: Any, neutral: float) -> Any:
        if value is None:
            return neutral
        try:
            return [float(v) for v in value]
        except TypeError:
            return float(value)

    return plain(getattr(converter, "scale", None), 1.0), plain(getattr(converter, "offset", None), 0.0)


def describe_cache() -> list[str]:
    """Lines for ``tlh doctor``: where presets are looked for and which are there."""
    lines = []
    kaggle = _kaggle_caches()
    for folder in [*preset_dirs(), *kaggle]:
        if folder in kaggle:
            found = sorted({p.parent.name for p in folder.glob("models/*/*/keras/*/*") if _is_preset_dir(p)})
            label = "kagglehub cache (KAGGLEHUB_CACHE)" if folder == kaggle[0] else "kagglehub cache of tlh prefetch"
        else:
            found = sorted(p.name for p in folder.glob("*") if _is_preset_dir(p)) if folder.is_dir() else []
            label = "local presets"
        lines.append(f"{label}: {folder}: {', '.join(found) if found else 'none'}")
    return lines

