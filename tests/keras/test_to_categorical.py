"""keras.utils.to_categorical keeps the labels' shape, as Keras: y.shape + (num_classes,),
with a trailing axis of 1 dropped (the oracle is NumPy's identity-matrix lookup)."""

import numpy as np
import pytest

from xlaflow import keras


def test_shapes_follow_the_labels():
    masks = np.random.default_rng(0).integers(0, 3, (4, 5, 6))
    onehot = keras.utils.to_categorical(masks, num_classes=3)
    assert onehot.shape == (4, 5, 6, 3) and onehot.dtype == np.float32
    np.testing.assert_array_equal(onehot, np.eye(3, dtype="float32")[masks])
    column = keras.utils.to_categorical(np.array([[0], [2], [1]]))  # (n, 1) -> (n, 3)
    np.testing.assert_array_equal(column, np.eye(3)[[0, 2, 1]])
    assert keras.utils.to_categorical(2, num_classes=4).tolist() == [0, 0, 1, 0]
    assert keras.utils.to_categorical([1, 0], dtype="int32").dtype == np.int32


def test_labels_outside_the_classes_are_refused():
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\) .* from 0 to 3"):
        keras.utils.to_categorical([0, 3], num_classes=3)
    with pytest.raises(ValueError, match="from -1 to 1"):
        keras.utils.to_categorical([-1, 1], num_classes=3)
