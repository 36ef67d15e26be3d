"""Lesson 01 in smoke mode without network: at most one quick reachability check, none with TLH_OFFLINE=1.

The lesson runs in a real kernel whose Python has every non-loopback socket
connection and DNS lookup blocked and logged (via a sitecustomize module).
Nothing is cached, so the laptop tier would download CIFAR-10 if it could.
"""

import os
import textwrap
from pathlib import Path

import pytest

from tlhelpers.cli import runner

ROOT = Path(__file__).resolve().parents[1]

BLOCKER = textwrap.dedent('''
    import os, socket
    _LOG = os.environ["TLH_NET_LOG"]
    _LOCAL = ("127.", "::1", "localhost", "0.0.0.0")

    def _note(what):
        with open(_LOG, "a") as f:
            f.write(what + "\\n")

    _connect = socket.socket.connect
    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else str(address)
        if not (self.family == socket.AF_UNIX or str(host).startswith(_LOCAL)):
            _note(f"connect {address}")
            raise OSError("network blocked by test")
        return _connect(self, address)
    socket.socket.connect = connect

    _getaddrinfo = socket.getaddrinfo
    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not str(host).startswith(_LOCAL):
            _note(f"getaddrinfo {host}")
            raise socket.gaierror("network blocked by test")
        return _getaddrinfo(host, *args, **kwargs)
    socket.getaddrinfo = getaddrinfo
''')


@pytest.mark.parametrize("offline", [True, False], ids=["TLH_OFFLINE=1", "network-blocked"])
def test_lesson01_smoke_runs_with_network_blocked(tmp_path, monkeypatch, offline):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    log = tmp_path / "net.log"
    log.write_text("")
    monkeypatch.setenv("TLH_NET_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("TLH_CACHE_DIR", str(tmp_path / "cache"))  # nothing cached before
    if offline:
        monkeypatch.setenv("TLH_OFFLINE", "1")
    else:
        monkeypatch.delenv("TLH_OFFLINE", raising=False)
    result = runner.run_lesson(ROOT / "notebooks" / "01_scratch_cnn_cifar10.ipynb", tmp_path / "out", smoke=True)
    assert result.status == "passed", result.error
    attempts = log.read_text().splitlines()
    if offline:
        assert attempts == [], f"network access attempted:\n{log.read_text()}"
    else:  # one reachability check of CIFAR-10's host, then nothing: no retries, no TFDS download loop
        assert attempts == ["getaddrinfo www.cs.toronto.edu"], attempts
    assert result.generated and set(result.meaningless) == set(result.metrics)  # generated data: every number
    assert "test_accuracy" in result.metrics  # the lesson still ran to its measurement (a meaningless one)
    assert result.seconds < 180
