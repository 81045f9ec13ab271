"""`model(x, mask=m)` on Sequential and functional models, as Keras 2: the mask reaches the
layers as if an earlier layer had attached it, and only for that call.

Oracle: the same recurrent layer called directly with `mask=` (itself checked against a
NumPy recurrence in test_masking.py), and the unmasked call.
"""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models

B, T, F = 3, 5, 4
X = np.random.default_rng(3).normal(size=(B, T, F)).astype(np.float32)
MASK = np.array([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1], [0, 1, 1, 0, 0]], bool)


def _rnn():
    rnn = layers.SimpleRNN(3, return_sequences=True)
    rnn(jnp.asarray(X))  # build
    return rnn


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_a_mask_given_to_the_model_reaches_its_layers_for_that_call_only(kind):
    rnn = _rnn()
    x = jnp.asarray(X)
    expect_masked = np.asarray(rnn(x, mask=jnp.asarray(MASK)))
    expect_plain = np.asarray(rnn(x))
    assert not np.allclose(expect_masked, expect_plain)
    if kind == "sequential":
        model = models.Sequential([xf.keras.Input((T, F)), rnn, layers.Dense(2)])
    else:
        inputs = xf.keras.Input((T, F))
        model = models.Model(inputs, layers.Dense(2)(rnn(inputs)))
    dense = model.layers[-1]
    masked = np.asarray(model(x, mask=jnp.asarray(MASK)))
    np.testing.assert_allclose(masked, np.asarray(dense(jnp.asarray(expect_masked))),
                               rtol=1e-5, atol=1e-6)
    # the next call without mask= is not masked: the array does not keep the mask
    plain = np.asarray(model(x))
    np.testing.assert_allclose(plain, np.asarray(dense(jnp.asarray(expect_plain))),
                               rtol=1e-5, atol=1e-6)


def test_one_mask_per_input_is_required():
    model = models.Sequential([xf.keras.Input((T, F)), layers.SimpleRNN(3)])
    with pytest.raises(ValueError, match="2 mask"):
        model(jnp.asarray(X), mask=[jnp.asarray(MASK), jnp.asarray(MASK)])
