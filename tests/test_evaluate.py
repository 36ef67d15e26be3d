import keras
import numpy as np
import pytest
import tensorflow as tf

from tlhelpers import evaluate


def test_confusion_matrix_and_per_class_accuracy():
    labels = np.array([0, 0, 1, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 0, 2])
    cm = evaluate.confusion_matrix(labels, predicted, 4)
    assert cm.tolist() == [[1, 1, 0, 0], [1, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    acc = evaluate.per_class_accuracy(cm)
    np.testing.assert_allclose(acc[:3], [0.5, 2 / 3, 1.0])
    assert np.isnan(acc[3])


def test_confusion_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match="differ in length"):
        evaluate.confusion_matrix([0, 1], [0], 2)
    with pytest.raises(ValueError, match="0..1"):
        evaluate.confusion_matrix([0, 2], [0, 1], 2)


class _Echo(keras.Model):
    """Predicts the class encoded in pixel [0, 0, 0] (value = class * 10)."""

    def call(self, x, training=False):
        cls = tf.cast(tf.round(x[:, 0, 0, 0] / 10.0), tf.int32)
        return tf.one_hot(cls, 3) * 0.8 + 0.2 / 3


def test_predict_dataset_keeps_labels_aligned_and_finds_worst_mistakes():
    labels = np.array([0, 1, 2, 1, 0, 2, 2])
    guessed = np.array([0, 1, 1, 1, 2, 2, 0])  # three wrong
    images = np.zeros((7, 4, 4, 3), np.float32)
    images[:, 0, 0, 0] = guessed * 10
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(3)
    preds = evaluate.predict_dataset(_Echo(), ds, keep_images=5)
    assert preds.labels.tolist() == labels.tolist()
    assert preds.predicted.tolist() == guessed.tolist()
    assert preds.accuracy == pytest.approx(4 / 7)
    assert preds.images.shape == (5, 4, 4, 3) and preds.images.dtype == np.uint8
    assert sorted(evaluate.worst_mistakes(preds).tolist()) == [2, 4]  # index 6 is beyond the kept images


def test_predict_dataset_rejects_empty():
    ds = tf.data.Dataset.from_tensor_slices((np.zeros((0, 2, 2, 3), np.float32), np.zeros((0,), np.int64)))
    with pytest.raises(ValueError, match="empty"):
        evaluate.predict_dataset(_Echo(), ds.batch(2))


def test_top_losses_rank_by_the_probability_of_the_true_class():
    labels = np.array([0, 1, 1, 0, 1])
    probs = np.array([[0.9, 0.1],    # right, sure: loss 0.105
                      [0.6, 0.4],    # wrong, hesitant: 0.916
                      [0.45, 0.55],  # right, hesitant: 0.598
                      [0.02, 0.98],  # wrong, sure: 3.912
                      [0.0, 1.0]])   # right, certain: 0
    preds = evaluate.Predictions(images=np.zeros((5, 2, 2, 3), np.uint8), labels=labels, probs=probs)
    idx, losses = evaluate.top_losses(preds, k=3)
    assert idx.tolist() == [3, 1, 2]  # the confident mistake first, then a hesitant mistake, then a hesitant hit
    np.testing.assert_allclose(losses, -np.log([0.02, 0.4, 0.55]))
    assert evaluate.top_losses(preds, k=10)[0].tolist() == [3, 1, 2, 0, 4]
    kept = preds._replace(images=np.zeros((2, 2, 2, 3), np.uint8))  # only kept images can be shown
    assert evaluate.top_losses(kept)[0].tolist() == [1, 0]
