"""Eager update_state of the built-in metrics and eager calls of the built-in losses: one
compiled program per new batch shape for the function, the results NumPy's; a user's
function keeps eager semantics."""

import numpy as np
import pytest

import xlaflow as xf
from tests.compile_log import compiled_programs
from xlaflow import _eager_pairs

RNG = np.random.default_rng(11)


@pytest.fixture(autouse=True)
def fresh_programs(monkeypatch):
    """No compiled function from another test of this process: each shape compiles here."""
    monkeypatch.setattr(_eager_pairs, "_COMPILED", {})


def test_a_new_batch_shape_compiles_the_metric_function_once_not_op_by_op():
    metric = xf.keras.metrics.SparseCategoricalAccuracy()
    hits = seen = 0
    for n in (2, 5, 6, 7):
        y = RNG.integers(0, 4, n)
        p = RNG.random((n, 4), np.float32)
        with compiled_programs() as names:
            metric.update_state(y, p)
        if n > 2:  # after the first update, which also compiles the scalar bookkeeping:
            # the function as one program, and the sum of its values; NumPy inputs compile
            # nothing on their way to the device (jnp.asarray staged each new shape)
            # (the sum's program may be cached by another test of this process)
            assert names.count("jit(sparse_categorical_accuracy)") == 1
            assert set(names) <= {"jit(_reduce_sum)", "jit(sparse_categorical_accuracy)"}
        hits += int((p.argmax(-1) == y).sum())
        seen += n
    np.testing.assert_allclose(metric.result().numpy(), hits / seen, rtol=1e-6)


def test_compiled_updates_match_the_metric_functions_run_op_by_op():
    y = RNG.integers(0, 2, (9, 3)).astype(np.float32)
    p = RNG.random((9, 3), np.float32)
    for make in (lambda: xf.keras.metrics.BinaryAccuracy(threshold=0.3),
                 lambda: xf.keras.metrics.CategoricalCrossentropy(label_smoothing=0.1),
                 lambda: xf.keras.metrics.TopKCategoricalAccuracy(k=2),
                 xf.keras.metrics.MeanSquaredError):
        metric = make()
        metric.update_state(y, p)
        expected = np.mean(np.asarray(metric.fn(y, p, **metric.options)))
        np.testing.assert_allclose(metric.result().numpy(), expected, rtol=1e-6)


def test_a_users_function_runs_eagerly_every_time():
    calls = []

    def host_side(y_true, y_pred):
        calls.append(np.asarray(y_pred).shape)  # NumPy on the values: eager only
        return np.abs(np.asarray(y_true) - np.asarray(y_pred)).mean(-1)

    metric = xf.keras.metrics.MeanMetricWrapper(host_side, name="gap")
    for _ in range(2):
        metric.update_state(np.zeros((3, 2), np.float32), np.ones((3, 2), np.float32))
    assert calls == [(3, 2), (3, 2)]
    assert float(metric.result()) == 1.0


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_an_eager_loss_call_compiles_its_function_once_per_shape():
    loss = xf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    loss(np.array([0, 1]), RNG.normal(size=(2, 3)).astype(np.float32))
    for n in (4, 5):
        y = RNG.integers(0, 3, n)
        logits = RNG.normal(size=(n, 3)).astype(np.float32)
        with compiled_programs() as names:
            value = loss(y, logits)
        # (the mean's division is of scalars, compiled by the first call; the sum's program
        # may be cached by another test of this process)
        assert names.count("jit(sparse_categorical_crossentropy)") == 1
        assert set(names) <= {"jit(_reduce_sum)", "jit(sparse_categorical_crossentropy)"}
        expected = -_log_softmax(logits.astype(np.float64))[np.arange(n), y].mean()
        np.testing.assert_allclose(float(value), expected, rtol=1e-5)


def test_a_users_loss_function_runs_eagerly():
    calls = []

    def host_loss(y_true, y_pred):
        calls.append(type(np.asarray(y_pred)))  # NumPy on the values: eager only
        return np.square(np.asarray(y_true) - np.asarray(y_pred)).mean(-1)

    loss = xf.keras.losses.get(host_loss)
    assert float(loss(np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32))) == 1.0
    assert calls == [np.ndarray]


def test_a_changed_epsilon_is_a_new_program(restore_epsilon):
    loss = xf.keras.losses.BinaryCrossentropy()
    y_true, y_pred = np.ones((2, 1), np.float32), np.zeros((2, 1), np.float32)
    np.testing.assert_allclose(float(loss(y_true, y_pred)), -np.log(1e-7), rtol=1e-5)
    xf.keras.backend.set_epsilon(1e-3)  # read when the function is traced
    np.testing.assert_allclose(float(loss(y_true, y_pred)), -np.log(1e-3), rtol=1e-5)


@pytest.fixture
def restore_epsilon():
    yield
    xf.keras.backend.set_epsilon(1e-7)
