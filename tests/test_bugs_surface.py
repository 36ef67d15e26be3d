"""Where the package turns an expected failure into advice, a bug still surfaces as itself, with its traceback.

Each test plants a bug (a ``TypeError`` or ``KeyError`` where a download or a load happens) where a broad
``except Exception`` used to turn it into a fallback, and checks that the expected failure next to it still
becomes the clear message.
"""

from __future__ import annotations

import http.server
import threading

import pytest

from tlhelpers import backbones, kerascompat
from tlhelpers.cli import prefetch
from tlhelpers.course import realfiles


@pytest.fixture
def server():
    """A local HTTP server: ``/missing`` answers 404, ``/file`` answers 8 bytes."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/file":
                self.send_response(200)
                self.send_header("Content-Length", "8")
                self.end_headers()
                self.wfile.write(b"12345678")
            else:
                self.send_error(404)

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_keras_get_file_failures_are_recognised_and_nothing_else(server, tmp_path):
    import keras

    with pytest.raises(Exception) as not_found:
        keras.utils.get_file("x.bin", f"{server}/missing", cache_dir=str(tmp_path))
    assert kerascompat.is_download_failure(not_found.value)
    with pytest.raises(ValueError) as bad_hash:
        keras.utils.get_file("y.bin", f"{server}/file", cache_dir=str(tmp_path), file_hash="0" * 64)
    assert kerascompat.is_download_failure(bad_hash.value)
    assert kerascompat.is_download_failure(ConnectionResetError("reset"))
    for bug in (TypeError("bug"), KeyError("weights"), ValueError("shape mismatch"), Exception("something else")):
        assert not kerascompat.is_download_failure(bug)


def test_build_base_turns_a_failed_weights_download_into_advice_and_lets_a_bug_through(monkeypatch):
    import keras

    monkeypatch.setenv("TLH_SMOKE", "0")
    monkeypatch.setattr(backbones, "resolve_weights", lambda *a, **k: "imagenet")

    def failing(**_):
        raise Exception("URL fetch failure on https://storage.googleapis.com/x.h5: None -- unreachable")

    monkeypatch.setattr(keras.applications, "MobileNetV2", failing)
    with pytest.raises(RuntimeError, match="Could not download the ImageNet weights of MobileNetV2"):
        backbones.build_base("MobileNetV2", image_size=96)

    def buggy(**_):  # a bug whose message mentions fetching: the old message-text guess called it a download
        raise TypeError("fetch_weights() got an unexpected keyword argument 'alhpa'")

    monkeypatch.setattr(keras.applications, "MobileNetV2", buggy)
    with pytest.raises(TypeError, match="alhpa"):
        backbones.build_base("MobileNetV2", image_size=96)


def test_download_factory_weights_lets_a_bug_through(monkeypatch, server, tmp_path):
    import keras

    monkeypatch.setenv("TLH_CACHE_DIR", str(tmp_path))
    spec = backbones.Backbone("Fake", "", "imagenet_utils", "tf", 32, 8, "fake", factory=lambda **_: None,
                              weights_file="fake.h5", weights_url=f"{server}/missing")
    with pytest.raises(RuntimeError, match="Could not download the Fake weights"):
        backbones.download_factory_weights(spec)
    monkeypatch.setattr(keras.utils, "get_file", lambda *a, **k: (_ for _ in ()).throw(KeyError("bug")))
    with pytest.raises(KeyError):
        backbones.download_factory_weights(spec)


def test_prefetch_fetch_gives_one_message_for_a_failed_download_and_lets_a_bug_through(monkeypatch):
    asset = next(a for a in prefetch.manifest() if a.kind == "weights")
    monkeypatch.setattr(prefetch, "is_cached", lambda a: None)
    monkeypatch.setattr(prefetch, "_fetch_weights", lambda spec: (_ for _ in ()).throw(ConnectionError("refused")))
    with pytest.raises(RuntimeError, match="Could not download .* Check the network"):
        prefetch.fetch(asset)
    monkeypatch.setattr(prefetch, "_fetch_weights", lambda spec: (_ for _ in ()).throw(KeyError("bug")))
    with pytest.raises(KeyError):
        prefetch.fetch(asset)


def test_a_bug_in_the_downloader_is_not_turned_into_a_generated_stand_in(monkeypatch):
    monkeypatch.setenv("TLH_SMOKE", "1")
    monkeypatch.delenv("TLH_OFFLINE", raising=False)
    monkeypatch.setattr(realfiles, "locate", lambda key: None)
    monkeypatch.setattr(realfiles, "network_allowed", lambda: True)
    monkeypatch.setattr(realfiles, "_reachable", lambda url: True)
    monkeypatch.setattr(realfiles, "download", lambda key: (_ for _ in ()).throw(TypeError("bug in download")))
    with pytest.raises(TypeError, match="bug in download"):
        realfiles.ensure("cats_and_dogs_filtered")


def test_a_preset_converter_that_fails_to_load_is_an_error_not_raw_pixels(tmp_path):
    pytest.importorskip("keras_hub")
    from tlhelpers import kerashub
    from tlhelpers.course import standins

    preset = standins.make_preset(tmp_path / "tiny", image_size=32)
    assert kerashub.load_converter(str(preset)) is not None
    text = (preset / "image_converter.json").read_text()
    (preset / "image_converter.json").write_text(text[: len(text) // 2])  # half a file: a broken converter
    with pytest.raises(ValueError):
        kerashub.load_converter(str(preset))
    (preset / "image_converter.json").unlink()
    assert kerashub.load_converter(str(preset)) is None  # a preset without a converter: None, and models says so
