"""A model built from its first data (no Input, no input_shape) takes later data of other
sizes, as in TF: trained on length-10 token sequences, it predicts on length 12. A declared
input shape stays a contract, and so do the number and ranks of inputs.

Oracle: the same forward pass in NumPy from the model's weights.
"""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras


class MeanEmbedding(keras.Model):
    def __init__(self):
        super().__init__()
        self.embed = keras.layers.Embedding(50, 8)
        self.out = keras.layers.Dense(1)

    def call(self, x):
        return self.out(xf.reduce_mean(self.embed(x), axis=1))


def _sequential():
    return keras.Sequential([keras.layers.Embedding(50, 8),
                             keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1)])


def _numpy_forward(model, tokens):
    table, kernel, bias = (np.asarray(w) for w in model.get_weights())
    return table[tokens].mean(axis=1) @ kernel + bias


@pytest.mark.parametrize("make", [MeanEmbedding, _sequential])
def test_a_model_built_from_data_takes_other_sequence_lengths(make):
    rng = np.random.default_rng(0)
    model = make()
    model.compile("adam", "mse")
    model.fit(rng.integers(0, 50, (32, 10)), rng.random(32), verbose=0)
    for length in (12, 3):
        tokens = rng.integers(0, 50, (4, length))
        np.testing.assert_allclose(model.predict(tokens, verbose=0),
                                   _numpy_forward(model, tokens), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(model(tokens)), _numpy_forward(model, tokens),
                                   rtol=1e-5, atol=1e-6)
    model.fit(rng.integers(0, 50, (16, 7)), rng.random(16), verbose=0,
              validation_data=(rng.integers(0, 50, (8, 9)), rng.random(8)))
    tokens = rng.integers(0, 50, (8, 5))
    want = float(np.mean((_numpy_forward(model, tokens)[:, 0] - 0.5) ** 2))
    assert model.evaluate(tokens, np.full(8, 0.5), verbose=0) == pytest.approx(want, rel=1e-4)
    ids = rng.integers(0, 50, (4, 12, 1))
    if isinstance(model, keras.Sequential):
        # Keras 2: Embedding declares the input (None,), and ids with a trailing size-1
        # axis are conformed to it (squeezed), as Keras 2's functional input check does
        np.testing.assert_allclose(model.predict(ids, verbose=0),
                                   _numpy_forward(model, ids[..., 0]), rtol=1e-5, atol=1e-6)
    else:
        with pytest.raises(ValueError, match=r"\(4, 12, 1\)"):  # the rank still holds
            model.predict(ids, verbose=0)


def test_a_declared_input_shape_stays_a_contract():
    model = keras.Sequential([keras.Input((10,), dtype="int32"), keras.layers.Embedding(50, 8),
                              keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"\(4, 12\).*\(None, 10\)"):
        model.predict(np.zeros((4, 12), np.int32), verbose=0)


def test_dense_names_the_size_it_expects():
    model = keras.Sequential([keras.layers.Dense(1, name="head")])
    model.compile("sgd", "mse")
    model.fit(np.zeros((8, 4)), np.zeros(8), verbose=0)
    with pytest.raises(ValueError, match=r"'head'.*value 4.*\(2, 5\)"):
        model.predict(np.zeros((2, 5)), verbose=0)


def test_sequential_with_an_input_of_declared_batch_size_builds_and_predicts():
    # keras.Input(shape, batch_size=4) (what a stateful RNN wants): it was built with a
    # batch of 1, which its own declared shape refused
    model = keras.Sequential([keras.Input((3,), batch_size=4), keras.layers.Dense(2)])
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(model.predict(x, batch_size=4, verbose=0), x @ kernel + bias,
                               rtol=1e-5, atol=1e-6)
