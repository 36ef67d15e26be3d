"""The laptop tier's downloads, against a local HTTP server on 127.0.0.1 (TLH_MIRROR overrides every address).

Served: the real files of the offline assets (weights, a zip of the photos, a tar.gz of the TF-Hub module),
byte-for-byte, or altered to prove the checks reject them. Nothing here touches the internet.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import shutil
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from conftest import real_asset
from tlhelpers.course import config, realfiles

ASSETS = config.assets_dir()
needs_assets = pytest.mark.usefixtures("assets_root")  # skipped without them, failed in CI (conftest.real_asset)


class _Server:
    """A tiny HTTP file server: supports Range, counts requests, can cut a response in half once."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[tuple[str, str | None]] = []
        self.cut_once: set[str] = set()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.lstrip("/").split("?")[0]
                rng = self.headers.get("Range")
                server.requests.append((name, rng))
                body = server.files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if name in server.cut_once:
                    server.cut_once.discard(name)
                    self.wfile.write(body[start:start + (len(body) - start) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def gets(self, name: str) -> list[str | None]:
        return [rng for n, rng in self.requests if n == name]


@pytest.fixture()
def laptop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Smoke mode with an empty cache and no offline assets folder; the network state of earlier tests forgotten."""
    empty = tmp_path / "no_assets"
    empty.mkdir()
    monkeypatch.setenv("TLH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TLH_ASSETS_DIR", str(empty))
    monkeypatch.setenv("TLH_SMOKE", "1")
    monkeypatch.delenv("TLH_REHEARSE", raising=False)
    monkeypatch.delenv(realfiles.OFFLINE_ENV, raising=False)
    monkeypatch.setattr(realfiles, "_network_failed", [])
    monkeypatch.setattr(realfiles, "_rejected", set())
    return tmp_path / "cache" / "assets"


def _real(key: str) -> bytes:
    return (ASSETS / realfiles.FILES[key].relative).read_bytes()


def _zip_of(folder: Path, top: str, change: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                rel = path.relative_to(folder).as_posix()
                data = path.read_bytes()
                if rel == change:
                    data = data[:-10] + b"\0" * 10
                zf.writestr(f"{top}/{rel}", data)
        zf.writestr(f"{top}/vectorize.py", "# the real archive holds a script too\n")
    return buf.getvalue()


def test_every_pinned_checksum_matches_the_offline_assets():
    real_asset(".")
    for spec in realfiles.FILES.values():
        if spec.sha256:
            assert hashlib.sha256(_real(spec.key)).hexdigest() == spec.sha256, spec.key
    spec = realfiles.FILES["cats_and_dogs_filtered"]
    assert realfiles.content_digest(ASSETS / spec.relative) == spec.content


@needs_assets
def test_good_download_once_then_nothing(laptop: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    key = "mobilenet_v2_0.35"
    name = realfiles.FILES[key].filename
    with _Server({name: _real(key)}) as server:
        monkeypatch.setenv(realfiles.MIRROR_ENV, server.url)
        assert realfiles.locate(key) is None
        path = realfiles.ensure(key)
        assert path == laptop / realfiles.FILES[key].relative
        assert hashlib.sha256(path.read_bytes()).hexdigest() == realfiles.FILES[key].sha256
        assert "MB in" in capsys.readouterr().out  # the progress's last line
        assert realfiles.ensure(key) == path  # a second run downloads nothing
        assert server.gets(name) == [None]
        assert not list((laptop / ".downloads").iterdir())  # no partial file left behind


@needs_assets
def test_checksum_mismatch_is_rejected_with_a_clear_message(laptop: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    key = "squeezenet"
    spec = realfiles.FILES[key]
    bad = bytearray(_real(key))
    bad[1000] ^= 0xFF
    with _Server({spec.filename: bytes(bad)}) as server:
        monkeypatch.setenv(realfiles.MIRROR_ENV, server.url)
        with pytest.raises(realfiles.DownloadError, match="failed its checksum") as info:
            realfiles.download(key)
        assert "Run again" in str(info.value) and realfiles.MIRROR_ENV in str(info.value)
        assert not (laptop / spec.relative).exists()
        assert not list((laptop / ".downloads").iterdir())
        # Through ensure (what the lessons call): the message is printed, nothing installed, not tried twice.
        assert realfiles.ensure(key) is None
        assert "failed its checksum" in capsys.readouterr().out
        assert realfiles.ensure(key) is None
        assert len(server.gets(spec.filename)) == 2


@needs_assets
def test_interrupted_download_resumes(laptop: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    key = "mobilenet_v2_0.35"
    spec = realfiles.FILES[key]
    body = _real(key)
    with _Server({spec.filename: body}) as server:
        monkeypatch.setenv(realfiles.MIRROR_ENV, server.url)
        server.cut_once.add(spec.filename)
        path = realfiles.download(key)
        ranges = server.gets(spec.filename)
        assert ranges[0] is None and ranges[1] == f"bytes={len(body) // 2}-", ranges  # resumed, not restarted
        assert path.read_bytes() == body
        assert "resuming at" in capsys.readouterr().out
        # A partial file left by a killed earlier run is resumed too.
        path.unlink()
        (laptop / ".downloads" / (spec.filename + ".part")).write_bytes(body[:12345])
        realfiles.download(key)
        assert server.gets(spec.filename)[-1] == "bytes=12345-"
        assert path.read_bytes() == body


@needs_assets
def test_photo_archive_is_checked_photo_by_photo(laptop: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    key = "cats_and_dogs_filtered"
    spec = realfiles.FILES[key]
    source = ASSETS / spec.relative
    with _Server({spec.filename: _zip_of(source, "cats_and_dogs_filtered", change="train/dogs/dog.7.jpg")}) as server:
        monkeypatch.setenv(realfiles.MIRROR_ENV, server.url)
        with pytest.raises(realfiles.DownloadError, match="does not hold the expected photos"):
            realfiles.download(key)
        assert not (laptop / spec.relative).exists()
        assert [p.name for p in laptop.iterdir()] == [".downloads"]  # no half-unpacked folder either
        server.files[spec.filename] = _zip_of(source, "cats_and_dogs_filtered")
        path = realfiles.ensure(key)
    assert path == laptop / spec.relative and realfiles.locate(key) == path
    assert len(list((path / "train" / "cats").iterdir())) == 999
    assert len(list((path / "validation" / "dogs").iterdir())) == 500


@needs_assets
def test_tfhub_module_archive_unpacks_to_a_savedmodel(laptop: Path, monkeypatch: pytest.MonkeyPatch):
    key = "mobilenet_v2_035_224_feature_vector"
    spec = realfiles.FILES[key]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:  # the TF-Hub compressed format: files at the top level
        for path in sorted((ASSETS / spec.relative).rglob("*")):
            tf.add(path, arcname=path.relative_to(ASSETS / spec.relative).as_posix(), recursive=False)
    with _Server({spec.filename: buf.getvalue()}) as server:
        monkeypatch.setenv(realfiles.MIRROR_ENV, server.url)
        path = realfiles.ensure(key)
    assert (path / "saved_model.pb").read_bytes() == (ASSETS / spec.relative / "saved_model.pb").read_bytes()
    assert (path / "variables").is_dir()


def test_no_network_falls_back_once_and_offline_never_tries(laptop: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    with _Server({}) as server:
        port = server.url.rsplit(":", 1)[1]
    monkeypatch.setenv(realfiles.MIRROR_ENV, f"http://127.0.0.1:{port}")  # closed: connection refused
    assert realfiles.ensure("squeezenet") is None
    out = capsys.readouterr().out
    assert "No network" in out and realfiles.OFFLINE_ENV in out
    assert not realfiles.network_allowed()
    assert realfiles.ensure("mobilenet_v2_0.35") is None  # not tried again in this run
    assert "No network" not in capsys.readouterr().out
    monkeypatch.setattr(realfiles, "_network_failed", [])
    with _Server({realfiles.FILES["squeezenet"].filename: b"x"}) as server:
        monkeypatch.setenv(realfiles.MIRROR_ENV, server.url)
        monkeypatch.setenv(realfiles.OFFLINE_ENV, "1")
        assert realfiles.ensure("squeezenet") is None
        assert server.requests == []


def test_a_missing_file_on_the_mirror_is_reported_as_such(laptop: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    with _Server({}) as server:
        monkeypatch.setenv(realfiles.MIRROR_ENV, server.url)
        with pytest.raises(realfiles.DownloadError, match="answered HTTP 404"):
            realfiles.download("squeezenet")
        assert realfiles.ensure("squeezenet") is None
    out = capsys.readouterr().out
    assert "HTTP 404" in out and "No network" not in out and realfiles.network_allowed()


def test_the_offline_assets_folder_counts_as_a_filled_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    shared = tmp_path / "shared_assets"
    (shared / "keras" / "models").mkdir(parents=True)
    target = shared / realfiles.FILES["mobilenet_v2_0.35"].relative
    target.write_bytes(b"weights")
    monkeypatch.setenv("TLH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TLH_ASSETS_DIR", str(shared))
    assert realfiles.locate("mobilenet_v2_0.35") == target
    own = tmp_path / "cache" / "assets" / realfiles.FILES["mobilenet_v2_0.35"].relative
    own.parent.mkdir(parents=True)
    shutil.copy(target, own)
    assert realfiles.locate("mobilenet_v2_0.35") == own  # the course cache comes first
    assert realfiles.locate("squeezenet") is None
    monkeypatch.delenv(realfiles.MIRROR_ENV, raising=False)
    assert realfiles.url_of("squeezenet") == realfiles.FILES["squeezenet"].url


@needs_assets
def test_tlh_prefetch_smoke_fetches_a_lessons_files_then_doctor_calls_it_real(laptop: Path, monkeypatch, capsys):
    from tlhelpers import cli
    from tlhelpers.cli import prefetch

    for name in ("TFDS_DATA_DIR", "KERAS_HOME", "TFHUB_CACHE_DIR"):  # the command points these at its cache
        monkeypatch.delenv(name, raising=False)
    files = {realfiles.FILES[k].filename: _real(k) for k in ("mobilenet_v2_0.35", "squeezenet")}
    files["cats_and_dogs_filtered.zip"] = _zip_of(ASSETS / "cats_and_dogs_filtered", "cats_and_dogs_filtered")
    with _Server(files) as server:
        monkeypatch.setenv(realfiles.MIRROR_ENV, server.url)
        monkeypatch.delenv("TLH_SMOKE")  # the command switches smoke mode on for itself
        assert "missing cats_and_dogs_filtered, mobilenet_v2_0.35, squeezenet" in prefetch.smoke_readiness("04")
        assert cli.main(["prefetch", "--smoke", "--lesson", "4", "--dry-run"]) == 0
        assert capsys.readouterr().out.count("to download, about") == 3 and not server.requests
        assert cli.main(["prefetch", "--smoke", "--lesson", "4"]) == 0
        assert "3 of 3 real files ready" in capsys.readouterr().out
        assert sorted(n for n, _ in server.requests) == sorted(files)
        assert prefetch.smoke_readiness("04").startswith("real data (3 real file(s) cached")
        assert cli.main(["prefetch", "--smoke", "--lesson", "4"]) == 0  # nothing downloaded twice
        assert len(server.requests) == 3


def test_cats_and_dogs_tries_the_tutorials_current_address_first():
    urls = realfiles.urls_of("cats_and_dogs_filtered")
    assert urls[0] == "https://download.mlcc.google.com/mledu-datasets/cats_and_dogs_filtered.zip"
    assert urls[1] == "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"


@needs_assets
@pytest.mark.parametrize("first", ["missing", "corrupt"])
def test_a_failing_first_address_falls_through_to_the_next_checked_by_digest(
        first, laptop: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    import dataclasses

    key = "mobilenet_v2_0.35"
    spec = realfiles.FILES[key]
    good = _real(key)
    bad = bytearray(good)
    bad[500] ^= 0xFF
    files = {f"new/{spec.filename}": bytes(bad), f"old/{spec.filename}": good}
    if first == "missing":
        del files[f"new/{spec.filename}"]  # the current address answers 404
    with _Server(files) as server:
        moved = dataclasses.replace(spec, url=f"{server.url}/new/{spec.filename}",
                                    also=(f"{server.url}/old/{spec.filename}",))
        monkeypatch.setitem(realfiles.FILES, key, moved)
        path = realfiles.ensure(key)
        out = capsys.readouterr().out
    assert path == laptop / spec.relative
    assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256
    assert [n for n, _ in server.requests] == [f"new/{spec.filename}", f"old/{spec.filename}"]
    assert ("HTTP 404" if first == "missing" else "failed its checksum") in out
    assert "Trying the next address" in out
    assert not list((laptop / ".downloads").iterdir())


@needs_assets
def test_every_address_failing_its_digest_installs_nothing(laptop: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    import dataclasses

    key = "mobilenet_v2_0.35"
    spec = realfiles.FILES[key]
    bad = bytearray(_real(key))
    bad[500] ^= 0xFF
    with _Server({f"a/{spec.filename}": bytes(bad), f"b/{spec.filename}": bytes(bad)}) as server:
        monkeypatch.setitem(realfiles.FILES, key, dataclasses.replace(
            spec, url=f"{server.url}/a/{spec.filename}", also=(f"{server.url}/b/{spec.filename}",)))
        assert realfiles.ensure(key) is None
    assert "failed its checksum" in capsys.readouterr().out
    assert not (laptop / spec.relative).exists()
