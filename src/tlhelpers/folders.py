"""Your own folder of images: scan it, split it, load the splits.

What belongs here: everything between "a folder with one subfolder per class"
and batches a model can train on:

* :func:`open_photos` finds the folder of classes in what you give it: a
  folder, or a ``.zip``/``.tar.gz`` of one (unpacked outside it), or
  ``"upload"`` on Colab.
* :func:`scan` looks at every file (never changing one) and gives each a
  verdict: ``usable`` as it is, ``converted`` (a valid image that is not 8-bit
  RGB JPEG/PNG: grayscale, RGBA, palette, CMYK, 16-bit, GIF, BMP, WebP, TIFF...;
  an RGB copy is made outside your folder) or ``unusable`` (zero bytes, not an
  image, corrupt or truncated, unreadable), with the reason.
* :func:`split_folder` writes a train/validation/test split of the usable and
  converted images with split-folders, into a folder outside yours.
* :func:`load_splits` turns a split into cached, prefetched ``tf.data``
  pipelines with class names.

Every file present is either in the split or reported as skipped, with its
path and reason; nothing is deleted or modified in your folder.

What counts as what:

* A class is a folder directly inside the root. Tools' droppings are never a
  class and never data, at any depth: hidden names (``.git``,
  ``.ipynb_checkpoints``, ``.DS_Store``, ``._photo.jpg``), ``__MACOSX``,
  ``__pycache__``, ``Thumbs.db``... (:func:`tlhelpers.data.ignored_reason`);
  the report lists each as ignored, with why.
* A sub-folder inside a class folder is part of that class (``cats/2019/*.jpg``
  are cats); the report lists such sub-folders, so a misplaced class is noticed.
* A photo stored sideways with an EXIF Orientation tag is converted to an
  upright copy; HEIC (with the ``heic`` extra), RAW and video files get a
  reason saying what to do.
* Duplicates (same bytes, or the same picture by perceptual hash) are
  reported, and a split keeps each group in one split.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import hashlib
import os
import shutil
import tarfile
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tlhelpers import atomic, data, features

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

__all__ = [
    "FolderError",
    "open_photos",
    "FileVerdict",
    "DuplicateGroup",
    "ScanReport",
    "USABLE",
    "CONVERTED",
    "UNUSABLE",
    "SKIP_GROUPS",
    "skip_group",
    "classify",
    "scan",
    "exif_orientation",
    "to_rgb",
    "write_clean_tree",
    "SplitResult",
    "split_folder",
    "load_splits",
    "train_val_datasets",
]

USABLE, CONVERTED, UNUSABLE = "usable", "converted", "unusable"
_DIRECT_FORMATS = {"JPEG": ".jpg", "PNG": ".png"}
_SPLIT_MARKER = ".tlhelpers_split"


class FolderError(ValueError):
    """The folder cannot be used as a class-per-folder dataset; the message says what to do."""


_ARCHIVES = (".zip", ".tar.gz", ".tgz", ".tar")


def _is_archive(path: Path) -> bool:
    return path.name.lower().endswith(_ARCHIVES)


def _class_root(folder: Path) -> Path:
    """Go down through wrapper folders (one folder and nothing else but tools' droppings) to the classes."""
    while True:
        entries = [p for p in folder.iterdir() if data.ignored_reason(p.name) is None]
        if len(entries) == 1 and entries[0].is_dir() and any(c.is_dir() for c in entries[0].iterdir()):
            folder = entries[0]
        else:
            return folder


def _uploaded_archive(into: Path) -> Path:
    """Colab's file picker: save what the learner chose and return the archive among it."""
    try:
        from google.colab import files  # type: ignore[import-not-found]
    except ImportError:
        raise FolderError('"upload" opens Colab\'s file picker, and this is not Colab. On Kaggle, add your photos '
                          "as a dataset (Add Input) and give its path under /kaggle/input; elsewhere, give the "
                          "path of your folder or of its .zip.") from None
    chosen = files.upload()  # {file name: bytes}
    archives = sorted(name for name in chosen if _is_archive(Path(name)))
    if not archives:
        raise FolderError(f"Upload one .zip of your photo folder (you chose {sorted(chosen) or 'nothing'}). Zip the "
                          "folder that holds one folder per class, then run this cell again.")
    into.mkdir(parents=True, exist_ok=True)
    target = into / Path(archives[0]).name
    atomic.write_with(target, lambda tmp: tmp.write_bytes(chosen[archives[0]]))
    return target


def open_photos(source: str | os.PathLike, *, into: str | os.PathLike | None = None) -> Path:
    """Return the folder of class folders that ``source`` names, ready for :func:`scan`.

    Nothing where your photos are is changed: a folder is returned as it is,
    and an archive is only read.

    Args:
        source: A folder holding one folder per class (``my_photos/cats/...``),
            or a ``.zip``/``.tar.gz`` of such a folder (a Drive path on Colab,
            ``/kaggle/input/...`` on Kaggle, a local file), or ``"upload"`` on
            Colab to choose a ``.zip`` in the browser.
        into: The folder an archive is unpacked in, as ``<into>/<archive
            name>`` (replaced if it exists). Defaults to ``<temp dir>/tlh_photos``.

    Returns:
        The folder whose sub-folders are the classes (wrapper folders inside an
        archive, such as ``my_photos/`` around the classes, are stepped into).

    Raises:
        FolderError: The path does not exist, is not a folder or an archive,
            the archive is damaged or unsafe, or it holds no class folders; the
            message names the file and says what to do.
    """
    base = Path(into) if into is not None else Path(tempfile.gettempdir()) / "tlh_photos"
    uploads = Path(tempfile.gettempdir()) / "tlh_photos" / "uploads"
    path = _uploaded_archive(uploads) if str(source) == "upload" else Path(source).expanduser()
    if not path.exists():
        raise FolderError(f"{path} does not exist. Give the path of your photo folder or of its .zip (on Colab, "
                          'choose it with "upload" or mount Drive; on Kaggle, add it as a dataset: /kaggle/input).')
    if path.is_dir():
        folder = path
    elif _is_archive(path):
        name = path.name
        for suffix in _ARCHIVES:
            name = name.removesuffix(suffix).removesuffix(suffix.upper())
        target = base / name
        try:
            atomic.unpack(path, target)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, atomic.UnsafeArchiveError) as exc:
            raise FolderError(f"{path} cannot be unpacked ({exc}). Zip your photo folder again and use the new file."
                              ) from exc
        folder = target
    else:
        raise FolderError(f"{path} is neither a folder nor a .zip/.tar.gz archive. Give your photo folder (one "
                          "folder per class inside) or a .zip of it.")
    root = _class_root(folder)
    if not _class_dirs(root):
        raise FolderError(f"{path} holds no class folders. Put your photos in one folder per class "
                          "(my_photos/cats/*.jpg, my_photos/dogs/*.jpg) and give my_photos or a .zip of it.")
    return root


#: Why files are skipped, as groups with one fix each: ``(group, fix, reason prefixes)``. The prefixes are those of
#: the reasons :func:`classify` writes, so every reason it can give falls in exactly one group
#: (tests/test_folders.py checks the fixes; the last group takes what no prefix names).
SKIP_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("HEIC/HEIF photos (iPhone)", "pip install 'tlhelpers[heic]' (pillow-heif) brings them back; or export them "
     "as JPEG (iPhone: Settings > Camera > Formats > Most Compatible)", ("an iPhone HEIC",)),
    ("too large to decode safely (a decompression-bomb guard)", "shrink each one below 89 megapixels (Pillow's "
     "limit), e.g. python -c \"from PIL import Image; im = Image.open('IN'); im.thumbnail((8000, 8000)); "
     "im.save('OUT')\", or any photo editor", ("too large",)),
    ("corrupt or truncated images", "open each one in an image viewer; re-export it from your photo software or "
     "download it again", ("corrupt", "truncated")),
    ("empty files (0 bytes)", "copy each one again from where it came: the copy is empty", ("empty file",)),
    ("camera RAW files", "export them as JPEG from your photo software", ("a camera RAW",)),
    ("videos", "move them out of the image folder, or extract frames from them first", ("a video",)),
    ("files that cannot be read", "check that the file exists and that you may read it (permissions)",
     ("unreadable", "file not found")),
    ("not images", "remove them from the class folders (or ignore this: they are never read)", ("not an image",)),
    ("other unusable images", "see the reason beside each file", ()),
)


def skip_group(reason: str) -> tuple[str, str]:
    """Return ``(group, fix)`` of :data:`SKIP_GROUPS` for a skipped file's reason."""
    for group, fix, prefixes in SKIP_GROUPS:
        if reason.startswith(prefixes) or not prefixes:
            return group, fix
    raise AssertionError("unreachable: the last group of SKIP_GROUPS takes every reason")


@dataclasses.dataclass(frozen=True)
class FileVerdict:
    """What :func:`scan` decided about one file.

    Attributes:
        path: The file in your folder.
        class_name: Its class (the subfolder name).
        verdict: ``"usable"``, ``"converted"`` or ``"unusable"``.
        reason: Why (for converted and unusable files); empty for usable ones.
        image_format: What Pillow recognised (``"JPEG"``, ``"PNG"``...), or "".
        mode: Pillow mode (``"RGB"``, ``"L"``, ``"RGBA"``, ``"CMYK"``, ``"I;16"``...), or "".
        size: ``(width, height)`` in pixels, or ``(0, 0)``.
        sha256: Hash of the file's bytes (usable and converted files): equal means exact duplicate.
        phash: Perceptual hash of the upright pixels (hex, 64 bits, ``imagehash.phash``): a
            small Hamming distance means the same picture resized, recompressed or slightly edited.
    """

    path: Path
    class_name: str
    verdict: str
    reason: str = ""
    image_format: str = ""
    mode: str = ""
    size: tuple[int, int] = (0, 0)
    sha256: str = ""
    phash: str = ""


@dataclasses.dataclass
class ScanReport:
    """Every file of a class-per-folder tree, with its verdict.

    Attributes:
        root: The scanned folder.
        class_names: Sorted class folder names.
        files: One :class:`FileVerdict` per file found (all files, any name,
            at any depth inside a class folder), except tools' droppings.
        ignored: ``(path, why)`` of every folder and file that is a tool's
            dropping (``__MACOSX``, ``.ipynb_checkpoints``, hidden names...),
            at any depth: never a class, never data.
        nested: ``{sub-folder: class}``: ordinary folders inside a class
            folder. Their images belong to that class (``cats/2019/*.jpg`` are
            cats); the report lists them so a misplaced class is noticed.
    """

    root: Path
    class_names: list[str]
    files: list[FileVerdict]
    ignored: list[tuple[Path, str]] = dataclasses.field(default_factory=list)
    nested: dict[Path, str] = dataclasses.field(default_factory=dict)

    def of(self, verdict: str) -> list[FileVerdict]:
        """Return the files with one verdict (``"usable"``, ``"converted"`` or ``"unusable"``)."""
        return [f for f in self.files if f.verdict == verdict]

    @property
    def skipped(self) -> list[FileVerdict]:
        """The unusable files: they will not reach training."""
        return self.of(UNUSABLE)

    def counts(self) -> dict[str, dict[str, int]]:
        """Return ``{class: {"usable": n, "converted": n, "unusable": n, "images": usable + converted}}``."""
        out: dict[str, dict[str, int]] = {c: {USABLE: 0, CONVERTED: 0, UNUSABLE: 0} for c in self.class_names}
        for f in self.files:
            out[f.class_name][f.verdict] += 1
        for c in out.values():
            c["images"] = c[USABLE] + c[CONVERTED]
        return out

    def duplicate_groups(self, max_distance: int = 4) -> list[DuplicateGroup]:
        """Group the images that show the same picture: identical bytes, or perceptual hashes this close.

        A duplicate on both sides of a split is a photo the model is tested
        on after training on it (leakage); :func:`split_folder` keeps each
        group inside one split.

        Args:
            max_distance: Largest Hamming distance (of 64 bits) between
                perceptual hashes that still counts as the same picture (0
                finds resized and recompressed copies only; 4, the default,
                also slightly cropped or edited ones). At most 6.

        Returns:
            The groups, largest first.
        """
        images = [f for f in self.files if f.verdict != UNUSABLE and f.phash]
        parent = list(range(len(images)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        by_bytes: dict[str, int] = {}
        for i, f in enumerate(images):
            if f.sha256 in by_bytes:
                parent[find(i)] = find(by_bytes[f.sha256])
            else:
                by_bytes[f.sha256] = i
        for i, j in _near_pairs([int(f.phash, 16) for f in images], max_distance):
            parent[find(i)] = find(j)
        groups: dict[int, list[FileVerdict]] = collections.defaultdict(list)
        for i, f in enumerate(images):
            groups[find(i)].append(f)
        out = []
        for members in groups.values():
            if len(members) > 1:
                members.sort(key=lambda f: str(f.path))
                kind = "exact" if len({f.sha256 for f in members}) == 1 else "near"
                out.append(DuplicateGroup(tuple(members), kind, len({f.class_name for f in members}) > 1))
        return sorted(out, key=lambda g: (-len(g.files), str(g.files[0].path)))

    def imbalance(self) -> float:
        """Return the largest class's image count divided by the smallest's (inf if one is empty)."""
        images = [c["images"] for c in self.counts().values()]
        return float("inf") if min(images) == 0 else max(images) / min(images)

    def skipped_by_group(self) -> dict[str, list[FileVerdict]]:
        """Return the skipped files grouped as :data:`SKIP_GROUPS` groups them, in that order."""
        out: dict[str, list[FileVerdict]] = {}
        for f in self.skipped:
            out.setdefault(skip_group(f.reason)[0], []).append(f)
        return {g: out[g] for g, _, _ in SKIP_GROUPS if g in out}

    def skipped_lines(self, max_listed: int = 20, *, base: str | os.PathLike | None = None) -> list[str]:
        """Name every skipped file (at most ``max_listed`` per group), grouped by cause, each group with its fix.

        Args:
            max_listed: Files named per group; the rest are counted. Defaults to 20.
            base: Name files relative to this folder. Defaults to the scanned folder.

        Returns:
            Lines for ``print`` (none when nothing was skipped).
        """
        groups = self.skipped_by_group()
        if not groups:
            return []
        fixes = {g: fix for g, fix, _ in SKIP_GROUPS}
        lines = [f"Skipped (unusable, never read by training): {len(self.skipped)} files"]
        for group, files in groups.items():
            lines.append(f"  {group}: {len(files)}. Fix: {fixes[group]}")
            for f in files[:max_listed]:
                lines.append(f"    {f.path.relative_to(base or self.root)}: {f.reason}")
            if len(files) > max_listed:
                lines.append(f"    ... and {len(files) - max_listed} more")
        return lines

    def summary(self, max_listed: int = 20) -> str:
        """Describe the scan in a few lines: counts per class, then each skipped and converted file.

        Args:
            max_listed: List at most this many files per verdict. Defaults to 20.

        Returns:
            Text for ``print``.
        """
        lines = [f"Scanned {len(self.files)} files in {len(self.class_names)} classes under {self.root}:",
                 f"  {'class':24s} {'usable':>7s} {'converted':>9s} {'unusable':>8s}"]
        for name, c in self.counts().items():
            lines.append(f"  {name[:24]:24s} {c[USABLE]:7d} {c[CONVERTED]:9d} {c[UNUSABLE]:8d}")
        if self.ignored:
            lines.append(f"Ignored (tools' droppings, never a class or data): {len(self.ignored)}")
            for path, why in self.ignored[:max_listed]:
                lines.append(f"  {path.relative_to(self.root)}: {why}")
            if len(self.ignored) > max_listed:
                lines.append(f"  ... and {len(self.ignored) - max_listed} more")
        if self.nested:
            lines.append(f"Sub-folders inside class folders (their images count for that class): {len(self.nested)}")
            for path, cls in list(self.nested.items())[:max_listed]:
                lines.append(f"  {path.relative_to(self.root)}/ -> class {cls!r}")
        lines += self.skipped_lines(max_listed)
        listed = self.of(CONVERTED)
        if listed:
            lines.append(f"Converted to RGB (copies): {len(listed)}")
            for f in listed[:max_listed]:
                lines.append(f"  {f.path.relative_to(self.root)}: {f.reason}")
            if len(listed) > max_listed:
                lines.append(f"  ... and {len(listed) - max_listed} more")
        groups = self.duplicate_groups()
        if groups:
            across = [g for g in groups if g.across_classes]
            lines.append(f"Duplicates: {len(groups)} groups ({sum(g.kind == 'exact' for g in groups)} exact, "
                         f"{sum(g.kind == 'near' for g in groups)} near), {len(across)} across classes; a split "
                         "keeps each group in one split")
            for g in (across + [g for g in groups if not g.across_classes])[:max_listed]:
                names = ", ".join(str(f.path.relative_to(self.root)) for f in g.files[:4])
                lines.append(f"  {g.kind}{' ACROSS CLASSES (a label is wrong)' if g.across_classes else ''}: "
                             f"{names}{' ...' if len(g.files) > 4 else ''}")
        ratio = self.imbalance()
        if ratio >= 3:
            lines.append(f"Warning: classes are imbalanced (largest / smallest = {ratio:.1f}); look at per-class "
                         "accuracy, not only overall accuracy, or collect more images of the small classes.")
        return "\n".join(lines)


def _class_dirs(root: Path) -> list[Path]:
    return sorted((p for p in root.iterdir() if p.is_dir() and data.ignored_reason(p.name) is None),
                  key=lambda p: p.name)


def _walk(folder: Path, ignored: list[tuple[Path, str]], nested: dict[Path, str], class_name: str) -> list[Path]:
    """Return the files under ``folder`` at any depth, noting tools' droppings and sub-folders on the way."""
    found: list[Path] = []
    for here, dirs, names in os.walk(folder, followlinks=False):
        here_p = Path(here)
        keep = []
        for d in sorted(dirs):
            why = data.ignored_reason(d)
            if why is not None:
                ignored.append((here_p / d, why))
            elif (here_p / d).is_symlink():
                found.append(here_p / d)  # a link to a folder is not followed; classify reports it
            else:
                keep.append(d)
                nested[here_p / d] = class_name
        dirs[:] = keep  # os.walk descends only into these
        for n in sorted(names):
            why = data.ignored_reason(n)
            if why is not None:
                ignored.append((here_p / n, why))
            else:
                found.append(here_p / n)
    return sorted(found, key=str)


#: Signatures of files Pillow cannot read, and what the learner should do about each.
_FOREIGN = (
    ((b"ftypheic", b"ftypheix", b"ftyphevc", b"ftypheim", b"ftypheis", b"ftypmif1", b"ftypmsf1", b"ftypavif"),
     "an iPhone HEIC/HEIF (or AVIF) photo, which Pillow cannot read without a plugin: install it with "
     "pip install 'tlhelpers[heic]' (pillow-heif) and scan again, or export the photos as JPEG (iPhone: "
     "Settings > Camera > Formats > Most Compatible)"),
    ((b"ftypisom", b"ftypmp4", b"ftypqt", b"ftypM4V", b"ftyp3gp", b"ftypiso"),
     "a video (MP4/MOV), not a photo: move it out of the image folder, or extract frames from it first"),
)
_DAMAGED_HEIC = ("corrupt HEIC/HEIF photo (pillow-heif, installed, could not read it): export it again as JPEG "
                 "from your phone or photo software")
_RAW_SUFFIXES = {".cr2", ".cr3", ".nef", ".arw", ".dng", ".orf", ".rw2", ".raf", ".srw", ".pef"}
_VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".3gp"}


def _not_an_image_reason(path: Path) -> str:
    """Say what a file Pillow does not recognise probably is, and what to do."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(32)
    except OSError:
        head = b""
    for signatures, reason in _FOREIGN:
        if any(sig in head[:24] for sig in signatures):
            if reason is _FOREIGN[0][1] and _heic_plugin():  # the plugin is there and could not read it either
                return _DAMAGED_HEIC
            return reason
    suffix = path.suffix.lower()
    if suffix in _RAW_SUFFIXES:
        return (f"a camera RAW file ({suffix}), which the course does not decode: export it as JPEG from your "
                "photo software (or convert it with the rawpy package) and scan again")
    if suffix in _VIDEO_SUFFIXES:
        return "a video, not a photo: move it out of the image folder, or extract frames from it first"
    if suffix in (".heic", ".heif", ".avif"):
        return _DAMAGED_HEIC if _heic_plugin() else _FOREIGN[0][1]
    return "not an image (Pillow does not recognise the content)"


def _ends_with_png_end_chunk(path: Path) -> bool:
    """Say whether a PNG file ends with its IEND chunk (``tf.io.decode_png`` fails on a file cut short there)."""
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 12))
        return fh.read() == b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _heic_plugin() -> bool:
    """Say whether pillow-heif (the ``heic`` extra) can be imported, i.e. Pillow has been taught HEIC."""
    try:
        import pillow_heif  # noqa: F401
    except ImportError:
        return False
    return True


def _register_optional_plugins() -> None:
    """Let Pillow read HEIC/HEIF photos when pillow-heif (the ``heic`` extra) is installed."""
    try:
        import pillow_heif
    except ImportError:
        return
    pillow_heif.register_heif_opener()


def exif_orientation(im: Any) -> int:
    """Return the EXIF Orientation tag of an open Pillow image (1 = upright; 1 when absent or unreadable)."""
    try:
        value = im.getexif().get(0x0112, 1)  # 0x0112: Orientation
        return int(value) if int(value) in range(1, 9) else 1
    except Exception:  # noqa: BLE001 - a broken EXIF block just means "no rotation known"
        return 1


def classify(path: str | os.PathLike, class_name: str = "") -> FileVerdict:
    """Decide whether one file is a usable, convertible or unusable image (the file is only read).

    Never raises: any failure to read or decode becomes an ``unusable``
    verdict with the reason (``tests/test_fuzz_images.py`` fuzzes this).
    A JPEG stored sideways with an EXIF Orientation tag is ``converted``
    (the copy is turned upright), so every reader sees the same pixels.

    Args:
        path: The file.
        class_name: Its class, copied into the verdict. Defaults to "".

    Returns:
        A :class:`FileVerdict`.
    """
    from PIL import Image, UnidentifiedImageError

    _register_optional_plugins()
    path = Path(path)
    fmt, mode, size, orientation = "", "", (0, 0), 1
    try:
        size_bytes = path.stat().st_size
        if size_bytes == 0:
            return FileVerdict(path, class_name, UNUSABLE, "empty file (0 bytes)")
        with Image.open(path) as im:
            fmt, mode, size = im.format or "", im.mode, im.size
            im.verify()  # structure and checksums, without decoding pixels
        limit = Image.MAX_IMAGE_PIXELS
        if limit and size[0] * size[1] > limit:  # decoding it would take GBs (and Pillow only warns)
            return FileVerdict(path, class_name, UNUSABLE, f"too large to decode safely ({size[0]}x{size[1]} = "
                               f"{size[0] * size[1] / 1e6:.0f} megapixels; resize it below "
                               f"{limit / 1e6:.0f} megapixels first)", fmt, mode, size)
        with Image.open(path) as im:
            im.load()  # decode every pixel: catches truncated and corrupt data
            orientation = exif_orientation(im)
            hashes = _hashes(path, im, orientation)
    except UnidentifiedImageError:
        return FileVerdict(path, class_name, UNUSABLE, _not_an_image_reason(path))
    except Image.DecompressionBombError as exc:
        return FileVerdict(path, class_name, UNUSABLE, f"too large to decode safely ({exc})", fmt, mode, size)
    except FileNotFoundError:
        return FileVerdict(path, class_name, UNUSABLE, "file not found")
    except PermissionError as exc:
        return FileVerdict(path, class_name, UNUSABLE, f"unreadable ({exc.strerror})")
    except MemoryError:
        return FileVerdict(path, class_name, UNUSABLE, f"too large to decode ({size[0]}x{size[1]} declared)", fmt)
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds on damaged files; each is a verdict
        text = str(exc) or type(exc).__name__
        kind = "truncated" if "truncat" in text.lower() else "corrupt"
        return FileVerdict(path, class_name, UNUSABLE, f"{kind} {fmt or 'image'} ({text})", fmt, mode, size)
    if min(size) < 1:
        return FileVerdict(path, class_name, UNUSABLE, f"{fmt or 'image'} of size {size[0]}x{size[1]}", fmt, mode,
                           size)
    if orientation != 1:
        turned = "upright copy" if orientation in (3, 6, 8) else "copy with the stored flip/rotation applied"
        return FileVerdict(path, class_name, CONVERTED, f"{fmt} with EXIF orientation {orientation} (stored "
                           f"rotated) -> {turned}", fmt, mode, size, *hashes)
    if fmt == "PNG" and not _ends_with_png_end_chunk(path):  # Pillow reads it, TensorFlow's decoder refuses it
        return FileVerdict(path, class_name, CONVERTED, "PNG without its complete end chunk (cut short?) -> "
                           "re-encoded copy", fmt, mode, size, *hashes)
    if fmt in _DIRECT_FORMATS and mode == "RGB":
        return FileVerdict(path, class_name, USABLE, "", fmt, mode, size, *hashes)
    what = {"L": "grayscale", "LA": "grayscale with alpha", "RGBA": "RGBA (alpha channel)", "P": "palette",
            "PA": "palette with alpha", "CMYK": "CMYK", "1": "1-bit black and white", "I;16": "16-bit",
            "I;16B": "16-bit", "I;16L": "16-bit", "I": "32-bit integer", "F": "32-bit float",
            "YCbCr": "YCbCr", "LAB": "Lab", "HSV": "HSV", "RGBX": "RGBX"}.get(mode, mode)
    reason = f"{fmt} {what}" if fmt in _DIRECT_FORMATS else f"{fmt} format ({what})"
    return FileVerdict(path, class_name, CONVERTED, f"{reason} -> RGB", fmt, mode, size, *hashes)


def _hashes(path: Path, im: Any, orientation: int) -> tuple[str, str]:
    """Return (sha256 of the bytes, perceptual hash of the upright pixels) of a decoded image."""
    import imagehash
    from PIL import ImageOps

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    upright = ImageOps.exif_transpose(im) if orientation != 1 else im
    small = upright.convert("RGB") if upright.mode not in ("RGB", "L") else upright
    small = small.copy()
    small.thumbnail((256, 256))  # phash looks at 32x32 anyway; shrinking first keeps big photos cheap
    return digest, str(imagehash.phash(small))


@dataclasses.dataclass(frozen=True)
class DuplicateGroup:
    """Files showing the same picture.

    Attributes:
        files: The files (at least two), sorted by path.
        kind: ``"exact"`` (identical bytes) or ``"near"`` (perceptual hashes
            within the distance given to :meth:`ScanReport.duplicate_groups`).
        across_classes: The files sit in different class folders: at least one
            label is wrong.
    """

    files: tuple[FileVerdict, ...]
    kind: str
    across_classes: bool


def _near_pairs(hashes: list[int], max_distance: int) -> list[tuple[int, int]]:
    """Index pairs whose 64-bit hashes differ in at most ``max_distance`` (<= 6) bits.

    Pigeonhole: split a hash into 8 bytes; two hashes within 6 bits share at
    least 2 of the 8 bytes at the same positions, so bucketing by every pair of
    byte positions (28 keys per hash) finds all candidates without comparing
    all pairs (50,000 hashes: 1.4 M keys instead of 1.25 G comparisons).
    """
    import itertools

    if max_distance > 6:
        raise ValueError("max_distance above 6 is not supported (the bucketing guarantee needs <= 6).")
    buckets: dict[tuple, list[int]] = collections.defaultdict(list)
    for idx, h in enumerate(hashes):
        parts = [(h >> (8 * k)) & 0xFF for k in range(8)]
        for a, b in itertools.combinations(range(8), 2):
            buckets[(a, b, parts[a], parts[b])].append(idx)
    pairs = set()
    for members in buckets.values():
        for i, j in itertools.combinations(members, 2):
            if (i, j) not in pairs and bin(hashes[i] ^ hashes[j]).count("1") <= max_distance:
                pairs.add((i, j))
    return sorted(pairs)


def scan(root: str | os.PathLike, *, workers: int | None = None, strict: bool = True,
         progress: bool = True) -> ScanReport:
    """Look at every file under a class-per-folder tree and classify it.

    Args:
        root: The folder holding one subfolder per class.
        workers: Threads decoding images in parallel. Defaults to the CPU count.
        strict: Raise :class:`FolderError` for a tree that cannot be trained
            on (fewer than two classes, a class without usable images).
            Defaults to True.
        progress: Show a progress bar for folders of 200 files or more (live
            in notebooks and terminals, silent in logs). Defaults to True.

    Returns:
        A :class:`ScanReport`.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        NotADirectoryError: ``root`` is a file.
        FolderError: No class subfolders, a single class, or a class folder
            without images (with ``strict``).
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"The folder {root} does not exist. Pass the folder that holds one subfolder per "
                                "class, e.g. my_photos/ with my_photos/cats/*.jpg and my_photos/dogs/*.jpg.")
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is a file, not a folder. Pass the folder that holds one subfolder per "
                                 "class.")
    class_dirs = _class_dirs(root)
    ignored = [(p, data.ignored_reason(p.name) or "") for p in sorted(root.iterdir())
               if data.ignored_reason(p.name) is not None]
    nested: dict[Path, str] = {}
    loose = [p for p in root.iterdir() if p.is_file() and data.ignored_reason(p.name) is None]
    if not class_dirs:
        found = f"{len(loose)} files directly inside it" if loose else "nothing inside it"
        raise FolderError(f"{root} has no class subfolders ({found}). Put each class's images in its own "
                          f"subfolder: {root}/<class name>/<image files>.")
    if len(class_dirs) < 2 and strict:
        raise FolderError(f"{root} has a single class folder ({class_dirs[0].name!r}); a classifier needs at least "
                          "two. Add a subfolder per class.")
    jobs = [(path, d.name) for d in class_dirs for path in _walk(d, ignored, nested, d.name)]
    verdicts: list[FileVerdict] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool, \
            features.progress_bar(len(jobs), f"scanning {root.name}", unit="file",
                                  enabled=progress and len(jobs) >= 200) as bar:
        for verdict in pool.map(lambda job: classify(*job), jobs):
            verdicts.append(verdict)
            bar.update(1)
    report = ScanReport(root, [d.name for d in class_dirs], verdicts, ignored, nested)
    if loose:
        warnings.warn(f"{len(loose)} files directly in {root} (outside any class folder) are ignored, e.g. "
                      f"{loose[0].name!r}.", stacklevel=2)
    if strict:
        empty = [name for name, c in report.counts().items() if c["images"] == 0]
        if empty:
            details = ", ".join(f"{name!r} ({report.counts()[name][UNUSABLE]} unusable files)" for name in empty)
            raise FolderError(f"Class folders without any usable image: {details}. Add images to them or remove "
                              f"the folders.\n{report.summary()}")
        if report.imbalance() >= 3:
            warnings.warn(f"Classes are imbalanced (largest / smallest = {report.imbalance():.1f}).", stacklevel=2)
    return report


def _safe_output(root: Path, output: Path) -> None:
    root_r, out_r = root.resolve(), output.resolve()
    if out_r == root_r or root_r in out_r.parents:
        raise FolderError(f"The output folder {output} is inside your image folder {root}; choose a folder "
                          "outside it, so your folder stays unchanged.")
    if out_r in root_r.parents:
        raise FolderError(f"The output folder {output} contains your image folder {root}; choose another one.")


def to_rgb(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write an RGB PNG copy of any image PIL reads (the conversion behind the ``converted`` verdict).

    16-bit and float images are scaled to 0..255, transparency becomes white,
    palette, greyscale and CMYK images become RGB, an animation keeps its first
    frame, an EXIF Orientation tag is applied (the copy is upright). ``src`` is
    only read.

    Args:
        src: The image file.
        dst: The PNG to write (its folder is created).

    Returns:
        ``dst`` as a path.
    """
    from PIL import Image, ImageOps

    _register_optional_plugins()
    src, dst = Path(src), Path(dst)
    with Image.open(src) as im:
        im.seek(0)  # first frame of an animation
        im.load()  # some formats (PNG) read their EXIF block only with the pixels
        if exif_orientation(im) != 1:
            im = ImageOps.exif_transpose(im)  # stored sideways: turn upright, as photo viewers do
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            import numpy as np

            arr = np.asarray(im, dtype=np.float64)
            top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
            im = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8))
        elif im.mode == "F":
            import numpy as np

            arr = np.asarray(im, dtype=np.float64)
            arr = (arr - arr.min()) / max(arr.max() - arr.min(), 1e-12) * 255.0
            im = Image.fromarray(arr.astype(np.uint8))
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))  # transparent -> white
            rgb = Image.alpha_composite(background, rgba).convert("RGB")
        else:
            rgb = im.convert("RGB")
        dst.parent.mkdir(parents=True, exist_ok=True)
        rgb.save(dst, format="PNG")
    return dst


def _clean_name(f: FileVerdict, used: set[str]) -> str:
    """Return a unique file name, with the right extension, for the copy of ``f`` in a clean tree."""
    stem = f.path.stem or "image"
    ext = ".png" if f.verdict == CONVERTED else _DIRECT_FORMATS[f.image_format]
    if f.verdict == USABLE and f.path.suffix.lower() in ({".jpg", ".jpeg"} if ext == ".jpg" else {".png"}):
        ext = f.path.suffix
    name = f"{stem}{ext}"
    if name in used:  # same stem in a nested folder or with another extension
        name = f"{stem}_{hashlib.sha1(str(f.path).encode(), usedforsecurity=False).hexdigest()[:8]}{ext}"
    used.add(name)
    return name


def _clean_names(report: ScanReport) -> dict[FileVerdict, str]:
    """Return the file name each trainable file gets in a clean tree (the same on every call)."""
    used: dict[str, set[str]] = collections.defaultdict(set)
    return {f: _clean_name(f, used[f.class_name]) for f in report.files if f.verdict != UNUSABLE}


def _keep_duplicates_together(report: ScanReport, split_dir: Path, max_distance: int) -> int:
    """Move files so that every duplicate group sits in one split (the split most of it landed in).

    Returns:
        How many files were moved.
    """
    names = _clean_names(report)
    splits = [s.name for s in sorted(split_dir.iterdir(), key=lambda p: ["train", "val", "test"].index(p.name))]
    moved = 0
    for group in report.duplicate_groups(max_distance):
        where = {f: next(s for s in splits if (split_dir / s / f.class_name / names[f]).exists())
                 for f in group.files}
        votes = collections.Counter(where.values())
        target = max(splits, key=lambda s: (votes[s], -splits.index(s)))  # most members; ties go to train
        for f, split in where.items():
            if split != target:
                (split_dir / target / f.class_name).mkdir(parents=True, exist_ok=True)
                os.replace(split_dir / split / f.class_name / names[f], split_dir / target / f.class_name / names[f])
                moved += 1
    return moved


def write_clean_tree(report: ScanReport, output: str | os.PathLike) -> Path:
    """Write a class-per-folder tree holding only trainable images: usable ones and RGB copies of converted ones.

    Usable files are linked (or copied where links are not possible); converted
    ones are written as RGB PNG. Your folder is only read.

    Args:
        report: From :func:`scan`.
        output: A new folder outside the scanned one (replaced if it was made here before).

    Returns:
        The folder.
    """
    out = Path(output)
    _safe_output(report.root, out)
    _replace_own_folder(out)
    for name in report.class_names:
        (out / name).mkdir(parents=True, exist_ok=True)
    for f, name in _clean_names(report).items():
        dst = out / f.class_name / name
        if f.verdict == CONVERTED:
            to_rgb(f.path, dst)
        else:
            try:
                dst.symlink_to(f.path.resolve())
            except OSError:  # e.g. Windows without the right to create links
                shutil.copy2(f.path, dst)
    (out / _SPLIT_MARKER).write_text(f"written by tlhelpers.folders from {report.root}\n", encoding="utf-8")
    return out


def _replace_own_folder(out: Path) -> None:
    """Delete a folder this module wrote before (it carries the marker file); refuse any other non-empty folder."""
    if out.exists():
        if (out / _SPLIT_MARKER).is_file():
            shutil.rmtree(out)
        elif any(out.iterdir()):
            raise FolderError(f"The output folder {out} already exists and was not written by tlhelpers; choose a "
                              "new or empty folder (nothing was deleted).")


@dataclasses.dataclass
class SplitResult:
    """What :func:`split_folder` wrote.

    Attributes:
        output: The split folder (``train/``, ``val/`` and, if any, ``test/``, each class-per-folder).
        counts: ``{split: {class: number of images}}``.
        report: The :class:`ScanReport` of your folder (skipped files and reasons).
        moved_duplicates: Files moved after splitting so that no duplicate
            group straddles two splits (no photo in both train and test).
    """

    output: Path
    counts: dict[str, dict[str, int]]
    report: ScanReport
    moved_duplicates: int = 0

    def summary(self) -> str:
        """Return a small table of images per split and class."""
        classes = self.report.class_names
        lines = [f"{'split':6s} " + " ".join(f"{c[:12]:>12s}" for c in classes) + f" {'total':>7s}"]
        for split, per_class in self.counts.items():
            lines.append(f"{split:6s} " + " ".join(f"{per_class.get(c, 0):12d}" for c in classes)
                         + f" {sum(per_class.values()):7d}")
        if self.moved_duplicates:
            lines.append(f"{self.moved_duplicates} duplicate images were moved so that each group of duplicates "
                         "sits in one split (no photo in both train and test).")
        return "\n".join(lines)


def split_folder(
    root: str | os.PathLike,
    output: str | os.PathLike,
    *,
    ratio: Sequence[float] | None = (0.8, 0.1, 0.1),
    fixed: Sequence[int] | int | None = None,
    seed: int = 42,
    report: ScanReport | None = None,
    duplicate_distance: int = 4,
) -> SplitResult:
    """Split a class-per-folder tree into train/val[/test] with split-folders, skipping unusable files.

    Runs :func:`scan` (unless given its report), writes a clean tree (usable
    images linked, converted ones as RGB PNG) to ``output/clean`` and splits it
    into ``output/split``. Running again with the same seed gives the same
    split; the previous output is replaced, never mixed.

    Args:
        root: Your folder, one subfolder per class (only read).
        output: Where to write; must be outside ``root``.
        ratio: ``(train, val)`` or ``(train, val, test)`` fractions summing to 1.
            Defaults to ``(0.8, 0.1, 0.1)``. Ignored when ``fixed`` is given.
        fixed: Images per class for ``val`` (int) or ``(val, test)``; the rest
            goes to train. Defaults to None.
        seed: Shuffle seed. Defaults to 42.
        report: A scan of ``root`` you already have. Defaults to None (scan now).
        duplicate_distance: See :meth:`ScanReport.duplicate_groups`: each
            group of duplicates ends up in one split. Defaults to 4.

    Returns:
        A :class:`SplitResult`.
    """
    import sys

    import splitfolders
    import splitfolders.split as splitfolders_split

    root, out = Path(root).expanduser(), Path(output).expanduser()
    _safe_output(root, out)
    report = report or scan(root)
    _replace_own_folder(out)
    clean = write_clean_tree(report, out / "clean")
    split_dir = out / "split"
    (clean / _SPLIT_MARKER).unlink()  # not an image: keep it out of split-folders' view
    if fixed is not None:
        fixed_t = (fixed,) if isinstance(fixed, int) else tuple(fixed)
        smallest = min(c["images"] for c in report.counts().values())
        if sum(fixed_t) >= smallest:
            raise FolderError(f"fixed={fixed_t} asks for {sum(fixed_t)} images per class outside train, but the "
                              f"smallest class has only {smallest} images. Use smaller numbers or a ratio.")
    # split-folders draws a tqdm bar on stderr: live on a terminal, carriage-return soup in a log, so off there
    bar_before = splitfolders_split.use_tqdm
    splitfolders_split.use_tqdm = bar_before and sys.stderr.isatty()
    try:
        if fixed is not None:
            splitfolders.fixed(str(clean), output=str(split_dir), seed=seed, fixed=fixed_t, oversample=False,
                               move=False)
        else:
            if ratio is None or len(ratio) not in (2, 3) or abs(sum(ratio) - 1.0) > 1e-6:
                raise ValueError(f"ratio must be (train, val) or (train, val, test) summing to 1, got {ratio}.")
            splitfolders.ratio(str(clean), output=str(split_dir), seed=seed, ratio=tuple(ratio), move=False)
    finally:
        splitfolders_split.use_tqdm = bar_before
    moved = _keep_duplicates_together(report, split_dir, duplicate_distance)
    (out / _SPLIT_MARKER).write_text(f"written by tlhelpers.folders from {root}\n", encoding="utf-8")
    counts = {split.name: {c.name: sum(1 for _ in c.iterdir()) for c in _class_dirs(split)}
              for split in sorted(split_dir.iterdir(), key=lambda p: ["train", "val", "test"].index(p.name))}
    total = sum(sum(c.values()) for c in counts.values())
    expected = sum(c["images"] for c in report.counts().values())
    if total != expected:  # never lose an image silently
        raise RuntimeError(f"The split holds {total} images but the scan found {expected} trainable ones.")
    return SplitResult(split_dir, counts, report, moved)


def load_splits(
    split_dir: str | os.PathLike | dict[str, Path],
    *,
    image_size: int,
    batch_size: int,
    seed: int = 42,
) -> tuple[dict[str, tf.data.Dataset], list[str]]:
    """Load the splits of a folder as batches of raw 0..255 RGB images: the one split loader.

    Every file of each split is loaded (decoded and resized per image, cached
    as uint8, prefetched); ``train`` is reshuffled each epoch. Every split must
    hold the same classes as ``train``.

    Args:
        split_dir: ``SplitResult.output`` (holding ``train/``, ``val/``, maybe
            ``test/``), or a mapping ``{"train": folder, "val": folder, ...}``.
        image_size: Side length in pixels.
        batch_size: Batch size.
        seed: Shuffle seed. Defaults to 42.

    Returns:
        ``({"train": ds, "val": ds, ["test": ds]}, class names)``.

    Raises:
        FileNotFoundError: No ``train`` split.
        FolderError: A split's classes differ from train's.
    """
    if isinstance(split_dir, dict):
        parts = {split: Path(folder) for split, folder in split_dir.items()}
    else:
        parts = {s: Path(split_dir) / s for s in ("train", "val", "test") if (Path(split_dir) / s).is_dir()}
    if "train" not in parts:
        raise FileNotFoundError(f"{split_dir} has no train/ folder. Pass SplitResult.output from split_folder().")
    out: dict[str, Any] = {}
    names: list[str] | None = None
    for split, folder in sorted(parts.items(), key=lambda kv: kv[0] != "train"):  # train first
        ds, split_names = data.image_folder(folder, image_size=image_size, batch_size=batch_size,
                                            shuffle=split == "train", seed=seed, all_files=True)
        if names is not None and split_names != names:
            raise FolderError(f"{split} ({folder}) has classes {split_names}, train has {names}.")
        names, out[split] = split_names, ds
    return out, names or []


def train_val_datasets(
    root: str | os.PathLike, work_dir: str | os.PathLike, *, image_size: int, batch_size: int, seed: int = 42,
    val_fraction: float = 0.2,
) -> tuple[Any, Any, list[str], str]:
    """Get checked training and validation pipelines from a folder, whatever its layout.

    ``root/train`` + ``root/validation`` (or ``root/val``): each is scanned and
    a clean copy written under ``work_dir``. Otherwise ``root`` is one
    class-per-folder tree and is split with :func:`split_folder`.

    Args:
        root: The data folder (only read).
        work_dir: Where clean copies and splits go (outside ``root``).
        image_size: Side length in pixels.
        batch_size: Batch size.
        seed: Split and shuffle seed. Defaults to 42.
        val_fraction: Validation share when ``root`` must be split. Defaults to 0.2.

    Returns:
        ``(train_ds, val_ds, class_names, description)``; the description says
        what was used and how many files were skipped.
    """
    root, work = Path(root).expanduser(), Path(work_dir).expanduser()
    val_dir = next((root / n for n in ("validation", "val") if (root / n).is_dir()), None)
    if (root / "train").is_dir() and val_dir is not None:
        reports = {"train": scan(root / "train"), "val": scan(val_dir)}
        parts = {}
        for split, rep in reports.items():
            parts[split] = write_clean_tree(rep, work / "clean" / split)
            (parts[split] / _SPLIT_MARKER).unlink()
        datasets, names = load_splits(parts, image_size=image_size, batch_size=batch_size, seed=seed)
        skipped = sum(len(r.skipped) for r in reports.values())
        text = f"{root}: train/ and {val_dir.name}/ used as given; {skipped} unusable files skipped"
        return datasets["train"], datasets["val"], names, text
    result = split_folder(root, work / "split_data", ratio=(1 - val_fraction, val_fraction), seed=seed)
    splits, names = load_splits(result.output, image_size=image_size, batch_size=batch_size, seed=seed)
    text = (f"{root}: split {1 - val_fraction:.0%} / {val_fraction:.0%} with seed {seed}; "
            f"{len(result.report.skipped)} unusable files skipped")
    return splits["train"], splits["val"], names, text
