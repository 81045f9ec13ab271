"""TF2 names that the second round of ported programs found missing, each checked against
TF's documented behaviour or NumPy (the programs are in test_tf2_ports_more.py)."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras


def test_loss_reduction_names_as_keras_2():
    # Keras 2: Reduction.NONE keeps one value per example; AUTO is sum-over-batch-size.
    y_true = np.array([[1.0], [2.0], [4.0]], np.float32)
    y_pred = np.zeros((3, 1), np.float32)
    losses = keras.losses
    none = losses.MeanSquaredError(reduction=losses.Reduction.NONE)(y_true, y_pred)
    np.testing.assert_allclose(none, [1.0, 4.0, 16.0])
    auto = losses.MeanSquaredError(reduction=losses.Reduction.AUTO)(y_true, y_pred)
    np.testing.assert_allclose(auto, 7.0)
    total = losses.MeanSquaredError(reduction=losses.Reduction.SUM)(y_true, y_pred)
    np.testing.assert_allclose(total, 21.0)
    with pytest.raises(ValueError, match="Invalid Reduction Key"):
        losses.Reduction.validate("mean")
