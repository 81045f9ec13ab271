"""Keras layers called on a RaggedTensor outside a model (Keras 2): per-value layers keep
the rows, masking layers see each row alone; checked against the rows one by one."""

import numpy as np
import pytest

import xlaflow as xf

layers = xf.keras.layers
ROWS = [[1, 2, 3], [4], [5, 6]]


def test_embedding_and_dense_keep_the_rows():
    rt = xf.ragged.constant(ROWS)
    embed = layers.Embedding(10, 3)
    out = embed(rt)
    assert out.shape.as_list() == [3, None, 3]
    table = np.asarray(embed.embeddings)
    for row, got in zip(ROWS, out.to_list()):
        np.testing.assert_allclose(got, table[row], rtol=1e-6)
    dense = layers.Dense(2)
    projected = dense(out)
    for row, got in zip(ROWS, projected.to_list()):
        np.testing.assert_allclose(got, table[row] @ np.asarray(dense.kernel)
                                   + np.asarray(dense.bias), rtol=1e-5, atol=1e-6)


def test_an_rnn_and_average_pooling_see_each_row_alone():
    xf.keras.utils.set_random_seed(0)
    rt = layers.Embedding(10, 4)(xf.ragged.constant(ROWS))
    lstm = layers.LSTM(3)
    last = lstm(rt)
    seq = layers.GRU(2, return_sequences=True)
    steps = seq(rt)
    pooled = layers.GlobalAveragePooling1D()(rt)
    assert isinstance(steps, xf.RaggedTensor) and steps.row_lengths().tolist() == [3, 1, 2]
    for i, row in enumerate(rt.to_list()):
        alone = np.asarray([row], np.float32)  # the row alone: no padding, no mask
        np.testing.assert_allclose(last[i], lstm(alone)[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(steps[i], seq(alone)[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(pooled[i], np.mean(row, axis=0), rtol=1e-5, atol=1e-6)


def test_a_ragged_last_axis_is_refused_with_what_to_do():
    with pytest.raises(TypeError, match=r"dense.*does not take a RaggedTensor.*to_tensor"):
        layers.Dense(2)(xf.ragged.constant([[1.0, 2.0], [3.0]]))


def test_element_wise_layers_take_any_ragged_tensor():
    rt = xf.ragged.constant([[1.0, -2.0], [3.0]])
    assert layers.Activation("relu")(rt).to_list() == [[1.0, 0.0], [3.0]]
    assert layers.Dropout(0.5)(rt, training=False).to_list() == rt.to_list()
