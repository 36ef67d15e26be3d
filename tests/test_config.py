import dataclasses
from pathlib import Path

import pytest

from tlhelpers.course import config


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
    assert smoke.train_examples and smoke.train_examples < 1000
    assert full.train_examples is None  # full mode uses the whole dataset
    assert full.image_size == 96 and full.epochs == 10  # the article's setting


@pytest.mark.parametrize("lesson", config.lesson_keys())
def test_smoke_settings_offer_every_extra_the_full_settings_offer(monkeypatch, lesson):
    """A cell reading cfg.get("x") must find x in both modes, with a value of the same kind (no code path
    exists in one mode only)."""
    monkeypatch.setenv("TLH_SMOKE", "1")
    smoke = config.settings(lesson)
    monkeypatch.setenv("TLH_SMOKE", "0")
    full = config.settings(lesson)
    assert dict(smoke.extra).keys() == dict(full.extra).keys()
    for key, value in full.extra:
        if value is None or smoke.get(key) is None:  # an optional value (e.g. alpha: only MobileNets have one)
            continue
        # a list stays a list (e.g. lesson 04's candidates); a scalar stays a scalar (unfreeze_from may be
        # a layer index in one mode and a layer name in the other: both are what models.unfreeze takes)
        kind = (tuple, list) if isinstance(value, (tuple, list)) else (int, float, str)
        assert isinstance(smoke.get(key), kind), key
    for field in dataclasses.fields(full):
        if field.name not in ("mode", "extra"):
            assert (getattr(smoke, field.name) is None) <= (getattr(full, field.name) is None), field.name


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


@pytest.mark.parametrize("key", config.lesson_keys())
def test_describe_mode_names_every_lesson_and_part(key):
    """Every settings key, parts such as "02-folder" included, is described (it used to raise for parts)."""
    text = config.describe_mode(key)
    assert f"Lesson {key[:2]}" in text and "image" in text


def test_a_missing_asset_skips_on_a_laptop_and_fails_in_ci(monkeypatch, tmp_path):
    """conftest.real_asset: CI (TLH_REQUIRE_ASSETS=1) can never go green with its real-data tests skipped."""
    from conftest import real_asset

    monkeypatch.setenv("TLH_ASSETS_DIR", str(tmp_path / "nowhere"))
    monkeypatch.delenv("TLH_REQUIRE_ASSETS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="cats_and_dogs_filtered"):
        real_asset("cats_and_dogs_filtered")
    monkeypatch.setenv("TLH_REQUIRE_ASSETS", "1")
    with pytest.raises(pytest.fail.Exception, match="TLH_REQUIRE_ASSETS=1 and a real offline asset is missing.*"
                                                     "cats_and_dogs_filtered"):
        real_asset("cats_and_dogs_filtered")
    (tmp_path / "nowhere" / "cats_and_dogs_filtered").mkdir(parents=True)
    assert real_asset("cats_and_dogs_filtered") == tmp_path / "nowhere" / "cats_and_dogs_filtered"


def test_models_dir_is_a_lasting_place_in_full_mode_and_the_cache_in_smoke_mode(monkeypatch, tmp_path):
    """Lesson 05 saves the learner's model where lesson 06 and tlh demo find it, never in a temp folder."""
    from tlhelpers.course import config

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TLH_MODELS_DIR", raising=False)
    monkeypatch.delenv("TLH_REHEARSE", raising=False)
    monkeypatch.setenv("TLH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TLH_SMOKE", "0")
    assert config.models_dir() == tmp_path / "my_models"
    monkeypatch.setenv("TLH_SMOKE", "1")
    assert config.models_dir() == tmp_path / "cache" / "models"
    monkeypatch.setenv("TLH_MODELS_DIR", str(tmp_path / "mine"))
    assert config.models_dir() == tmp_path / "mine" and (tmp_path / "mine").is_dir()
    lessons = Path(__file__).resolve().parents[1] / "notebooks"
    five = next(lessons.glob("05_*.py")).read_text(encoding="utf-8")
    six = next(lessons.glob("06_*.py")).read_text(encoding="utf-8")
    assert 'model_path = course.models_dir() / "my_classifier.keras"' in five  # the lessons' name for it
    assert 'course.models_dir() / "my_classifier.keras"' in six
    from tlhelpers import course

    assert course.models_dir() == config.models_dir()
