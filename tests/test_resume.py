"""Training that survives interruption: `tlh train` killed mid-run continues where it stopped."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tlhelpers import models, standins, training


def _tm():
    return models.build_transfer_model("MobileNetV3Small", 2, image_size=32, weights=None)


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.uniform(0, 80, (n, 32, 32, 3)).astype("float32")
    x[y == 1, ..., 1] += 150
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


def test_fit_two_phase_with_a_backup_dir_cleans_up_and_reports_every_epoch(tmp_path):
    ds = _data()
    backup = tmp_path / "resume"
    result = training.fit_two_phase(_tm(), ds, ds, head_epochs=3, fine_tune_epochs=2, unfreeze_from=0,
                                    backup_dir=backup, verbose=0)
    assert not backup.exists()  # finished: nothing to resume
    assert not result.resumed and result.epochs_run == {"head": 3, "fine_tune": 2}
    assert {k: len(v) for k, v in result.history.items()} == {k: 5 for k in result.history}


def test_a_finished_phase_one_is_not_trained_again(tmp_path):
    """Interrupted in phase 2: phase 1's weights and curves come back from the backup, no epoch re-runs."""
    ds = _data()
    backup = tmp_path / "resume"
    first = _tm()
    training.fit_two_phase(first, ds, ds, head_epochs=2, fine_tune_epochs=0, backup_dir=backup, verbose=0)
    assert not backup.exists()
    # simulate "killed after phase 1": run phase 1 again keeping the backup, by stopping before fine-tuning
    backup.mkdir()
    first.model.save_weights(backup / "phase1.weights.h5")
    (backup / "head.csv").write_text("epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,0.7,0.5,0.7\n"
                                     "1,0.9,0.3,0.875,0.35\n", encoding="utf-8")
    again = _tm()
    result = training.fit_two_phase(again, ds, ds, head_epochs=2, fine_tune_epochs=1, unfreeze_from=0,
                                    backup_dir=backup, verbose=0)
    assert result.resumed and result.epochs_run == {"head": 0, "fine_tune": 1}
    assert result.history["val_accuracy"][:2] == [0.5, 0.875]  # the curves of the interrupted process


@pytest.mark.slow
def test_tlh_train_killed_after_an_epoch_resumes_and_its_model_predicts(tmp_path):
    root = standins.make_synthetic_folder(tmp_path / "photos", per_class=24, size=64)
    out = tmp_path / "m.keras"
    cmd = [sys.executable, "-m", "tlhelpers.cli", "train", str(root), "--backbone", "MobileNetV3Small",
           "--image-size", "96", "--epochs", "2", "--fine-tune-epochs", "6", "--unfreeze-from", "0",
           "--out", str(out)]
    env = {**os.environ, "TLH_SMOKE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    meta = tmp_path / "m_data" / "resume" / "fine_tune" / "training_metadata.json"
    with open(tmp_path / "first.log", "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 600
        while not meta.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.kill()  # SIGKILL: no clean-up code runs, like a lost Colab VM
        proc.wait()
    assert proc.returncode == -9, (tmp_path / "first.log").read_text()[-3000:]
    assert not out.exists() and not list(tmp_path.glob("*.report.json"))  # nothing half-written at the final path
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["resumed"] and "resumed an interrupted run" in second.stdout
    assert report["epochs_run"]["head"] == 0  # phase 1 had finished: not trained again
    assert 1 <= report["epochs_run"]["fine_tune"] <= 5  # at least one fine-tuning epoch was not repeated
    assert not (tmp_path / "m_data" / "resume").exists()
    good = sorted((root / "validation" / "dogs").iterdir())[0]
    pred = subprocess.run([sys.executable, "-m", "tlhelpers.cli", "predict", str(out), str(good), "--json"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert pred.returncode == 0, pred.stderr[-2000:]
    assert json.loads(pred.stdout)[0]["top"][0][0] in ("cats", "dogs")
