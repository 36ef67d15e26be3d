"""Fuzzing the image checks: no damaged file may crash the scan, the pipeline or ``tlh predict``.

Hypothesis generates damaged variants of real images (truncated at any offset, random byte flips, random
bytes after each supported format's magic number, valid headers declaring absurd sizes). Each must get a
verdict with a reason from ``folders.classify``; ``evaluate.load_image_file`` must return pixels or raise
a ValueError naming the file; a file judged usable must decode in the training pipeline's own decoder.
Bounded to well under a minute (``max_examples`` per property).
"""

from __future__ import annotations

import io
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tlhelpers import evaluate, folders

FORMATS = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "BMP": ".bmp", "WEBP": ".webp", "TIFF": ".tif"}
MAGIC = {".jpg": b"\xff\xd8\xff\xe0", ".png": b"\x89PNG\r\n\x1a\n", ".gif": b"GIF89a", ".bmp": b"BM",
         ".webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ", ".tif": b"II*\x00", ".heic": b"\x00\x00\x00\x18ftypheic"}
FUZZ = settings(max_examples=100, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _photo() -> Image.Image:
    """A real photo when the offline assets are there (a small crop), else a drawn picture."""
    from tlhelpers.course import config

    assets = config.assets_dir()
    if assets is not None:
        first = next(iter(sorted((assets / "cats_and_dogs_filtered" / "train" / "cats").glob("*.jpg"))), None)
        if first is not None:
            with Image.open(first) as im:
                return im.convert("RGB").resize((48, 40))
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8))


SOURCES = {}
for _fmt, _ext in FORMATS.items():
    _buf = io.BytesIO()
    _photo().save(_buf, format=_fmt)
    SOURCES[_ext] = _buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _absurd(ext: str, width: int, height: int) -> bytes:
    """A structurally valid header that declares a ``width`` x ``height`` image, followed by little data."""
    if ext == ".png":
        ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        return (MAGIC[".png"] + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                + _png_chunk(b"IEND", b""))
    if ext == ".bmp":
        w, h = min(width, 2**31 - 1), min(height, 2**31 - 1)
        return b"BM" + struct.pack("<IHHI", 54 + 64, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0,
                                                                             64, 2835, 2835, 0, 0) + b"\x00" * 64
    if ext == ".gif":
        w, h = min(width, 65535), min(height, 65535)
        return b"GIF89a" + struct.pack("<HHBBB", w, h, 0, 0, 0) + b",\x00\x00\x00\x00" + struct.pack(
            "<HH", w, h) + b"\x00\x02\x02\x44\x01\x00;"
    w, h = min(width, 65535), min(height, 65535)  # JPEG: SOI, SOF0 with the size, then end
    sof = struct.pack(">BHHB", 8, h, w, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    return b"\xff\xd8" + b"\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof + b"\xff\xd9"


def _check(data: bytes, ext: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzzed{ext}"
        path.write_bytes(data)
        verdict = folders.classify(path, "c")  # must not raise
        assert (verdict.verdict == folders.USABLE) == (verdict.reason == ""), verdict  # a reason unless usable
        if verdict.verdict == folders.UNUSABLE:
            try:
                pixels = evaluate.load_image_file(path, 16)  # what tlh predict reads: it may refuse, naming it
                assert pixels.shape == (16, 16, 3)
            except ValueError as exc:
                assert str(path) in str(exc)
        else:  # a file the scan lets into training must load
            assert evaluate.load_image_file(path, 16).shape == (16, 16, 3), verdict
        if verdict.verdict == folders.USABLE:  # the training pipeline's decoder must take it
            import tensorflow as tf

            tf.io.decode_image(tf.io.read_file(str(path)), channels=3, expand_animations=False)


@FUZZ
@given(ext=st.sampled_from(sorted(SOURCES)), fraction=st.floats(0.0, 0.999))
def test_truncated_images(ext, fraction):
    data = SOURCES[ext]
    _check(data[: int(len(data) * fraction)], ext)


@FUZZ
@given(ext=st.sampled_from(sorted(SOURCES)),
       flips=st.lists(st.tuples(st.floats(0.0, 0.999), st.integers(0, 255)), min_size=1, max_size=12))
def test_random_byte_flips(ext, flips):
    data = bytearray(SOURCES[ext])
    for where, value in flips:
        data[int(len(data) * where)] = value
    _check(bytes(data), ext)


@FUZZ
@given(ext=st.sampled_from(sorted(MAGIC)), tail=st.binary(min_size=0, max_size=3000))
def test_random_bytes_after_a_magic_number(ext, tail):
    _check(MAGIC[ext] + tail, ext)


@FUZZ
@given(ext=st.sampled_from([".png", ".bmp", ".gif", ".jpg"]), width=st.integers(0, 2**32 - 1),
       height=st.integers(0, 2**32 - 1))
def test_valid_headers_declaring_absurd_sizes(ext, width, height):
    _check(_absurd(ext, width, height), ext)


@pytest.mark.parametrize("ext", sorted(SOURCES))
def test_the_undamaged_sources_are_images(ext):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"ok{ext}"
        path.write_bytes(SOURCES[ext])
        assert folders.classify(path).verdict in (folders.USABLE, folders.CONVERTED)
