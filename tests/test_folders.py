"""Your own folder of images: scan verdicts, conversions, splits, loading; nothing lost, nothing modified."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from conftest import real_asset
from tlhelpers import folders
from tlhelpers.course import standins


def _fingerprint(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under root: content hash and modification time (byte-for-byte check)."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def messy(tmp_path):
    root = tmp_path / "my photos"
    expected = standins.make_messy_folder(root)
    return root, expected


def test_every_file_gets_the_right_verdict_and_reason(messy):
    root, expected = messy
    report = folders.scan(root)
    assert report.class_names == ["circles", "squares"]
    got = {str(f.path.relative_to(root)): f for f in report.files}
    assert set(got) == set(expected)  # every file present is classified
    assert {k: f.verdict for k, f in got.items()} == expected
    reasons = {k: f.reason for k, f in got.items()}
    assert reasons["circles/zero_bytes.jpg"] == "empty file (0 bytes)"
    assert reasons["circles/notes.jpg"].startswith("not an image")
    assert reasons["circles/truncated.jpg"].startswith("truncated JPEG")
    assert reasons["circles/corrupt.jpg"].startswith(("corrupt", "truncated"))
    assert "RGBA" in reasons["circles/rgba.png"] and "grayscale" in reasons["circles/gray.jpg"]
    assert "CMYK" in reasons["circles/cmyk.jpg"] and "16-bit" in reasons["squares/sixteen_bit.png"]
    assert reasons["squares/palette.gif"].startswith("GIF format") and "BMP" in reasons["squares/bitmap.bmp"]
    assert got["squares/very_large.jpg"].size == (6000, 4000)
    text = report.summary()
    assert "circles/notes.jpg: not an image" in text and "Skipped (unusable, never read by training): 5 files" in text
    import importlib.util

    if importlib.util.find_spec("pillow_heif") is None:  # Pillow alone cannot read HEIC: the reason says what to do
        assert "pip install 'tlhelpers[heic]'" in reasons["squares/IMG_0001.HEIC"]
    else:  # with the heic extra the file is read, and this fake one is found broken
        assert reasons["squares/IMG_0001.HEIC"].startswith(("corrupt", "truncated")), reasons["squares/IMG_0001.HEIC"]
    assert "EXIF orientation 6" in reasons["circles/sideways_phone_photo.jpg"]


def test_every_skipped_file_is_named_in_a_group_with_its_fix(messy, monkeypatch):
    from PIL import Image

    root, expected = messy
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5_000_000)  # very_large.jpg (6000x4000) becomes a "bomb"
    report = folders.scan(root)
    lines = report.skipped_lines(max_listed=20)
    skipped = {str(f.path.relative_to(root)) for f in report.skipped}
    assert skipped == {k for k, v in expected.items() if v == folders.UNUSABLE} | {"squares/very_large.jpg"}
    by_name = {str(f.path.relative_to(root)): f for f in report.skipped}
    for name in skipped:  # every file named once, under the line of its group, which gives the group's fix
        (i,) = [i for i, line in enumerate(lines) if line.strip().startswith(name + ":")]
        heading = next(line for line in reversed(lines[:i]) if "Fix:" in line)
        group, fix = folders.skip_group(by_name[name].reason)
        assert heading.strip().startswith(group + ":") and heading.endswith("Fix: " + fix), (name, heading)
    groups = report.skipped_by_group()
    assert [f.path.name for f in groups["too large to decode safely (a decompression-bomb guard)"]] == [
        "very_large.jpg"]
    assert {f.path.name for f in groups["corrupt or truncated images"]} >= {"truncated.jpg", "corrupt.jpg"}
    assert [f.path.name for f in groups["empty files (0 bytes)"]] == ["zero_bytes.jpg"]
    fixes = "\n".join(line for line in lines if "Fix:" in line)
    assert "shrink each one below" in fixes and "re-export it" in fixes and "copy each one again" in fixes
    short = report.skipped_lines(max_listed=1)
    assert any(line.strip().startswith("... and") for line in short)


@pytest.mark.parametrize("reason, group", [
    (folders._FOREIGN[0][1], "HEIC/HEIF photos (iPhone)"), (folders._FOREIGN[1][1], "videos"),
    ("empty file (0 bytes)", "empty files (0 bytes)"), ("too large to decode (1x1 declared)", "too large"),
    ("too large to decode safely (x)", "too large"), ("not an image (Pillow does not recognise it)", "not images"),
    ("file not found", "files that cannot be read"), ("unreadable (Permission denied)", "files that cannot be read"),
    ("truncated JPEG (x)", "corrupt or truncated images"), ("corrupt PNG (x)", "corrupt or truncated images"),
    ("a camera RAW file (.cr2), ...", "camera RAW files"), ("a video, not a photo: ...", "videos")])
def test_each_reason_classify_writes_falls_in_its_group(reason, group):
    assert folders.skip_group(reason)[0].startswith(group)


def test_tool_droppings_are_never_classes_or_data_at_any_depth(messy):
    root, _ = messy
    (root / ".git" / "objects").mkdir(parents=True)
    (root / ".git" / "objects" / "x.jpg").write_bytes((root / "circles" / "normal_0.jpg").read_bytes())
    report = folders.scan(root)
    assert report.class_names == ["circles", "squares"]  # not __MACOSX, not .git
    assert not [f for f in report.files if any(part.startswith((".", "__")) or part == "Thumbs.db"
                                                for part in f.path.relative_to(root).parts)]
    ignored = {str(p.relative_to(root)): why for p, why in report.ignored}
    assert set(ignored) == {"__MACOSX", ".git", ".DS_Store", "circles/.ipynb_checkpoints", "squares/Thumbs.db",
                            "squares/2019/.hidden.jpg"}
    assert "Mac" in ignored["__MACOSX"] and "Jupyter" in ignored["circles/.ipynb_checkpoints"]
    assert {str(p.relative_to(root)): c for p, c in report.nested.items()} == {"squares/2019": "squares"}
    text = report.summary()
    assert "Ignored (tools' droppings, never a class or data): 6" in text and "squares/2019/ -> class" in text
    from tlhelpers import data

    ds, names = data.image_folder(root, image_size=16, batch_size=64, all_files=True)
    assert names == ["circles", "squares"]  # the pipeline's own listing skips them too


def test_an_exif_rotated_photo_and_its_upright_twin_give_the_same_pixels(tmp_path):
    from PIL import Image

    from tlhelpers import evaluate

    rng = np.random.default_rng(0)
    upright = Image.fromarray(rng.integers(0, 255, (30, 60, 3), dtype=np.uint8)).resize((120, 60))  # wide
    for cls in ("a", "b"):
        (tmp_path / "photos" / cls).mkdir(parents=True)
    upright.save(tmp_path / "photos" / "a" / "upright.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "photos" / "a" / "sideways.png", exif=exif.tobytes())
    upright.save(tmp_path / "photos" / "b" / "other.png")
    report = folders.scan(tmp_path / "photos")
    verdicts = {f.path.name: f for f in report.files}
    assert verdicts["sideways.png"].verdict == folders.CONVERTED and verdicts["sideways.png"].size == (60, 120)
    clean = folders.write_clean_tree(report, tmp_path / "clean")
    a, b = (np.asarray(Image.open(clean / "a" / name)) for name in ("upright.png", "sideways.png"))
    assert a.shape == b.shape == (60, 120, 3)
    np.testing.assert_array_equal(a, b)  # lossless PNG: identical once turned upright
    np.testing.assert_array_equal(evaluate.load_image_file(tmp_path / "photos" / "a" / "sideways.png", 32),
                                  evaluate.load_image_file(tmp_path / "photos" / "a" / "upright.png", 32))
    # the JPEG fast path is untouched: an upright file without a tag stays "usable" (no copy, no extra decode)
    upright.save(tmp_path / "plain.jpg", quality=90)
    assert folders.classify(tmp_path / "plain.jpg").verdict == folders.USABLE


@pytest.mark.parametrize(("name", "raw", "says"), [
    ("IMG_0001.HEIC", b"\x00\x00\x00\x18ftypheic" + bytes(40), "HEIC"),
    ("clip.mov", b"\x00\x00\x00\x14ftypqt  " + bytes(40), "video"),
    ("DSC_0001.NEF", b"MM\x00*" + bytes(40), "RAW"),
    ("holiday.mp4", b"\x00\x00\x00\x18ftypisom" + bytes(40), "video"),
])
def test_formats_pillow_cannot_read_say_what_to_do(tmp_path, monkeypatch, name, raw, says):
    import sys

    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # as without the optional plugin
    (tmp_path / name).write_bytes(raw)
    verdict = folders.classify(tmp_path / name)
    assert verdict.verdict == folders.UNUSABLE and says in verdict.reason
    assert any(word in verdict.reason for word in ("install", "export", "move it out", "convert"))


def test_pipeline_images_plus_skipped_equals_files_and_folder_unchanged(messy, tmp_path):
    root, expected = messy
    before = _fingerprint(root)
    result = folders.split_folder(root, tmp_path / "out", ratio=(0.5, 0.5), seed=3)
    splits, names = folders.load_splits(result.output, image_size=40, batch_size=4)
    assert names == ["circles", "squares"]
    seen = 0
    for ds in splits.values():
        for images, labels in ds:
            x = images.numpy()
            assert x.shape[1:] == (40, 40, 3) and x.dtype == np.float32  # RGB, right size
            assert x.min() >= 0 and x.max() <= 255
            seen += len(labels)
    assert seen + len(result.report.skipped) == len(expected)
    assert seen == sum(sum(c.values()) for c in result.counts.values())
    assert _fingerprint(root) == before  # byte-for-byte and untouched
    assert {p.name for p in root.rglob("*")} >= {Path(k).name for k in expected}  # nothing deleted


def test_converted_images_are_rgb_copies_with_the_right_content(messy, tmp_path):
    from PIL import Image

    root, _ = messy
    report = folders.scan(root)
    clean = folders.write_clean_tree(report, tmp_path / "clean")
    rgba = Image.open(clean / "circles" / "rgba.png")
    sixteen = Image.open(clean / "squares" / "sixteen_bit.png")
    assert rgba.mode == sixteen.mode == "RGB"
    original = np.asarray(Image.open(root / "squares" / "sixteen_bit.png"), dtype=np.float64) / 257
    np.testing.assert_allclose(np.asarray(sixteen)[..., 0], original, atol=1)  # 16-bit scaled, not clipped
    assert (clean / "squares" / "ünïcödé_квадрат_四角.jpg").exists()  # unicode names survive
    assert len(list((clean / "circles").iterdir())) == 4 + 4  # 4 normal + rgba, gray, cmyk, sideways copies


def test_split_is_stable_and_never_mixes(tmp_path):
    from PIL import Image

    src = tmp_path / "photos"
    for cls, n in (("a", 30), ("b", 20)):
        (src / cls).mkdir(parents=True)
        for i in range(n):
            noise = np.random.default_rng(ord(cls) * 100 + i).integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(noise).save(src / cls / f"{i:03d}.png")  # distinct pictures (no duplicate groups)
    first = folders.split_folder(src, tmp_path / "out", fixed=(5, 5), seed=7)
    listing1 = sorted(str(p.relative_to(first.output)) for p in first.output.rglob("*.png"))
    second = folders.split_folder(src, tmp_path / "out", fixed=(5, 5), seed=7)
    listing2 = sorted(str(p.relative_to(second.output)) for p in second.output.rglob("*.png"))
    assert listing1 == listing2 and first.counts == second.counts
    assert first.counts == {"train": {"a": 20, "b": 10}, "val": {"a": 5, "b": 5}, "test": {"a": 5, "b": 5}}
    names = [Path(p).parts[1:] for p in listing1]
    assert len(names) == len(set(names)) == 50  # no file in two splits, none duplicated
    other = folders.split_folder(src, tmp_path / "out", fixed=(5, 5), seed=8)
    assert sorted(str(p.relative_to(other.output)) for p in other.output.rglob("*.png")) != listing1


@pytest.mark.parametrize("case, error, match", [
    ("missing", FileNotFoundError, "does not exist"),
    ("file", NotADirectoryError, "is a file"),
    ("no_classes", folders.FolderError, "no class subfolders"),
    ("one_class", folders.FolderError, "single class folder"),
    ("empty_class", folders.FolderError, "without any usable image: 'empty'"),
    ("only_bad", folders.FolderError, "'bad' \\(1 unusable files\\)"),
])
def test_bad_trees_give_clear_errors(tmp_path, case, error, match):
    from PIL import Image

    root = tmp_path / "root"
    if case == "file":
        root.write_text("x")
    elif case != "missing":
        root.mkdir()
    if case == "no_classes":
        Image.new("RGB", (8, 8)).save(root / "loose.jpg")
    if case in ("one_class", "empty_class", "only_bad"):
        (root / "good").mkdir()
        Image.new("RGB", (8, 8)).save(root / "good" / "x.jpg")
    if case == "empty_class":
        (root / "empty").mkdir()
    if case == "only_bad":
        (root / "bad").mkdir()
        (root / "bad" / "x.jpg").write_bytes(b"")
    with pytest.raises(error, match=match):
        folders.scan(root)


def test_output_inside_the_user_folder_is_refused(messy):
    root, _ = messy
    before = _fingerprint(root)
    with pytest.raises(folders.FolderError, match="inside your image folder"):
        folders.split_folder(root, root / "split")
    with pytest.raises(folders.FolderError, match="contains your image folder"):
        folders.split_folder(root, root.parent)  # would replace the user folder's parent: refused too
    assert _fingerprint(root) == before


def test_foreign_output_folder_is_never_deleted(messy, tmp_path):
    root, _ = messy
    foreign = tmp_path / "important"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(folders.FolderError, match="not written by tlhelpers"):
        folders.split_folder(root, foreign)
    assert (foreign / "keep.txt").read_text() == "mine"


def test_imbalance_warns(tmp_path):
    from PIL import Image

    for cls, n in (("many", 9), ("few", 2)):
        (tmp_path / cls).mkdir()
        for i in range(n):
            Image.new("RGB", (8, 8)).save(tmp_path / cls / f"{i}.png")
    with pytest.warns(UserWarning, match="imbalanced"):
        report = folders.scan(tmp_path)
    assert report.imbalance() == 4.5 and "imbalanced" in report.summary()


@pytest.mark.assets
def test_real_cats_and_dogs_split_counts_are_exact_and_stable(tmp_path):
    root = real_asset("cats_and_dogs_filtered") / "train"
    before = _fingerprint(root)
    runs = []
    for out in ("a", "b"):
        result = folders.split_folder(root, tmp_path / out, ratio=(0.8, 0.1, 0.1), seed=123)
        splits, names = folders.load_splits(result.output, image_size=32, batch_size=256)
        loaded = {s: np.bincount(np.concatenate([y.numpy() for _, y in ds]), minlength=2).tolist()
                  for s, ds in splits.items()}
        runs.append((result.counts, loaded, sorted(p.name for p in result.output.rglob("*.jpg"))))
    (counts, loaded, files), second = runs[0], runs[1]
    assert runs[0] == second  # same seed: same files in the same splits
    assert names == ["cats", "dogs"]
    assert len(folders.scan(root).skipped) == 0
    # split-folders' ratio mode: train gets int(0.8 n), val int(0.1 n), test the rest
    assert counts == {"train": {"cats": 799, "dogs": 800}, "val": {"cats": 99, "dogs": 100},
                      "test": {"cats": 101, "dogs": 100}}
    assert loaded == {s: [c["cats"], c["dogs"]] for s, c in counts.items()}
    assert len(files) == 1999 == len(set(files))
    assert _fingerprint(root) == before  # the assets folder: only read (same bytes, same modification times)


def _dup_folder(root: Path) -> dict[str, list[str]]:
    """20 distinct pictures per class, plus exact and near copies of some (names sort far apart)."""
    import io

    from PIL import Image, ImageDraw

    rng = np.random.default_rng(7)
    groups: dict[str, list[str]] = {}
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(20):
            im = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize((96, 96), Image.NEAREST)
            ImageDraw.Draw(im).ellipse((10 + i, 10, 60 + i, 70), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
            im.save(root / cls / f"{cls}_{i:02d}.jpg", quality=92)
            if i % 4 == 0:  # exact copy, near copy (smaller, recompressed)
                (root / cls / f"zz_copy_of_{i:02d}.jpg").write_bytes((root / cls / f"{cls}_{i:02d}.jpg").read_bytes())
                buf = io.BytesIO()
                im.resize((64, 64)).save(buf, format="JPEG", quality=60)
                (root / cls / f"mm_small_{i:02d}.jpg").write_bytes(buf.getvalue())
                groups[f"{cls}/{cls}_{i:02d}.jpg"] = [f"{cls}/zz_copy_of_{i:02d}.jpg", f"{cls}/mm_small_{i:02d}.jpg"]
    (root / "b" / "mislabelled.jpg").write_bytes((root / "a" / "a_01.jpg").read_bytes())  # a duplicate across classes
    return groups


def test_duplicates_are_found_and_never_straddle_a_split(tmp_path):
    root = tmp_path / "dups"
    planted = _dup_folder(root)
    report = folders.scan(root)
    groups = report.duplicate_groups()
    found = {frozenset(str(f.path.relative_to(root)) for f in g.files) for g in groups}
    for original, copies in planted.items():
        assert frozenset([original, *copies]) in found  # exact and near copies in one group
    assert frozenset(["a/a_01.jpg", "b/mislabelled.jpg"]) in found
    assert [g.across_classes for g in groups if "b/mislabelled.jpg" in {str(f.path.relative_to(root))
                                                                          for f in g.files}] == [True]
    assert len(groups) == len(planted) + 1  # no distinct picture is called a duplicate
    assert "ACROSS CLASSES" in report.summary()

    result = folders.split_folder(root, tmp_path / "out", ratio=(0.5, 0.5), seed=1, report=report)
    assert result.moved_duplicates > 0  # with this seed split-folders alone put copies on both sides
    where = {}
    for split in ("train", "val"):
        for p in (result.output / split).rglob("*.jpg"):
            where[(p.parent.name, p.stem)] = split
    for g in groups:  # clean copies keep the file's stem
        assert len({where[(f.class_name, f.path.stem)] for f in g.files}) == 1, [str(f.path) for f in g.files]
    assert sum(sum(c.values()) for c in result.counts.values()) == len(report.files)  # nothing lost
    assert "duplicate images were moved" in result.summary()


def test_a_big_scan_shows_progress_on_a_terminal_and_nothing_in_a_log(tmp_path, monkeypatch, capsys):
    import io
    import sys

    from PIL import Image

    for i in range(240):
        folder = tmp_path / "big" / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    folders.scan(tmp_path / "big")
    assert "scanning" not in capsys.readouterr().out  # a log (pytest's capture is not a terminal): no bar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    folders.scan(tmp_path / "big")
    assert "scanning big" in terminal.getvalue() and "/240 " in terminal.getvalue()  # a live bar, cleared at the end
