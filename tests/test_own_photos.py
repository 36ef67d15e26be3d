"""A learner's own photos reach lesson 05: ``folders.open_photos`` and the lesson's photo cell.

``open_photos`` takes a folder, or a ``.zip``/``.tar.gz`` of one, and returns the folder of classes; the learner's
folder and archive are only read. Lesson 05 runs end to end from its ``MY_PHOTOS`` cell on a zip of the course's
sample photos, and lesson 06's last cell finds the model it saved.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import laptop_tier_env, real_asset
from tlhelpers import atomic, folders

ROOT = Path(__file__).resolve().parents[1]


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buf, format="PNG")
    return buf.getvalue()


def _fingerprint(path: Path) -> dict[str, str]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, payload in members.items():
            zf.writestr(name, payload)
    return path


def test_a_zip_with_a_wrapper_folder_opens_at_its_classes_and_stays_unchanged(tmp_path):
    png = _png()
    archive = _zip(tmp_path / "my_photos.zip", {"my_photos/cats/a.png": png, "my_photos/dogs/b.png": png,
                                                "__MACOSX/my_photos/._a.png": b"x", "my_photos/.DS_Store": b""})
    before = _fingerprint(archive)
    root = folders.open_photos(archive, into=tmp_path / "work")
    assert root == tmp_path / "work" / "my_photos" / "my_photos"
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["cats", "dogs"]
    assert (root / "cats" / "a.png").read_bytes() == png
    assert _fingerprint(archive) == before
    assert folders.scan(root).class_names == ["cats", "dogs"]


def test_a_tar_gz_opens_too(tmp_path):
    src = tmp_path / "src" / "pets"
    for cls in ("cats", "dogs"):
        (src / cls).mkdir(parents=True)
        (src / cls / "x.png").write_bytes(_png())
    archive = tmp_path / "pets.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(src, arcname="pets")
    root = folders.open_photos(archive, into=tmp_path / "work")
    assert sorted(p.name for p in root.iterdir()) == ["cats", "dogs"]


def test_a_folder_is_used_where_it_is_and_never_written(tmp_path):
    src = tmp_path / "my_photos"
    for cls in ("cats", "dogs"):
        (src / cls).mkdir(parents=True)
        (src / cls / "x.png").write_bytes(_png())
    before = _fingerprint(src)
    assert folders.open_photos(str(src)) == src
    assert _fingerprint(src) == before


@pytest.mark.parametrize(("make", "says"), [
    (lambda d: d / "nowhere.zip", "does not exist"),
    (lambda d: (d / "notes.txt").write_text("hi") and d / "notes.txt", "neither a folder nor"),
    (lambda d: (d / "broken.zip").write_bytes(b"PK\x03\x04 not really") and d / "broken.zip", "cannot be unpacked"),
    (lambda d: _zip(d / "loose.zip", {"a.png": _png(), "b.png": _png()}), "holds no class folders"),
    (lambda d: _zip(d / "evil.zip", {"cats/a.png": _png(), "../outside.png": _png()}), "unsafe path"),
])
def test_what_cannot_be_opened_is_named_with_what_to_do(tmp_path, make, says):
    bad = make(tmp_path)
    with pytest.raises(folders.FolderError) as info:
        folders.open_photos(bad, into=tmp_path / "work")
    assert str(bad) in str(info.value) and says in str(info.value)
    assert not (tmp_path / "outside.png").exists()


def test_upload_off_colab_says_where_it_works(tmp_path):
    with pytest.raises(folders.FolderError, match="this is not Colab.*Kaggle"):
        folders.open_photos("upload", into=tmp_path)


def test_a_kill_while_unpacking_leaves_no_half_folder(tmp_path, monkeypatch):
    archive = _zip(tmp_path / "pets.zip", {"pets/cats/a.png": _png(), "pets/dogs/b.png": _png()})

    def killed(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic, "_replace", killed)
    with pytest.raises(KeyboardInterrupt):
        folders.open_photos(archive, into=tmp_path / "work")
    assert list((tmp_path / "work").iterdir()) == []  # neither the target nor its partial folder
    monkeypatch.undo()
    assert folders.open_photos(archive, into=tmp_path / "work").name == "pets"


@pytest.mark.slow
@pytest.mark.assets
def test_lesson05_runs_from_its_photo_cell_on_a_zip_and_lesson06_finds_the_model(tmp_path, monkeypatch):
    """The learner's path: zip a photo folder, name it in MY_PHOTOS, run lesson 05; lesson 06 finds the model."""
    import nbformat

    from tlhelpers.cli import runner
    from tlhelpers.course import config

    train = real_asset("cats_and_dogs_filtered/train")
    archive = tmp_path / "upload" / "my_photos.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        for cls in ("cats", "dogs"):
            for photo in sorted((train / cls).glob("*.jpg"))[:40]:
                zf.write(photo, f"my_photos/{cls}/{photo.name}")
    before = _fingerprint(archive)

    nb = nbformat.read(ROOT / "notebooks" / "05_train_on_your_own_images.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and 'MY_PHOTOS = ""' in c.source]
    cell.source = cell.source.replace('MY_PHOTOS = ""', f"MY_PHOTOS = {str(archive)!r}")
    lesson = tmp_path / "lesson" / "05_train_on_your_own_images.ipynb"
    lesson.parent.mkdir()
    nbformat.write(nb, lesson)

    for key, value in laptop_tier_env(tmp_path / "tier", real_asset(".")).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TLH_MODELS_DIR", str(tmp_path / "models"))
    result = runner.run_lesson(lesson, tmp_path / "out", smoke=True, timeout=900)
    assert result.status == "passed", f"cell {result.failed_cell}: {result.error}"
    executed = Path(result.executed).read_text(encoding="utf-8")
    assert "my_photos/my_photos" in executed and "  cats/: 40 files" in executed and "  dogs/: 40 files" in executed
    assert _fingerprint(archive) == before  # the learner's zip is only read
    # lesson 06's last cell looks here (course.models_dir() / "my_classifier.keras", the same folder)
    assert config.models_dir() == tmp_path / "models"
    saved = config.models_dir() / "my_classifier.keras"
    assert saved.is_file(), sorted(p.name for p in (tmp_path / "models").glob("*"))
    lesson06 = (ROOT / "notebooks" / "06_look_inside_and_ship.py").read_text(encoding="utf-8")
    assert 'yours = course.models_dir() / "my_classifier.keras"' in lesson06
