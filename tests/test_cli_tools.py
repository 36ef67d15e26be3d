"""`tlh compare`, `tlh train`, `tlh predict`, `tlh backbones`: results, files written, friendly failures."""

import json

import pandas as pd
import pytest

from conftest import real_asset
from tlhelpers import cli, evaluate, models
from tlhelpers.course import standins


def test_compare_writes_table_and_charts_and_records_failures(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TLH_SMOKE", "1")
    root = standins.make_synthetic_folder(tmp_path / "photos", per_class=8, size=32)
    out = tmp_path / "cmp"
    code = cli.main(["compare", "--data", str(root), "--backbones", "scratch,NoSuchNet", "--image-size", "32",
                     "--epochs", "1", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0
    table = pd.read_csv(out / "comparison.csv")
    assert table["name"].tolist() == ["scratch", "NoSuchNet"] and table["status"].tolist() == ["ok", "failed"]
    assert "NoSuchNet failed: KeyError" in captured.err
    for chart in ("bars.png", "accuracy_vs_speed.png", "learning_curves.png"):
        assert (out / chart).stat().st_size > 1000


def test_compare_and_train_fail_clearly(tmp_path, capsys):
    assert cli.main(["compare", "--data", str(tmp_path / "nope"), "--backbones", "scratch"]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert cli.main(["train", str(tmp_path), "--backbone", "MobileNetV22"]) == 2
    assert "Did you mean 'MobileNetV2'" in capsys.readouterr().err
    assert cli.main(["train", str(tmp_path), "--out", str(tmp_path / "m.h5")]) == 2
    assert "must end in .keras" in capsys.readouterr().err
    (tmp_path / "data" / "only_one_class").mkdir(parents=True)
    assert cli.main(["train", str(tmp_path / "data"), "--out", str(tmp_path / "out" / "m.keras")]) == 2
    assert "single class folder" in capsys.readouterr().err
    assert cli.main(["predict", str(tmp_path / "missing.keras"), str(tmp_path / "x.jpg")]) == 2
    assert "tlh train" in capsys.readouterr().err


def test_backbones_lists_the_registry(capsys):
    assert cli.main(["backbones"]) == 0
    out = capsys.readouterr().out
    assert "SqueezeNet" in out and "EfficientNetB0" in out


def test_train_then_predict_round_trip_small(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TLH_SMOKE", "1")
    root = standins.make_synthetic_folder(tmp_path / "photos", per_class=10, size=48)
    model = tmp_path / "m.keras"
    assert cli.main(["train", str(root), "--backbone", "MobileNetV3Small", "--image-size", "48", "--epochs", "1",
                     "--fine-tune-epochs", "0", "--out", str(model)]) == 0
    report = json.loads(model.with_suffix(".report.json").read_text())
    assert report["classes"] == ["cats", "dogs"]
    # validation/ (10 per class) is halved: one half chooses epochs, the other is held out and reported apart
    assert report["val_images"] == 10 and report["test_images"] == 10
    held = sorted((tmp_path / "m_data" / "validation_halves" / "split" / "val").glob("*/*.*"))
    assert len(held) == 10  # the held-out half, as the report says
    preds = evaluate.predict_image_files(models.load_model(model), held, top_k=1)
    right = sum(p["top"][0][0] == path.parent.name for p, path in zip(preds, held, strict=True))
    assert report["test_accuracy"] == pytest.approx(right / 10)  # the report's figure is these images' accuracy
    captured = capsys.readouterr()  # pytest's capture is not a terminal, like a CI log
    assert "held-out accuracy" in captured.out and "also chose the epoch" in captured.out
    assert "\r" not in captured.out + captured.err  # no carriage-return progress fragments (split-folders' bar)
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    good = sorted((root / "validation" / "dogs").iterdir())[0]
    capsys.readouterr()
    assert cli.main(["predict", str(model), str(good), str(bad), "--json", "--top-k", "2"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [label for label, _ in results[0]["top"]] in (["cats", "dogs"], ["dogs", "cats"])
    assert "not an image" in results[1]["error"]


@pytest.mark.assets
@pytest.mark.slow
def test_real_train_then_predict_is_at_least_95_percent(tmp_path, monkeypatch, capsys):
    root = real_asset("cats_and_dogs_filtered")
    real_asset("keras/models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
    monkeypatch.setenv("TLH_SMOKE", "0")  # real weights must be found offline, never random
    model = tmp_path / "cats_dogs.keras"
    assert cli.main(["train", str(root), "--backbone", "MobileNetV2", "--alpha", "0.35", "--image-size", "224",
                     "--epochs", "10", "--fine-tune-epochs", "1", "--out", str(model)]) == 0
    report = json.loads(model.with_suffix(".report.json").read_text())
    assert report["test_images"] == 500 and report["test_accuracy"] >= 0.95  # half of validation/, never selected on
    files = sorted((root / "validation").rglob("*.jpg"))
    assert len(files) == 1000
    capsys.readouterr()
    assert cli.main(["predict", str(model), *map(str, files), "--json", "--top-k", "1"]) == 0
    results = json.loads(capsys.readouterr().out)
    correct = sum(r["top"][0][0] == ("cats" if "/cats/" in r["path"] else "dogs") for r in results)
    print(f"\ntlh predict: {correct} / {len(results)} validation photos correct")
    assert correct >= 950


def test_export_writes_and_checks_on_photos_and_fails_clearly(tmp_path, capsys):
    import keras

    from tlhelpers import models

    root = standins.make_synthetic_folder(tmp_path / "photos", per_class=6, size=48)
    (root / "train" / "__MACOSX").mkdir()
    (root / "train" / "__MACOSX" / "._x.jpg").write_bytes(b"not an image")  # a tool's dropping: never read
    tm = models.build_transfer_model("MobileNetV2", 2, image_size=48, weights=None, alpha=0.35)
    path = tmp_path / "m.keras"
    models.with_class_names(tm.model, ["cats", "dogs"]).save(path)
    before = sorted(p.name for p in (root / "train").rglob("*"))
    assert cli.main(["export", str(path), "--images", str(root / "train"), "--check", "5"]) == 0
    out = capsys.readouterr().out
    assert "on 5 images: top-1 agreement 100.0%" in out and "m_saved_model" in out
    assert (tmp_path / "m_saved_model" / "saved_model.pb").is_file()
    assert (tmp_path / "m_saved_model.labels.txt").read_text().split() == ["cats", "dogs"]
    assert sorted(p.name for p in (root / "train").rglob("*")) == before  # the photo folder is untouched
    assert cli.main(["export", str(path)]) == 2  # exists already
    assert "exists already" in capsys.readouterr().err
    assert cli.main(["export", str(path), "--format", "litert", "--quantize", "float16"]) == 0
    assert "random images" in capsys.readouterr().out and (tmp_path / "m.tflite").is_file()
    assert cli.main(["export", str(path), "--quantize", "dynamic"]) == 2
    assert "LiteRT files only" in capsys.readouterr().err
    assert cli.main(["export", str(tmp_path / "missing.keras")]) == 2
    assert "does not exist" in capsys.readouterr().err
    keras.backend.clear_session()
