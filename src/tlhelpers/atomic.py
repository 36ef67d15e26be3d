"""Files that are either complete or absent, whenever the process is killed.

What belongs here: the one way the package writes a file that something reads
back later (a resume, a cache, a report). Each is written under a temporary
name beside its target (``.partial.<name>``, so suffixes such as
``.weights.h5`` or ``.npz`` that writers check are kept), then moved into place
with ``os.replace``, which is atomic on one file system: a kill at any instant
leaves the old file or the new one, never half of one. Leftover temporary files
are harmless and :func:`remove_partials` clears them. An archive is unpacked
the same way (:func:`unpack`): into a temporary folder, renamed when whole.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["PARTIAL_PREFIX", "write_with", "write_text", "write_json", "remove_partials", "UnsafeArchiveError",
           "extract", "unpack"]

#: The prefix of a file being written; never read by anything.
PARTIAL_PREFIX = ".partial."

_replace = os.replace  # the commit point; tests replace it to stop a write at that instant


def write_with(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Write ``path`` atomically: ``write(temporary_path)`` writes the whole file, then it takes the final name.

    Args:
        path: The final path.
        write: Called with the temporary path (same folder, same suffixes); it must write the file there.

    Returns:
        ``path`` as a Path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(PARTIAL_PREFIX + path.name)
    try:
        write(partial)
        _replace(partial, path)
    finally:
        if partial.exists():  # the write failed or was interrupted: leave no partial file behind when we can
            partial.unlink()
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write a UTF-8 text file atomically."""
    return write_with(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON atomically (floats of NumPy types included)."""
    return write_text(path, json.dumps(obj, indent=indent, default=float))


def remove_partials(folder: str | os.PathLike) -> int:
    """Delete the temporary files a killed process left in ``folder`` (not recursive); return how many."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    stale = [p for p in folder.iterdir() if p.name.startswith(PARTIAL_PREFIX) and p.is_file()]
    for p in stale:
        p.unlink()
    return len(stale)


class UnsafeArchiveError(ValueError):
    """An archive holds a member whose path would land outside the folder it is unpacked into."""


def extract(archive: str | os.PathLike, into: str | os.PathLike) -> None:
    """Unpack a ``.zip`` or ``.tar.gz``/``.tgz`` into ``into``, refusing members that would land outside it.

    Raises:
        UnsafeArchiveError: A member's path is absolute or climbs out (``..``); nothing is unpacked.
        zipfile.BadZipFile, tarfile.TarError: The archive is damaged.
    """
    archive, into = Path(archive), Path(into)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if member.startswith(("/", "\\")) or ".." in Path(member.replace("\\", "/")).parts:
                    raise UnsafeArchiveError(f"{archive.name} holds an unsafe path {member!r}; not unpacked.")
            zf.extractall(into)  # noqa: S202 - every member's path was checked just above
    else:
        with tarfile.open(archive, "r:*") as tf:
            tf.extractall(into, filter="data")  # the "data" filter refuses unsafe members itself


def unpack(archive: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Unpack an archive into the folder ``target`` so that a kill at any instant leaves all of it or none.

    The members go into ``.partial.<name>`` beside ``target``, which takes its
    final name once every member is out. An existing ``target`` is replaced.

    Args:
        archive: A ``.zip`` or ``.tar.gz`` file (only read).
        target: The folder to create.

    Returns:
        ``target``.
    """
    target = Path(target)
    partial = target.with_name(PARTIAL_PREFIX + target.name)
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        extract(archive, partial)
        shutil.rmtree(target, ignore_errors=True)
        _replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target
