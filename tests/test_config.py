import dataclasses

import pytest

from tlhelpers import config


def test_smoke_switch_reads_environment(monkeypatch):
    monkeypatch.setenv("TLH_SMOKE", "1")
    assert config.smoke_mode()
    assert config.settings(1).mode == "smoke"
    assert "SMOKE" in config.describe_mode(1)
    for off in ("0", "", "no"):
        monkeypatch.setenv("TLH_SMOKE", off)
        assert not config.smoke_mode()
    assert config.settings("01").mode == "full"
    assert "FULL" in config.describe_mode()


def test_smoke_and_full_differ_only_in_numbers(monkeypatch):
    monkeypatch.setenv("TLH_SMOKE", "1")
    smoke = config.settings(1)
    monkeypatch.setenv("TLH_SMOKE", "0")
    full = config.settings(1)
    assert [f.name for f in dataclasses.fields(smoke)] == [f.name for f in dataclasses.fields(full)]
    assert smoke.train_examples and smoke.train_examples < 1000
    assert full.train_examples is None  # full mode uses the whole dataset
    assert full.image_size == 96 and full.epochs == 10  # the article's setting


def test_unknown_lesson_lists_known_ones():
    with pytest.raises(KeyError, match="Known lessons: 01, 02, 02-folder, 03"):
        config.settings(99)


def test_settings_extra_get():
    s = config.LessonSettings(mode="smoke", image_size=8, batch_size=2, epochs=1, extra=(("k", 3),))
    assert s.get("k") == 3 and s.get("missing", "d") == "d"


def test_cache_root_respects_env(monkeypatch, tmp_path):
    monkeypatch.setenv("TLH_CACHE_DIR", str(tmp_path / "c"))
    assert config.cache_root() == tmp_path / "c"
    assert (tmp_path / "c").is_dir()


def test_assets_dir_env_and_missing_asset(monkeypatch, tmp_path):
    (tmp_path / "thing").mkdir()
    monkeypatch.setenv("TLH_ASSETS_DIR", str(tmp_path))
    assert config.assets_dir() == tmp_path
    assert config.require_asset("thing") == tmp_path / "thing"
    with pytest.raises(FileNotFoundError, match="TLH_ASSETS_DIR"):
        config.require_asset("nope")
    monkeypatch.setenv("TLH_ASSETS_DIR", str(tmp_path / "absent"))
    assert config.assets_dir() is None
