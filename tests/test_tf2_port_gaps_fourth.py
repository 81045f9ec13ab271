"""TF2 behaviour the fourth round of ported programs (test_tf2_ports_fourth.py) found
missing: a user's loss function sees labels and predictions of one rank."""

import numpy as np
import pytest

from xlaflow import keras


def test_a_loss_function_sees_labels_and_predictions_of_one_rank():
    # Keras 2's LossFunctionWrapper squeezes (n, 1) predictions against (n,) labels before
    # calling the function (keras.io's siamese example relies on it); without that,
    # `y_true * y_pred` broadcasts to an (n, n) matrix and the loss is another number
    def product_loss(y_true, y_pred):
        return y_true * y_pred

    y_true = np.array([1.0, 0.0, 2.0], "float32")
    y_pred = np.array([[3.0], [4.0], [5.0]], "float32")
    loss = keras.losses.get(product_loss)
    assert float(loss(y_true, y_pred)) == pytest.approx(np.mean([3.0, 0.0, 10.0]))
