"""`tlh prefetch --dry-run` lists what the lessons use; `tlh doctor` sees what is missing and what is cached."""

import io
import os
import re
from pathlib import Path

import pytest

from tlhelpers import cli, tfhub
from tlhelpers.cli import prefetch
from tlhelpers.course import config, standins

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _lesson_sources():
    """Each lesson's number and the text of its jupytext script."""
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py")):
        yield path.name[:2], path.read_text(encoding="utf-8")


def test_manifest_covers_every_dataset_and_model_the_lessons_reference():
    lessons = dict(_lesson_sources())
    assert set(lessons) == set(prefetch.lessons())  # every lesson has a manifest entry, and the reverse
    for lesson, text in lessons.items():
        keys = {a.key for a in prefetch.manifest([lesson])}
        for name in re.findall(r'load_tfds\("([^"]+)"', text):
            assert f"tfds:{name}" in keys, (lesson, name)
        if "get_cats_and_dogs(" in text:
            assert "file:cats_and_dogs_filtered" in keys, lesson
        if "get_flower_photos(" in text:
            assert "file:flower_photos" in keys, lesson
        if "decode_imagenet(" in text:
            assert "file:imagenet_class_index" in keys, lesson
        parts = re.findall(r'course\.settings\(("?[\w-]+"?)\)', text)  # another part's settings, e.g. "02-folder"
        assert "config.settings(" not in text, lesson  # lessons name settings through course (tested elsewhere)
        for key in [*parts, *re.findall(r"course\.start\((\d+)\)", text)]:
            s = config.full_settings(key.strip('"'))
            if s.get("handle"):
                assert f"hub:{tfhub.get(s.get('handle')).name}" in keys, (lesson, key)
            for backbone in [s.get("backbone"), s.get("classifier"), s.get("sweep_backbone"),
                             *(s.get("candidates") or ())]:
                if backbone and backbone != "scratch":
                    assert any(a.kind == "weights" and dict(a.spec)["backbone"] == backbone.split("@")[0]
                               for a in prefetch.manifest([lesson])), (lesson, backbone)


def test_dry_run_lists_every_asset_with_source_and_size(capsys, tmp_path, monkeypatch):
    for var in ("TLH_CACHE_DIR", "TFDS_DATA_DIR", "KERAS_HOME", "TFHUB_CACHE_DIR"):  # --dir sets them: restore after
        monkeypatch.setenv(var, os.environ.get(var) or str(tmp_path / "placeholder"))
        if var != "TLH_CACHE_DIR":
            monkeypatch.delenv(var)
    assert cli.main(["prefetch", "--dry-run", "--dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assets = prefetch.manifest()
    assert f"{len(assets)} assets" in out
    for a in assets:
        assert a.name in out and a.source in out
    assert out.count("source: ") == len(assets) and out.count("to download, ") + out.count("cached (") == len(assets)
    assert cli.main(["prefetch", "--dry-run", "--lesson", "99"]) == 2
    assert "Known lessons: 01" in capsys.readouterr().err


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TLH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TLH_ASSETS_DIR", str(tmp_path / "no_assets"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache" / "tfhub"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "cache"


def test_doctor_reports_missing_caches_and_sees_cached_ones(empty_cache):
    buf = io.StringIO()
    missing = prefetch.doctor(buf)
    text = buf.getvalue()
    assert all(missing[lesson] for lesson in prefetch.lessons())  # nothing cached: every lesson misses something
    for lesson in prefetch.lessons():
        assert f"fix: tlh prefetch --lesson {int(lesson)}" in text
    assert "Offline assets: not found" in text and "CPU cores:" in text
    # cache lesson 01's only download (CIFAR-10 in TFDS) by hand: doctor must now call lesson 01 ready
    info = empty_cache / "tensorflow_datasets" / "cifar10" / "3.0.2" / "dataset_info.json"
    info.parent.mkdir(parents=True)
    info.write_text("{}")
    buf = io.StringIO()
    missing = prefetch.doctor(buf)
    assert missing["01"] == [] and "01: full mode offline READY" in buf.getvalue()
    assert "tfds:cifar10" not in missing["03"] and missing["03"]  # shared asset found, others still missing


def test_weights_and_hub_modules_are_found_where_the_lessons_look(empty_cache):
    asset = next(a for a in prefetch.manifest(["04"]) if a.kind == "weights" and "VGG16" in a.name)
    assert prefetch.is_cached(asset) is None
    target = empty_cache / "keras" / "models" / dict(asset.spec)["filename"]
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")
    assert prefetch.is_cached(asset) == target
    hub_asset = next(a for a in prefetch.manifest(["02"]) if a.kind == "hub")
    assert prefetch.is_cached(hub_asset) is None
    module = standins.make_tiny_module(prefetch._hub_dirs(dict(hub_asset.spec)["url"])[0], input_size=8, output_dim=2)
    assert prefetch.is_cached(hub_asset) == module


def test_prefetch_offline_fails_with_a_message(empty_cache, monkeypatch, capsys):
    import tensorflow_datasets as tfds

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(tfds, "builder", offline)
    assert cli.main(["prefetch", "--lesson", "1"]) == 1
    err = capsys.readouterr().err
    assert "Could not download" in err and "network unreachable" in err


def test_doctor_reports_strategy_precision_and_xla(empty_cache, monkeypatch):
    buf = io.StringIO()
    prefetch.doctor(buf)
    text = buf.getvalue()
    assert "Strategy: default strategy (one device)" in text and "Precision: float32 (no GPU)" in text
    assert "XLA: off (Keras turns jit_compile='auto' off on machines without a GPU)" in text
    monkeypatch.setenv("TLH_REHEARSE", "2gpu")  # what a Kaggle T4 x2 gets
    buf = io.StringIO()
    prefetch.doctor(buf)
    text = buf.getvalue()
    assert "MirroredStrategy over 2 replicas" in text and "mixed_float16" in text
    assert "XLA: off (Keras turns jit_compile='auto' off under a tf.distribute strategy)" in text
