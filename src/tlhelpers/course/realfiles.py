"""The small real files of the laptop tier: where they are cached, how they are downloaded and checked.

What belongs here: the few small, public, real files that make smoke mode (the
README's first command, sized for a laptop CPU) genuine transfer learning
instead of numbers on generated images: the ``cats_and_dogs_filtered`` photos
(68 MB), the MobileNetV2-0.35 ImageNet weights (2 MB), the MobileNetV2-0.35
TF-Hub feature vector (5 MB), the SqueezeNet v1.1 weights (3 MB) and CIFAR-10
through TensorFlow Datasets (170 MB). :data:`FILES` lists them (from the one
registry of downloads, :mod:`tlhelpers.downloads`, with their addresses and
checksums); :func:`locate` finds a cached copy; :func:`ensure` downloads a
missing one once (progress, checksum, resume after an interruption) when the
network is there; :func:`prepare` does that for one lesson and says,
as the lesson's first output, whether its numbers will mean anything.

Where they live: ``<cache root>/assets/`` (see :func:`tlhelpers.course.config.cache_root`)
holds them with the same layout as the course's offline assets folder
(``../shared/assets``, or ``$TLH_ASSETS_DIR``), which counts as an
already-filled cache. CIFAR-10 lives where TFDS puts it,
``<cache root>/tensorflow_datasets``.

Settings (environment variables):

* ``TLH_OFFLINE=1``: never use the network; missing files are replaced by
  generated data (and every number is marked meaningless).
* ``TLH_MIRROR=<base URL>``: fetch every file from ``<base URL>/<file name>``
  instead of its original address (a course mirror, a teacher's laptop on the
  room's Wi-Fi, or a test server).

Full mode downloads the full-size datasets and weights itself (see
:mod:`tlhelpers.datasets`, :mod:`tlhelpers.backbones`, :mod:`tlhelpers.cli.prefetch`).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import socket
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from tlhelpers import atomic, downloads
from tlhelpers.course import config

__all__ = [
    "OFFLINE_ENV",
    "MIRROR_ENV",
    "RealFile",
    "FILES",
    "LESSON_FILES",
    "DownloadError",
    "is_tfds_download_failure",
    "roots",
    "locate",
    "network_allowed",
    "url_of",
    "urls_of",
    "download",
    "ensure",
    "content_digest",
    "prepare",
]

OFFLINE_ENV = "TLH_OFFLINE"
MIRROR_ENV = "TLH_MIRROR"
_TRUE = {"1", "true", "yes", "on"}
_CHUNK = 1 << 16


#: One file of the registry (:class:`tlhelpers.downloads.Download`).
RealFile = downloads.Download
#: The laptop tier's real files, by key: the registry's files that some lesson's smoke mode reads.
FILES: dict[str, RealFile] = downloads.smoke_files()
#: What each lesson's smoke mode (the laptop tier) reads, in the registry's order.
LESSON_FILES: dict[str, tuple[str, ...]] = {
    lesson: tuple(key for key, spec in FILES.items() if lesson in spec.smoke_lessons)
    for lesson in ("01", "02", "03", "04", "05", "06", "07")}

_network_failed: list[str] = []  # the first network failure of this process; later calls don't retry
_rejected: set[str] = set()  # keys whose download failed its checks in this process


class DownloadError(RuntimeError):
    """A download failed its checks (the message says what was wrong and what to do)."""


def roots() -> list[Path]:
    """Return the folders searched for the real files, in order.

    ``<cache root>/assets`` (where downloads go), then the course's offline
    assets folder when there is one (an already-filled cache).
    """
    found = [config.cache_root() / "assets"]
    shared = config.assets_dir()
    if shared is not None:
        found.append(shared)
    return found


def _tfds_ready(folder: Path) -> bool:
    return any(folder.glob("*/dataset_info.json"))


def locate(key: str) -> Path | None:
    """Find a cached copy of a real file.

    Args:
        key: A key of :data:`FILES`.

    Returns:
        Its path in the first root holding it (CIFAR-10: the TFDS data
        folder), or None.
    """
    spec = FILES[key]
    if spec.filename.startswith("tfds:"):
        folder = config.cache_root() / spec.relative
        return folder.parent if _tfds_ready(folder) else None
    for root in roots():
        path = root / spec.relative
        if path.exists() and (not spec.marker or (path / spec.marker).exists()):
            return path
    return None


def network_allowed() -> bool:
    """Tell whether a download may be tried (``TLH_OFFLINE`` unset and no network failure seen yet)."""
    if os.environ.get(OFFLINE_ENV, "").strip().lower() in _TRUE:
        return False
    return not _network_failed


def _reachable(url: str, timeout: float = 3.0) -> bool:
    """Tell quickly whether the host of ``url`` accepts a connection (DNS and TCP only, a few seconds at most).

    TFDS and urllib retry for minutes without network; this answers first.
    """
    parsed = urllib.parse.urlsplit(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def urls_of(key: str) -> list[str]:
    """Return the addresses a file is downloaded from, in order.

    ``$TLH_MIRROR/<file name>`` alone when a mirror is set; else the current
    official address, then older ones (upstream moves files).
    """
    spec = FILES[key]
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    return [f"{mirror.rstrip('/')}/{spec.filename}"] if mirror else [spec.url, *spec.also]


def url_of(key: str) -> str:
    """Return the first address a file is downloaded from (see :func:`urls_of`)."""
    return urls_of(key)[0]


def content_digest(folder: str | os.PathLike, suffixes: tuple[str, ...] = (".jpg",)) -> tuple[int, str]:
    """Fold the SHA-256 of every photo under a folder into one digest.

    Each line is ``<relative path> <sha256>`` plus a newline, sorted; the digest
    is the SHA-256 of those lines. Equal digests mean the same photos under the
    same names.

    Args:
        folder: The folder.
        suffixes: File suffixes that count (lower case). Defaults to ``.jpg``.

    Returns:
        ``(number of photos, digest)``.
    """
    folder = Path(folder)
    lines = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in suffixes:
            lines.append(f"{path.relative_to(folder).as_posix()} {_sha256(path)}\n")
    return len(lines), hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


class _Progress:
    """A download progress line: redrawn on a terminal, one line per fifth elsewhere (logs, notebooks)."""

    def __init__(self, name: str, total: int | None, start: int) -> None:
        self.name, self.total, self.done = name, total, start
        self.tty = sys.stdout.isatty()
        self.next_mark = 0.2
        self.t0 = time.monotonic()

    def update(self, n: int) -> None:
        self.done += n
        if not self.total:
            return
        frac = self.done / self.total
        if self.tty:
            print(f"\r  {self.name}: {_mb(self.done)} / {_mb(self.total)} ({frac:.0%})", end="", flush=True)
        elif frac >= self.next_mark and frac < 1:
            print(f"  {self.name}: {_mb(self.done)} / {_mb(self.total)} ({frac:.0%})", flush=True)
            while self.next_mark <= frac:
                self.next_mark += 0.2

    def close(self) -> None:
        end = "\n" if self.tty else ""
        print(f"{end}  {self.name}: {_mb(self.done)} in {time.monotonic() - self.t0:.1f} s", flush=True)


def _fetch_to(url: str, part: Path, name: str, *, attempts: int = 3, timeout: float = 30.0) -> None:
    """Download ``url`` into ``part``, resuming from what ``part`` already holds.

    Raises:
        DownloadError: The server answered with an HTTP error (e.g. 404).
        OSError: The network failed on every attempt (``part`` is kept for a later resume).
    """
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise DownloadError(f"{url} is not an http(s) address: the course downloads only from web addresses "
                            f"(check {MIRROR_ENV} if you set it).")
    last: Exception | None = None
    for _ in range(attempts):
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"User-Agent": "tlhelpers"})  # noqa: S310 - http(s) only
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only
                if have and response.status != 206:  # the server ignored the range: start over
                    have = 0
                length = response.headers.get("Content-Length")
                total = have + int(length) if length else None
                if have:
                    print(f"  {name}: resuming at {_mb(have)}", flush=True)
                progress = _Progress(name, total, have)
                with open(part, "ab" if have else "wb") as out:
                    while True:
                        block = response.read(_CHUNK)
                        if not block:
                            break
                        out.write(block)
                        progress.update(len(block))
                progress.close()
                if total is not None and part.stat().st_size < total:
                    raise http.client.IncompleteRead(b"", total - part.stat().st_size)
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # the range starts at the end: the file is complete
                return
            raise DownloadError(f"{url} answered HTTP {exc.code} ({exc.reason}): the file is not there. Check the "
                                f"address (or {MIRROR_ENV}, which must serve the file under the name "
                                f"{part.name.removesuffix('.part')!r}).") from exc
        except (OSError, http.client.HTTPException) as exc:
            last = exc
            if isinstance(exc, urllib.error.URLError) and not part.exists():
                break  # no connection at all: retrying does not help
            print(f"  {name}: interrupted ({exc.__class__.__name__}); trying to resume", flush=True)
    raise OSError(f"could not download {url}: {last}")


def _unpacked_folder(tmp: Path, spec: RealFile) -> Path:
    name = Path(spec.relative).name
    for cand in (tmp / name, tmp):
        if (cand / spec.marker).exists():
            return cand
    hits = [p.parent for p in tmp.rglob(spec.marker)]
    if hits:
        return min(hits, key=lambda p: len(p.parts))
    raise DownloadError(f"{spec.filename} holds no {spec.marker!r}: it is not {spec.what}. "
                        f"Delete it from your mirror or use the original address ({spec.url}).")


def download(key: str, *, root: str | os.PathLike | None = None) -> Path:
    """Download one real file into the cache, check it, and unpack it.

    An interrupted download is resumed (HTTP range) on the next attempt, within
    this call and in a later one (the partial file waits in
    ``<root>/.downloads``). Nothing appears at the final path before every
    check has passed. When an address fails (HTTP error, no connection, or a
    file that fails the checks), the next address of :func:`urls_of` is tried,
    held to the same checks.

    Args:
        key: A key of :data:`FILES` (not CIFAR-10, which TFDS downloads).
        root: The cache folder. Defaults to ``<cache root>/assets``.

    Returns:
        The file or folder, at ``<root>/<relative>``.

    Raises:
        DownloadError: The file failed its checksum or is not what it should be
            (the bad download is deleted; the message says what to do).
        OSError: The network failed (a partial download is kept for a resume).
    """
    spec = FILES[key]
    if spec.filename.startswith("tfds:"):
        raise ValueError(f"{key} is downloaded by TensorFlow Datasets, not by realfiles.download.")
    root = Path(root) if root is not None else config.cache_root() / "assets"
    target = root / spec.relative
    staging = root / ".downloads"
    staging.mkdir(parents=True, exist_ok=True)
    part = staging / (spec.filename + ".part")
    urls = urls_of(key)
    for i, url in enumerate(urls):
        try:
            return _download_from(url, spec, part, root, target)
        except (DownloadError, OSError) as exc:
            if i == len(urls) - 1:
                raise
            print(f"  {exc} Trying the next address.", flush=True)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _download_from(url: str, spec: RealFile, part: Path, root: Path, target: Path) -> Path:
    """Fetch ``url`` into ``part``, check it against ``spec`` and move it to ``target``."""
    print(f"Downloading {spec.what} (about {_mb(spec.size)}) from {url}", flush=True)
    _fetch_to(url, part, spec.filename)
    if spec.sha256 is not None:
        got = _sha256(part)
        if got != spec.sha256:
            part.unlink()
            raise DownloadError(
                f"{spec.filename} from {url} failed its checksum (SHA-256 {got[:16]}..., expected "
                f"{spec.sha256[:16]}...): the download is corrupt or the file changed at the source. It was deleted; "
                f"nothing was installed. Run again, or set {MIRROR_ENV} to a good copy.")
    target.parent.mkdir(parents=True, exist_ok=True)
    if spec.unpack is None:
        os.replace(part, target)
        return target
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.key}-", dir=root))
    try:
        try:
            atomic.extract(part, tmp)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, atomic.UnsafeArchiveError) as exc:
            part.unlink()
            raise DownloadError(f"{spec.filename} from {url} is not a readable {spec.unpack} archive ({exc}). "
                                "It was deleted; run again, or set "
                                f"{MIRROR_ENV} to a good copy.") from exc
        folder = _unpacked_folder(tmp, spec)
        if spec.content is not None:
            got = content_digest(folder)
            if got != spec.content:
                part.unlink()
                raise DownloadError(
                    f"{spec.filename} from {url} does not hold the expected photos ({got[0]:,} photos, digest "
                    f"{got[1][:16]}...; expected {spec.content[0]:,}, {spec.content[1][:16]}...): the download is "
                    f"corrupt or the archive changed at the source. It was deleted; nothing was installed. Run "
                    f"again, or set {MIRROR_ENV} to a good copy.")
        os.replace(folder, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    part.unlink(missing_ok=True)
    return target


def is_tfds_download_failure(exc: BaseException) -> bool:
    """Say whether ``exc`` is TFDS reporting a failed download (its ``DownloadError``, a checksum mismatch)."""
    return type(exc).__name__ in ("DownloadError", "NonMatchingChecksumError") and type(exc).__module__.startswith(
        "tensorflow_datasets.")


def _download_tfds(name: str) -> Path:
    import tensorflow_datasets as tfds

    data_dir = config.cache_root() / "tensorflow_datasets"
    print(f"Downloading {name} through TensorFlow Datasets into {data_dir} (once)", flush=True)
    tfds.builder(name, data_dir=str(data_dir)).download_and_prepare()
    return data_dir


def ensure(key: str) -> Path | None:
    """Return a real file, downloading it once when it is missing and the network allows.

    Only smoke mode (the laptop tier) downloads here; the rehearsal never does,
    and full mode downloads its own full-size data elsewhere.

    Args:
        key: A key of :data:`FILES`.

    Returns:
        Its path, or None when it is neither cached nor downloadable (the
        caller then uses generated data and says so). A download that fails
        its checks is reported (what was wrong, what to do), deleted, and not
        tried again in this process.
    """
    found = locate(key)
    if found is not None or not config.smoke_mode() or not network_allowed() or key in _rejected:
        return found
    spec = FILES[key]
    tfds_name = spec.filename.split(":", 1)[1] if spec.filename.startswith("tfds:") else None
    urls = [spec.url] if tfds_name else urls_of(key)
    url = next((u for u in urls if _reachable(u)), None)
    if url is None:
        url = urls[0]
        _network_failed.append(url)
        print(f"No network ({urllib.parse.urlsplit(url).hostname} unreachable): {spec.what} is not downloaded, and no "
              f"further downloads are tried in this run. Set {OFFLINE_ENV}=1 to skip the check.", flush=True)
        return None
    try:
        return _download_tfds(tfds_name) if tfds_name else download(key)
    except DownloadError as exc:
        _rejected.add(key)  # not downloaded again in this run
        print(f"NOTICE: {exc}", flush=True)
        return None
    except OSError as exc:  # the connection broke: no network from here on
        _network_failed.append(str(exc))
        print(f"No network ({exc.__class__.__name__}: {str(exc)[:160]}); no further downloads are tried in this "
              f"run. Set {OFFLINE_ENV}=1 to skip the attempt.", flush=True)
        return None
    except Exception as exc:  # TFDS's own download errors: report, carry on; anything else is a bug: re-raised
        if not (tfds_name and is_tfds_download_failure(exc)):
            raise
        _rejected.add(key)
        print(f"NOTICE: downloading {spec.what} failed ({exc.__class__.__name__}: {str(exc)[:200]}); a generated "
              "stand-in is used instead.", flush=True)
        return None


def prepare(lesson: int | str) -> str:
    """Make a lesson's real files ready and say what its numbers will mean (the lesson's first output).

    In smoke mode (the laptop tier) every small real file the lesson reads is
    looked up in the cache and downloaded once when missing. Whatever is
    still missing is replaced by generated data where the lesson loads it: the
    returned text then starts with ``GENERATED DATA`` and says that the numbers
    computed from it are meaningless; :func:`tlhelpers.course.report.note_generated`
    marks every metric logged from then on, in the output and the run
    summary. In full mode and the rehearsal this only describes the mode.

    Args:
        lesson: Lesson number, e.g. ``3`` or ``"03"``.

    Returns:
        Text for the lesson to print.
    """
    key = config.lesson_key(lesson)
    text = config.describe_mode(lesson)
    if not config.smoke_mode():
        return text
    lines = [text]
    missing = []
    for name in LESSON_FILES.get(key, ()):
        where = ensure(name)
        lines.append(f"  {FILES[name].what}: {where if where else 'NOT AVAILABLE, generated stand-in instead'}")
        if where is None:
            missing.append(name)
    real = [FILES[n].what for n in LESSON_FILES.get(key, ()) if n not in missing]
    if missing:
        head = ["GENERATED DATA: " + "; ".join(FILES[m].what for m in missing) + ": neither cached nor "
                "downloadable, so generated images or random weights stand in, and every number computed from "
                f"them is meaningless (marked so). Run once with network, or set {MIRROR_ENV} to a mirror, or "
                "TLH_ASSETS_DIR to the course's offline assets folder."]
        if real:
            head.append("Real data: " + "; ".join(real) + ".")
    else:
        head = ["Real data: every file this lesson reads is a real photo set or real ImageNet weights."]
    lines[:0] = head
    return "\n".join(lines)
