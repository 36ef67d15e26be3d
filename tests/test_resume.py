"""Training that survives interruption: `tlh train` killed mid-run continues where it stopped."""

import importlib.util
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tlhelpers import atomic, backbones, models, training
from tlhelpers.course import standins


def _tm():
    return models.build_transfer_model("MobileNetV3Small", 2, image_size=32, weights=None)


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.uniform(0, 80, (n, 32, 32, 3)).astype("float32")
    x[y == 1, ..., 1] += 150
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


def test_fit_two_phase_with_a_backup_dir_cleans_up_and_reports_every_epoch(tmp_path, tiny):
    ds = _data()
    backup = tmp_path / "resume"
    result = training.fit_two_phase(tiny(), ds, ds, head_epochs=3, fine_tune_epochs=2, unfreeze_from=0,
                                    backup_dir=backup, verbose=0)
    assert not backup.exists()  # finished: nothing to resume
    assert not result.resumed and result.epochs_run == {"head": 3, "fine_tune": 2}
    assert {k: len(v) for k, v in result.history.items()} == {k: 5 for k in result.history}


@pytest.fixture
def tiny(monkeypatch):
    """A two-layer base with BatchNorm (registered for this test only): the same calls, compiled in seconds."""
    import keras

    def tiny_base(input_shape, weights=None, pooling=None, **_):
        inputs = keras.Input(input_shape)
        x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
        x = keras.layers.BatchNormalization()(x)
        return keras.Model(inputs, keras.layers.Conv2D(8, 3, activation="relu")(x))

    monkeypatch.setitem(backbones.REGISTRY, "TinyBase", backbones.Backbone(
        "TinyBase", "", "imagenet_utils", "tf", 32, 8, "test base", factory=tiny_base))
    return lambda: models.build_transfer_model("TinyBase", 2, image_size=32, weights=None)


def test_the_fine_tuning_schedule_spans_its_epochs_when_the_dataset_length_is_unknown(monkeypatch, tiny):
    """After filter() a dataset's length is unknown (-2): the cosine decay still spans 4 batches x 2 epochs."""
    import keras

    spans: list[int] = []

    class Recording(keras.optimizers.schedules.CosineDecay):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            spans.append(int(self.decay_steps))

    monkeypatch.setattr(keras.optimizers.schedules, "CosineDecay", Recording)
    ds = _data().unbatch().filter(lambda x, y: True).batch(8)
    assert int(ds.cardinality()) == -2
    training.fit_two_phase(tiny(), ds, ds, head_epochs=1, fine_tune_epochs=2, unfreeze_from=0, verbose=0)
    assert spans == [8]


class Killed(BaseException):
    """Stands for a SIGKILL at one instant: nothing after it runs, no ``except Exception`` catches it."""


def _kill_at(monkeypatch, k: int, commits: list[str]) -> None:
    """Make the k-th file commit (the rename that makes a backup file final, counted from 0) raise Killed."""
    real = atomic._replace

    def replace(src, dst):
        if len(commits) == k:
            raise Killed(Path(dst).name)
        commits.append(Path(dst).name)
        real(src, dst)

    monkeypatch.setattr(atomic, "_replace", replace)


def test_a_kill_before_any_file_commit_then_a_rerun_gives_every_epoch_once(tmp_path, monkeypatch, capsys, tiny):
    """Crash-safe at every instant: killed before each of the run's file commits in turn (the written file
    complete under its temporary name, or half written: a partial file is left as SIGKILL would leave it),
    the same call again finishes with one curve point per epoch, continuing after the last committed epoch."""
    ds = _data()
    commits: list[str] = []
    _kill_at(monkeypatch, 10**6, commits)
    training.fit_two_phase(tiny(), ds, ds, head_epochs=2, fine_tune_epochs=2, unfreeze_from=0,
                           backup_dir=tmp_path / "whole", verbose=0)
    everything = list(commits)
    assert len(everything) == 11, everything  # 2 feature caches, 2 x (weights, state) per phase, phase 1 done
    for k, name in enumerate(everything):
        backup = tmp_path / f"kill{k}"
        commits.clear()
        _kill_at(monkeypatch, k, commits)
        with pytest.raises(Killed):
            training.fit_two_phase(tiny(), ds, ds, head_epochs=2, fine_tune_epochs=2, unfreeze_from=0,
                                   backup_dir=backup, verbose=0)
        monkeypatch.setattr(atomic, "_replace", os.replace)
        (backup / f"{atomic.PARTIAL_PREFIX}{name}").write_bytes(b"\x89HDF half a file")  # what SIGKILL leaves
        done = sum(c.endswith(".json") for c in commits)  # epochs whose state was committed before the kill
        tm = tiny()
        capsys.readouterr()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = training.fit_two_phase(tm, ds, ds, head_epochs=2, fine_tune_epochs=2, unfreeze_from=0,
                                            backup_dir=backup, verbose=0)
        assert capsys.readouterr().out == "", (k, name)  # verbose=0: not even "Resuming" or "continuing after"
        said = " ".join(str(w.message) for w in caught)
        probs = tm.model.predict(next(iter(ds))[0], verbose=0)  # the resumed model predicts
        assert probs.shape == (8, 2) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-3), (k, name)
        assert "could not be read" not in said, (k, name, said)  # nothing a kill leaves is a damaged file
        assert {len(v) for v in result.history.values()} == {4}, (k, name, result.history)
        assert sum(result.epochs_run.values()) == 4 - done, (k, name, result.epochs_run)
        assert result.resumed == (k > 0) and result.resumed_at == (done if k > 0 else None), (k, name, result)
        assert not backup.exists()


def test_a_resumed_fine_tuning_continues_its_optimizer_step_count(tmp_path, monkeypatch, capsys, tiny):
    """Killed during fine-tuning (after its first epoch): the resumed Adam's step count, which also drives the
    cosine learning-rate schedule, goes on from 4 batches, so after the remaining epoch it is 8, not 4."""
    ds = _data()  # 4 batches per epoch
    commits: list[str] = []
    _kill_at(monkeypatch, 7, commits)  # features (2), head epoch (2), phase 1 (1), fine-tune epoch 1 (2)
    with pytest.raises(Killed):
        training.fit_two_phase(tiny(), ds, ds, head_epochs=1, fine_tune_epochs=2, unfreeze_from=0,
                               backup_dir=tmp_path, verbose=0)
    monkeypatch.setattr(atomic, "_replace", os.replace)
    tm = tiny()
    result = training.fit_two_phase(tm, ds, ds, head_epochs=1, fine_tune_epochs=2, unfreeze_from=0,
                                    backup_dir=tmp_path, verbose=2)  # verbose=0 would silence the line
    assert "fine-tune phase: continuing after epoch 2" in capsys.readouterr().out
    assert result.epochs_run == {"head": 0, "fine_tune": 1} and result.resumed_at == 2
    assert int(tm.model.optimizer.iterations.numpy()) == 8  # 4 restored + 4 trained now


def test_a_resumed_phase_continues_the_optimizer_and_the_curve(tmp_path, monkeypatch, capsys, tiny):
    """Killed after the first head epoch: the resumed head's Adam step count goes on from 4 batches (not 0),
    and the interrupted epoch's metrics stay in the curve, which marks where the run resumed."""
    ds = _data()  # 4 batches per epoch
    commits: list[str] = []
    _kill_at(monkeypatch, 4, commits)  # after train/val features and epoch 0's (weights, state)
    with pytest.raises(Killed):
        training.fit_two_phase(tiny(), ds, ds, head_epochs=2, fine_tune_epochs=0, backup_dir=tmp_path, verbose=0)
    first = json.loads((tmp_path / "head.json").read_text())["history"][0]
    monkeypatch.setattr(atomic, "_replace", os.replace)
    tm = tiny()
    result = training.fit_two_phase(tm, ds, ds, head_epochs=2, fine_tune_epochs=0, backup_dir=tmp_path, verbose=2)
    assert "head phase: continuing after epoch 1 (weights, optimizer state restored" in capsys.readouterr().out
    assert int(tm.head.optimizer.iterations.numpy()) == 8  # 4 restored + 4 trained now
    assert result.epochs_run == {"head": 1, "fine_tune": 0} and result.resumed_at == 1
    assert result.history["val_accuracy"][0] == pytest.approx(first["val_accuracy"])
    from tlhelpers import plots

    fig, axes = plots.plot_history(result.history, resumed_at=result.resumed_at)
    assert "resumed here" in axes[0].get_legend_handles_labels()[1]


def test_early_stopping_continues_with_its_patience_and_best_epoch(tmp_path, monkeypatch, tiny):
    """Killed after the first fine-tuning epoch: the resumed EarlyStopping starts the next epoch with the same
    wait, best value, best epoch and best weights as the interrupted one did (not from zero)."""
    import keras

    seen: list[tuple] = []

    class Recording(keras.callbacks.EarlyStopping):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append((epoch, self.wait, self.best, self.best_epoch, self.best_weights is not None))

    monkeypatch.setattr(keras.callbacks, "EarlyStopping", Recording)
    ds = _data()
    commits: list[str] = []
    _kill_at(monkeypatch, 9, commits)  # features (2), head epoch (2), phase 1 (1), fine-tune epochs 1 and 2 (4)
    with pytest.raises(Killed):
        training.fit_two_phase(tiny(), ds, ds, head_epochs=1, fine_tune_epochs=3, unfreeze_from=0, patience=5,
                               fine_tune_lr=0.0, backup_dir=tmp_path, verbose=0)  # no progress: patience is used
    interrupted = [s for s in seen if s[0] == 3]  # the epoch that was running when the kill came
    assert interrupted and interrupted[0][1] == 1 and interrupted[0][2] is not None and interrupted[0][4], seen
    monkeypatch.setattr(atomic, "_replace", os.replace)
    seen.clear()
    training.fit_two_phase(tiny(), ds, ds, head_epochs=1, fine_tune_epochs=3, unfreeze_from=0, patience=5,
                           fine_tune_lr=0.0, backup_dir=tmp_path, verbose=0)
    assert seen[0] == interrupted[0], (seen, interrupted)


@pytest.mark.parametrize("damaged", ["head.json", "head-epoch000.weights.h5", "phase1.weights.h5",
                                     "train_features.npz"])
def test_a_damaged_backup_file_is_named_in_one_line_and_that_step_starts_over(tmp_path, monkeypatch, capsys,
                                                                              damaged, tiny):
    ds = _data()
    commits: list[str] = []
    _kill_at(monkeypatch, 7 if damaged == "phase1.weights.h5" else 4, commits)
    with pytest.raises(Killed):
        training.fit_two_phase(tiny(), ds, ds, head_epochs=2, fine_tune_epochs=1, unfreeze_from=0,
                               backup_dir=tmp_path, verbose=0)
    monkeypatch.setattr(atomic, "_replace", os.replace)
    target = tmp_path / damaged
    target.write_bytes(target.read_bytes()[: len(target.read_bytes()) // 2])  # disk trouble, a hand edit...
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = training.fit_two_phase(tiny(), ds, ds, head_epochs=2, fine_tune_epochs=1, unfreeze_from=0,
                                        backup_dir=tmp_path, verbose=0)
    said = [str(w.message) for w in caught if "could not be read" in str(w.message)]
    assert len(said) == 1 and str(target) in said[0], said
    assert {len(v) for v in result.history.values()} == {3}


def _start_and_stop(cmd: list[str], env: dict, log: Path, wait_for: Path, sig: int) -> subprocess.Popen:
    """Start ``cmd``, and send it ``sig`` as soon as ``wait_for`` exists (a backup file written after an epoch)."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 600
        while not wait_for.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(sig)
        proc.wait(timeout=600)
    return proc


@pytest.mark.slow
def test_tlh_train_ctrl_c_then_a_kill_then_a_rerun_finishes_and_names_the_skipped_files(tmp_path):
    """Ctrl-C after the first head epoch says how to continue (exit 130); the same command, SIGKILLed after a
    fine-tuning epoch, leaves nothing at the final paths; the same command again finishes the run. The folder holds
    a corrupt JPEG and an iPhone HEIC file: each run names them with their fixes, and the report lists them."""
    import signal

    root = standins.make_synthetic_folder(tmp_path / "photos", per_class=24, size=64)
    (root / "train" / "cats" / "broken.jpg").write_bytes((root / "validation" / "cats").glob("*").__next__()
                                                         .read_bytes()[:300])
    (root / "train" / "dogs" / "IMG_0001.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"
                                                            + bytes(64))
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    (root / "train" / "dogs" / "bomb.png").write_bytes(  # a PNG declaring 20000 x 20000 pixels (400 megapixels)
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    (root / "train" / "__MACOSX" / "cats").mkdir(parents=True)  # a Mac zip's dropping: never a class, never data
    (root / "train" / "__MACOSX" / "cats" / "._cat.1.jpg").write_bytes(b"\x00\x05\x16\x07")
    (root / "train" / "cats" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    out = tmp_path / "m.keras"
    cmd = [sys.executable, "-m", "tlhelpers.cli", "train", str(root), "--backbone", "MobileNetV3Small",
           "--image-size", "96", "--epochs", "2", "--fine-tune-epochs", "6", "--unfreeze-from", "0",
           "--out", str(out)]
    env = {**os.environ, "TLH_SMOKE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    resume = tmp_path / "m_data" / "resume"
    first = _start_and_stop(cmd, env, tmp_path / "first.log", resume / "head.json", signal.SIGINT)
    said = (tmp_path / "first.log").read_text()
    assert first.returncode == 130, said[-3000:]
    assert "interrupted. Every finished epoch is kept; to continue from there, run the same command again:" in said
    assert f"tlh train {root}" in said and "Traceback" not in said
    assert "train/cats/broken.jpg: corrupt" in said or "train/cats/broken.jpg: truncated" in said, said[-3000:]
    assert "Fix: open each one in an image viewer" in said
    assert "train/dogs/bomb.png: too large to decode safely" in said and "Fix: shrink each one below" in said
    assert "train/dogs/IMG_0001.HEIC: " in said
    second = _start_and_stop(cmd, env, tmp_path / "second.log", resume / "fine_tune.json", signal.SIGKILL)
    assert second.returncode == -9, (tmp_path / "second.log").read_text()[-3000:]
    assert "head phase: continuing after epoch" in (tmp_path / "second.log").read_text()
    assert not out.exists() and not list(tmp_path.glob("*.report.json"))  # nothing half-written at the final path
    third = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert third.returncode == 0, third.stdout[-3000:] + third.stderr[-3000:]
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["resumed"] and "resumed an interrupted run at epoch" in third.stdout
    assert report["epochs_run"]["head"] == 0  # phase 1 had finished: not trained again
    assert 1 <= report["epochs_run"]["fine_tune"] <= 5  # at least one fine-tuning epoch was not repeated
    assert report["resumed_at"] >= 3 and len(report["history"]["loss"]) >= report["resumed_at"]
    assert {Path(s["file"]).name: s["group"] for s in report["skipped"]} == {
        "broken.jpg": "corrupt or truncated images",
        "bomb.png": "too large to decode safely (a decompression-bomb guard)",
        "IMG_0001.HEIC": "corrupt or truncated images" if importlib.util.find_spec("pillow_heif")
        else "HEIC/HEIF photos (iPhone)"}  # with the heic extra installed, this fake HEIC is a damaged one
    assert all(s["fix"] and s["reason"] for s in report["skipped"])
    assert {Path(i["path"]).name for i in report["ignored"]} >= {"__MACOSX", ".DS_Store"}
    assert not resume.exists()
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before  # the learner's folder: only read
    good = sorted((root / "validation" / "dogs").iterdir())[0]
    pred = subprocess.run([sys.executable, "-m", "tlhelpers.cli", "predict", str(out), str(good), "--json"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert pred.returncode == 0, pred.stderr[-2000:]
    assert json.loads(pred.stdout)[0]["top"][0][0] in ("cats", "dogs")
