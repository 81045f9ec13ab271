"""Eager update_state of the built-in metrics: one compiled program per new batch shape for
the metric's function, the results NumPy's; a user's function keeps eager semantics."""

import numpy as np

import xlaflow as xf
from tests.compile_log import compiled_programs

RNG = np.random.default_rng(11)


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
            assert sorted(names) == ["jit(_reduce_sum)", "jit(sparse_categorical_accuracy)"]
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
