import math

import keras
import numpy as np
import pytest

from tlhelpers import training


def test_set_seed_makes_runs_repeatable():
    def draw():
        training.set_seed(7)
        layer = keras.layers.Dense(2)
        layer.build((None, 3))
        return np.random.random(3), layer.kernel.numpy()

    (a1, k1), (a2, k2) = draw(), draw()
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(k1, k2)


def test_epoch_timer_records_one_value_per_epoch():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    timer = training.EpochTimer()
    model.fit(np.zeros((8, 2)), np.zeros((8, 1)), epochs=3, verbose=0, callbacks=[timer])
    assert len(timer.seconds) == 3 and all(s > 0 for s in timer.seconds)


def test_merge_histories_joins_phases_and_pads_missing_metrics():
    merged = training.merge_histories({"loss": [3, 2], "lr": [1, 1]}, {"loss": [1.5]})
    assert merged["loss"] == [3, 2, 1.5]
    assert merged["lr"][:2] == [1, 1] and math.isnan(merged["lr"][2])


def test_no_accelerator_advice_names_the_switch_to_flip(monkeypatch):
    from tlhelpers import training

    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    text = training.no_accelerator_advice(full=True)
    assert "No GPU found" in text and "estimate" in text
    assert "Settings" in text and "Accelerator" in text and "Internet" in text
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE")
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab")
    assert "Change runtime type" in training.no_accelerator_advice(full=False)


def test_setup_accelerator_on_a_cpu_says_so(capsys, monkeypatch):
    from tlhelpers import training

    monkeypatch.delenv("TLH_REHEARSE", raising=False)
    strategy = training.setup_accelerator()
    out = capsys.readouterr().out
    assert strategy.num_replicas_in_sync == 1 and "No GPU found" in out


@pytest.mark.parametrize("variable", ["TPU_ACCELERATOR_TYPE", "COLAB_TPU_ADDR", "TPU_NAME"])
def test_a_tpu_runtime_runs_on_the_cpu_and_says_to_use_a_gpu_runtime(capsys, monkeypatch, variable):
    import tensorflow as tf

    from tlhelpers import training

    monkeypatch.delenv("TLH_REHEARSE", raising=False)
    monkeypatch.setenv(variable, "v5e-1")

    def no_tpu_strategy(*args, **kwargs):
        raise AssertionError("TPUStrategy needs a TensorFlow that can use the TPU; no Colab/Kaggle TPU has one")

    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", no_tpu_strategy)
    monkeypatch.setattr(tf.distribute, "TPUStrategy", no_tpu_strategy)
    assert training.tpu_runtime()
    strategy = training.setup_accelerator()
    out = capsys.readouterr().out
    assert strategy.num_replicas_in_sync == 1
    assert "TPU runtime" in out and "GPU runtime" in out
    assert "TPUStrategy" not in training.describe_accelerator()
