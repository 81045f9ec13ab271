"""donate_variables updates each Variable in its own buffer: no result takes it over.

jax.jit pairs donated inputs with outputs of the same shape and dtype in output order; a
scalar result listed before the Variables' new values took a scalar Variable's buffer, and
XLA added copy kernels to move the displaced values (a launch each on a GPU).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models


def pointers(variables):
    return [v.value.unsafe_buffer_pointer() for v in variables]


def test_a_scalar_result_leaves_the_scalar_variables_buffers_to_them():
    count, total, rate = xf.Variable(0.0), xf.Variable(0.0), xf.Variable(0.5)
    weights = xf.Variable(np.ones(4, np.float32))

    @xf.function(donate_variables=True)
    def step(x):
        weights.assign_sub(rate * x)  # `rate` is read only: it passes through
        total.assign_add(jnp.sum(x))
        count.assign_add(1.0)
        return total / count, jnp.sum(weights)  # scalar results, as a train step's logs

    x = np.arange(4, dtype=np.float32)
    step(x)  # traces and compiles
    before = pointers([count, total, rate, weights])
    mean, weight_sum = step(x)
    assert pointers([count, total, rate, weights]) == before
    # the results are right, in buffers of their own
    np.testing.assert_allclose([float(mean), float(weight_sum)], [6.0, 4.0 - 6.0])
    assert mean.unsafe_buffer_pointer() not in before
    np.testing.assert_allclose(weights.numpy(), 1.0 - 2 * 0.5 * x)
    np.testing.assert_allclose([count.numpy(), total.numpy(), rate.numpy()], [2.0, 12.0, 0.5])


@pytest.mark.usefixtures("host_batches")
def test_a_fit_step_updates_every_variable_in_place():
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x = np.random.default_rng(0).random((16, 4), np.float32)
    y = np.arange(16) % 3
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # compiles the step
    step = model.trainer._compiled_train_step
    (entry,) = step._cache.values()
    # weights, Adam's slots, its iterations and learning rate, each metric's total and count
    assert len(entry.variables) == 4 + 8 + 2 + 4
    before = pointers(entry.variables)
    logs = model.trainer.raw_train_step(x, y, None)
    assert pointers(entry.variables) == before
    assert not {log.unsafe_buffer_pointer() for log in logs} & set(before)


def test_a_failing_run_time_check_leaves_donated_variables_usable_and_unchanged():
    # A failed check raises instead of writing the new values back; with the old values
    # donated they were gone too ("Array has been deleted": fit's model unusable after a
    # failing assert or py_function). A program with checks keeps its Variables' buffers.
    v = xf.Variable(np.ones(3, np.float32))

    @xf.function(donate_variables=True)
    def step(x):
        v.assign_add(x)
        xf.debugging.assert_less(v, 10.0, message="too big")
        return v.read_value() * 1

    np.testing.assert_array_equal(step(np.ones(3, np.float32)), [2.0, 2.0, 2.0])
    with pytest.raises(xf.errors.InvalidArgumentError, match="too big"):
        step(np.full(3, 20.0, np.float32))
    np.testing.assert_array_equal(v.numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(step(np.ones(3, np.float32)), [3.0, 3.0, 3.0])

    class Check(layers.Layer):
        def call(self, x):
            xf.debugging.assert_less(x, 100.0, message="input too big")
            return x

    model = models.Sequential([layers.Input((2,)), Check(), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((8, 2), np.float32), np.ones((8, 1), np.float32)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    before = model.get_weights()
    with pytest.raises(xf.errors.InvalidArgumentError, match="input too big"):
        model.fit(x * 1000, y, batch_size=8, epochs=1, verbose=0)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    kernel, bias = before
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ kernel + bias, rtol=1e-6)
