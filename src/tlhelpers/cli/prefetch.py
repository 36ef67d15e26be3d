"""Everything the lessons download, in one list: prefetch it, check it, report what is missing.

What belongs here: the manifest of full-mode assets per lesson (datasets,
ImageNet weight files, TF-Hub modules, other files), where each is cached, a
check whether it is cached, and the download of each into one cache root. A
teacher runs ``tlh prefetch --all`` where there is network; afterwards the
lessons run in full mode without it. ``tlh doctor`` uses the same checks.

The cache root (``TLH_CACHE_DIR``, see :mod:`tlhelpers.course.config`) holds
``tensorflow_datasets/`` (TFDS), ``keras/models/`` (weights, the ImageNet
class names), ``tfhub/`` (``TFHUB_CACHE_DIR``) and ``datasets/`` (archives).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

from tlhelpers.course import config

__all__ = ["Asset", "LESSON_DATA", "manifest", "lessons", "is_cached", "size_on_disk", "fetch", "point_env_at_cache",
           "doctor", "smoke_readiness", "fetch_smoke"]

#: Data each lesson loads in full mode: read from the lessons' settings (:class:`tlhelpers.course.config.LessonSettings`
#: ``downloads``), the one table of what each lesson needs (tests/test_prefetch.py keeps it in step with the notebooks).
LESSON_DATA: dict[str, tuple[str, ...]] = {
    lesson: tuple(dict.fromkeys(item for key in config.lesson_keys() if key.split("-")[0] == lesson
                                for item in config.full_settings(key).downloads))
    for lesson in sorted({key.split("-")[0] for key in config.lesson_keys()})}

#: Files that are not datasets (datasets: :data:`tlhelpers.datasets.DOWNLOADS`).
_OTHER_FILES = {
    "file:imagenet_class_index": ("Keras ImageNet class names (imagenet_class_index.json)", "about 35 kB"),
}


def _about(key: str) -> tuple[str, str]:
    """Return (source, size) of a dataset or other file."""
    from tlhelpers import datasets

    if key in datasets.DOWNLOADS:
        d = datasets.DOWNLOADS[key]
        return d.source, d.size
    return _OTHER_FILES[key]


@dataclasses.dataclass(frozen=True)
class Asset:
    """One thing a lesson downloads in full mode.

    Attributes:
        key: Unique id: ``tfds:<name>``, ``weights:<file>``, ``hub:<name>`` or ``file:<name>``.
        kind: ``"tfds"``, ``"weights"``, ``"hub"`` or ``"file"``.
        name: What it is, for people.
        source: Where it comes from.
        size: Expected download size in words, or "unknown until downloaded".
        lessons: Lessons that need it.
        spec: What :func:`fetch` needs (backbone name, alpha, size, include_top; hub name; dataset name).
    """

    key: str
    kind: str
    name: str
    source: str
    size: str
    lessons: tuple[str, ...]
    spec: tuple[tuple[str, Any], ...] = ()


def lessons() -> list[str]:
    """Return the lesson numbers that have full-mode settings (``"01"``...)."""
    return sorted(LESSON_DATA)


def _weights_asset(backbone: str, alpha: float | None, size: int, top: bool = False) -> tuple[str, dict, str, str]:
    from tlhelpers import backbones

    spec = backbones.get(backbone)
    filename = spec.weights_filename(alpha or 1.0, size, top=top) or f"{spec.name} weights"
    source = spec.weights_url or f"keras.applications.{spec.constructor} ImageNet weights"
    name = f"{spec.name}{f' alpha {alpha}' if alpha else ''} ImageNet weights ({'with' if top else 'no'} top)"
    return f"weights:{filename}", {"backbone": spec.name, "alpha": alpha, "size": size, "top": top,
                                   "filename": filename}, name, source


def _lesson_models(lesson: str) -> list[tuple[str, str, dict, str, str, str]]:
    """Return (key, kind, spec, name, source, size) for the models a lesson's full-mode settings name."""
    from tlhelpers import backbones, tfhub

    out = []
    for key in [k for k in config.lesson_keys() if k.split("-")[0] == lesson]:
        s = config.full_settings(key)
        names = []
        if s.get("backbone"):
            names.append((str(s.get("backbone")), s.get("alpha"), s.image_size, False))
        if s.get("bn_backbone"):
            names.append((str(s.get("bn_backbone")), s.get("bn_alpha"), s.image_size, False))
        for cand in s.get("candidates") or ():
            if cand != "scratch" and not str(cand).startswith(("hub:", "kerashub:")):
                names.append((*backbones.parse_spec(str(cand)), s.image_size, False))
        if s.get("sweep_backbone"):
            names.append((*backbones.parse_spec(str(s.get("sweep_backbone"))), s.image_size, False))
        if s.get("classifier"):
            names.append((str(s.get("classifier")), None, backbones.get(str(s.get("classifier"))).input_size, True))
        for backbone, alpha, size, top in names:
            akey, spec, name, source = _weights_asset(backbone, alpha, size, top)
            out.append((akey, "weights", spec, name, source, "unknown until downloaded"))
        handles = [s.get("handle")] + [c[4:] for c in (s.get("candidates") or ()) if str(c).startswith("hub:")]
        for handle in filter(None, handles):
            m = tfhub.get(str(handle))
            out.append((f"hub:{m.name}", "hub", {"name": m.name, "url": m.kaggle},
                        f"TF-Hub {m.name} feature vector ({m.input_size} px, {m.output_dim} features)",
                        f"{m.kaggle} (was {m.tfhub})", "unknown until downloaded"))
        presets = [s.get("kerashub_preset")] + [c for c in (s.get("candidates") or ())
                                                 if str(c).startswith("kerashub:")]
        for preset in filter(None, presets):
            from tlhelpers import kerashub

            name = kerashub.preset_name(str(preset))
            known = kerashub.KNOWN.get(name)
            out.append((f"kerashub:{name}", "kerashub", {"name": name},
                        f"KerasHub preset {name}" + (f" ({known.params / 1e6:.1f} M params)" if known else ""),
                        (known.handle if known else f"Kaggle Models ({name})") + f", into {kerashub.kagglehub_cache()}",
                        "unknown until downloaded"))
    return out


def manifest(selected: list[str] | None = None) -> list[Asset]:
    """List every asset the selected lessons need in full mode, each once, with the lessons that use it.

    Args:
        selected: Lesson numbers (``"1"``, ``"01"``); None means all.

    Returns:
        The assets, datasets first.

    Raises:
        KeyError: An unknown lesson; the message lists the known ones.
    """
    wanted = [f"{int(x):02d}" for x in selected] if selected else lessons()
    unknown = [x for x in wanted if x not in LESSON_DATA]
    if unknown:
        raise KeyError(f"Unknown lesson(s) {', '.join(unknown)}. Known lessons: {', '.join(lessons())}.")
    found: dict[str, dict] = {}
    for lesson in wanted:
        for key in LESSON_DATA[lesson]:
            kind, name = key.split(":", 1)
            source, size = _about(key)
            entry = found.setdefault(key, {"kind": kind, "name": name, "source": source, "size": size,
                                           "lessons": [], "spec": {"name": name}})
            entry["lessons"].append(lesson)
        for key, kind, spec, name, source, size in _lesson_models(lesson):
            entry = found.setdefault(key, {"kind": kind, "name": name, "source": source, "size": size,
                                           "lessons": [], "spec": spec})
            if lesson not in entry["lessons"]:
                entry["lessons"].append(lesson)
    order = {"tfds": 0, "file": 1, "weights": 2, "hub": 3, "kerashub": 4}
    return [Asset(k, v["kind"], v["name"], v["source"], v["size"], tuple(v["lessons"]), tuple(v["spec"].items()))
            for k, v in sorted(found.items(), key=lambda kv: (order[kv[1]["kind"]], kv[0]))]


def point_env_at_cache(root: str | os.PathLike | None = None) -> Path:
    """Point every download cache at one root (``TLH_CACHE_DIR``, ``TFDS_DATA_DIR``, ``KERAS_HOME``, TF-Hub).

    Sets ``TFHUB_CACHE_DIR`` and ``KAGGLEHUB_CACHE`` (KerasHub presets) too.

    Call it before Keras is imported (Keras reads ``KERAS_HOME`` once).

    Args:
        root: The cache root. Defaults to the current one (:func:`tlhelpers.course.config.cache_root`).

    Returns:
        The root.
    """
    if root is not None:
        os.environ["TLH_CACHE_DIR"] = str(Path(root).expanduser().resolve())
    base = config.cache_root()
    os.environ["TFDS_DATA_DIR"] = str(base / "tensorflow_datasets")
    os.environ["KERAS_HOME"] = str(base / "keras")
    os.environ["TFHUB_CACHE_DIR"] = str(base / "tfhub")
    os.environ["KAGGLEHUB_CACHE"] = str(base / "kagglehub")
    return base


def _weights_dirs() -> list[Path]:
    from tlhelpers import backbones

    return backbones.weights_cache_dirs()  # includes the laptop tier's real-file folders


def _hub_dirs(url: str) -> list[Path]:
    cache = Path(os.environ.get("TFHUB_CACHE_DIR") or config.cache_root() / "tfhub")
    return [cache / hashlib.sha1(url.encode("utf8"), usedforsecurity=False)  # tensorflow_hub's cache name
                     .hexdigest()]


def is_cached(asset: Asset) -> Path | None:
    """Return where a cached copy of ``asset`` is, or None when it would have to be downloaded."""
    spec = dict(asset.spec)
    root = config.cache_root()
    if asset.kind == "tfds":
        hits = sorted((root / "tensorflow_datasets" / spec["name"]).glob("*/dataset_info.json"))
        return hits[-1].parent if hits else None
    if asset.kind == "weights":
        return next((d / spec["filename"] for d in _weights_dirs() if (d / spec["filename"]).is_file()), None)
    if asset.kind == "hub":
        return next((d for d in _hub_dirs(spec["url"]) if (d / "saved_model.pb").is_file()), None)
    if asset.kind == "kerashub":
        from tlhelpers import kerashub

        return kerashub.find_local(spec["name"])
    if spec["name"] == "imagenet_class_index":
        return next((d / "imagenet_class_index.json" for d in _weights_dirs()
                     if (d / "imagenet_class_index.json").is_file()), None)
    folder = root / "datasets"
    for cand in (folder / spec["name"], folder / f"{spec['name']}_extracted" / spec["name"],
                 folder / f"{spec['name']}.zip" / spec["name"]):
        if cand.is_dir():
            return cand
    return None


def size_on_disk(path: Path) -> str:
    """Return the size of a file or folder, in words (e.g. ``"68.1 MB"``)."""
    total = path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return f"{total / 1e6:.1f} MB"


def fetch(asset: Asset) -> Path:
    """Download one asset into the cache root (nothing happens when it is cached already).

    Args:
        asset: From :func:`manifest`.

    Returns:
        Where it is now.

    Raises:
        RuntimeError: The download failed; says what to do.
    """
    done = is_cached(asset)
    if done is not None:
        return done
    spec = dict(asset.spec)
    try:
        # real downloads, never stand-ins: neither smoke mode nor the rehearsal
        with config.environment({config.SMOKE_ENV: "0", config.REHEARSE_ENV: None}):
            if asset.kind == "tfds":
                from tlhelpers import datasets

                tfds = datasets.import_tfds()
                data_dir = str(config.cache_root() / "tensorflow_datasets")
                tfds.builder(spec["name"], data_dir=data_dir).download_and_prepare()
            elif asset.kind == "weights":
                _fetch_weights(spec)
            elif asset.kind == "hub":
                from tlhelpers import tfhub

                tfhub.resolve(spec["name"])
            elif asset.kind == "kerashub":
                from tlhelpers import kerashub

                kerashub.load_backbone(spec["name"])  # KerasHub downloads the whole preset into the kagglehub cache
            elif spec["name"] == "imagenet_class_index":
                import keras

                from tlhelpers import kerascompat

                keras.utils.get_file("imagenet_class_index.json", kerascompat.imagenet_class_index_url(),
                                     cache_dir=str(config.cache_root() / "keras"), cache_subdir="models")
            else:
                from tlhelpers import datasets

                getattr(datasets, datasets.DOWNLOADS[asset.key].getter)()
    except Exception as exc:  # download failures get one message; anything else is a bug and is re-raised
        if not _is_download_failure(exc):
            raise
        raise RuntimeError(f"Could not download {asset.name} from {asset.source}: {type(exc).__name__}: {exc}. "
                           "Check the network (a proxy?) and run tlh prefetch again; cached items are kept.") from exc
    where = is_cached(asset)
    if where is None:
        raise RuntimeError(f"{asset.name} was downloaded but is not where the lessons look for it; is KERAS_HOME "
                           "set elsewhere? Run tlh prefetch in a fresh shell.")
    return where


def _is_download_failure(exc: BaseException) -> bool:
    """Say whether ``exc`` is a failed download as the rooms below report one, and not a bug.

    The course's own rooms (backbones, tfhub, kerashub) turn a failed download into a ``RuntimeError`` with
    instructions; ``keras.utils.get_file`` has its own forms (:func:`tlhelpers.kerascompat.is_download_failure`);
    TFDS raises its ``DownloadError`` and ``NonMatchingChecksumError``.
    """
    from tlhelpers import kerascompat
    from tlhelpers.course import realfiles

    return (isinstance(exc, RuntimeError) or kerascompat.is_download_failure(exc)
            or realfiles.is_tfds_download_failure(exc))


def _fetch_weights(spec: dict) -> None:

    from tlhelpers import backbones

    b = backbones.get(spec["backbone"])
    if b.factory is not None:
        backbones.download_factory_weights(b, top=bool(spec["top"]))
        return
    b.construct(include_top=bool(spec["top"]), weights="imagenet", size=spec["size"], alpha=spec["alpha"] or None)
    # Keras downloads into $KERAS_HOME/models; copy into the cache root if KERAS_HOME pointed elsewhere.
    target = config.cache_root() / "keras" / "models" / spec["filename"]
    if not target.is_file():
        for d in backbones.weights_cache_dirs():
            if (d / spec["filename"]).is_file() and d != target.parent:
                import shutil

                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(d / spec["filename"], target)
                break


def doctor(out: Any = None) -> dict[str, list[str]]:
    """Print versions, hardware, caches and, per lesson, what is missing for an offline full-mode run.

    Args:
        out: A stream to print to. Defaults to ``sys.stdout``.

    Returns:
        ``{lesson: [keys of missing assets]}``.
    """
    import platform

    out = out or sys.stdout

    def say(text: str = "") -> None:
        print(text, file=out)

    from tlhelpers import __version__

    versions = [f"tlhelpers {__version__}", f"Python {platform.python_version()}"]
    for module in ("tensorflow", "keras", "tensorflow_hub", "tensorflow_datasets", "keras_hub"):
        try:
            mod = __import__(module)
            versions.append(f"{module} {getattr(mod, '__version__', '?')}")
        except ImportError:
            extra = ' ".[kerashub]"' if module == "keras_hub" else " ."
            versions.append(f"{module} NOT INSTALLED (pip install -e{extra})")
    say("Versions: " + ", ".join(versions))
    import tensorflow as tf

    from tlhelpers import training

    gpus = tf.config.list_physical_devices("GPU")
    say(f"CPU cores: {os.cpu_count()}; GPUs: {len(gpus)}; TPU runtime: "
        f"{'yes (TensorFlow cannot use its TPU: use a GPU runtime)' if training.tpu_runtime() else 'no'}")
    for gpu in gpus:
        cc = tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
        say(f"  {gpu.name}: compute capability {cc[0]}.{cc[1]}, mixed precision "
            f"{'yes (mixed_float16)' if cc >= (7, 0) else 'no (needs 7.0+)'}")
    if not gpus:
        say("  no GPU: training runs on the CPU, mixed precision off (fine for smoke mode)")
    from tlhelpers import training

    for line in training.describe_accelerator().splitlines():
        say(f"  {line}")
    say(config.describe_mode())
    root = config.cache_root()
    assets_dir = config.assets_dir()
    say(f"Cache root: {root}")
    for label, path in (("TFDS", root / "tensorflow_datasets"), ("Keras weights", root / "keras" / "models"),
                        ("TF-Hub", Path(os.environ.get("TFHUB_CACHE_DIR") or root / "tfhub")),
                        ("datasets", root / "datasets")):
        items = len(list(path.iterdir())) if path.is_dir() else 0
        say(f"  {label:14s} {path}: {f'{items} items' if path.is_dir() else 'missing'}")
    from tlhelpers import kerashub

    say("KerasHub presets (kerashub:<preset>; offline: a preset folder in one of these):")
    for line in kerashub.describe_cache():
        say(f"  {line}")
    say(f"Offline assets: {assets_dir or 'not found (smoke mode downloads its small real files once, else generates)'}")
    missing: dict[str, list[str]] = {}
    say("Lessons (full mode offline = every download cached):")
    for lesson in lessons():
        gaps = [a for a in manifest([lesson]) if is_cached(a) is None]
        missing[lesson] = [a.key for a in gaps]
        if gaps:
            say(f"  {lesson}: full mode offline NOT READY, missing {len(gaps)}: "
                + ", ".join(a.name for a in gaps[:4]) + (" ..." if len(gaps) > 4 else ""))
            say(f"      fix: tlh prefetch --lesson {int(lesson)}   (where there is network)")
        else:
            say(f"  {lesson}: full mode offline READY")
        say(f"      smoke mode: {smoke_readiness(lesson)}")
    return missing


def smoke_readiness(lesson: str) -> str:
    """Say whether smoke mode (the laptop tier) of a lesson runs on real files, and what to do otherwise.

    Args:
        lesson: Lesson key, e.g. ``"03"``.

    Returns:
        One line of text.
    """
    from tlhelpers.course import realfiles

    needs = realfiles.LESSON_FILES.get(config.lesson_key(lesson), ())
    gaps = [k for k in needs if realfiles.locate(k) is None]
    if not gaps:
        return f"real data ({len(needs)} real file(s) cached, no network needed)"
    return (f"missing {', '.join(gaps)}: downloaded on the first smoke run with network (or now: tlh prefetch "
            f"--smoke --lesson {int(lesson)}); without network it runs on generated data, numbers meaningless")


def fetch_smoke(selection: list[str] | None = None) -> dict[str, Path | None]:
    """Download the laptop tier's small real files of the selected lessons into the cache (smoke mode's data).

    Args:
        selection: Lesson numbers; None for every lesson.

    Returns:
        ``{file key: path, or None when it could not be downloaded}``.
    """
    from tlhelpers.course import realfiles

    keys = dict.fromkeys(k for lesson in (selection or lessons())
                         for k in realfiles.LESSON_FILES[config.lesson_key(lesson)])
    with config.environment({config.SMOKE_ENV: "1", config.REHEARSE_ENV: None}):
        return {k: realfiles.ensure(k) for k in keys}
