import math

import keras
import numpy as np

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
    timer = training.EpochTimer.create()
    model.fit(np.zeros((8, 2)), np.zeros((8, 1)), epochs=3, verbose=0, callbacks=[timer])
    assert len(timer.seconds) == 3 and all(s > 0 for s in timer.seconds)


def test_merge_histories_joins_phases_and_pads_missing_metrics():
    merged = training.merge_histories({"loss": [3, 2], "lr": [1, 1]}, {"loss": [1.5]})
    assert merged["loss"] == [3, 2, 1.5]
    assert merged["lr"][:2] == [1, 1] and math.isnan(merged["lr"][2])
