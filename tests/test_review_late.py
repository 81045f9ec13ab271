"""Review findings: mixed-precision autocast state and fit's device prefetch thread."""

import threading

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, mixed_precision, models


@pytest.fixture
def policy():
    yield mixed_precision.set_global_policy
    mixed_precision.set_global_policy("float32")


class _Counter(layers.Layer):
    def build(self, input_shape):
        self.count = self.add_weight("count", (), initializer="zeros", trainable=False)

    def call(self, x):
        self.count.assign_add(1.0)
        return x


def test_assign_add_inside_a_mixed_layer_keeps_float32_precision(policy):
    # The read half of assign_add must not be autocast: the stored float32 value would be
    # rounded to bfloat16 (8 significant bits) before the add, and a counter stalls at 257.
    policy("mixed_bfloat16")
    counter = _Counter()
    x = np.zeros((1, 2), np.float32)
    for _ in range(300):
        counter(x)
    assert float(counter.count.numpy()) == 300.0


def test_autocast_in_one_thread_does_not_cast_reads_in_another(policy):
    # A mixed layer running in one thread (a data-pipeline map, a server request) must not
    # change what Variables read as in another (an optimizer update being traced).
    policy("mixed_bfloat16")
    inside, release = threading.Event(), threading.Event()

    class Blocking(layers.Layer):
        def call(self, x):
            inside.set()
            release.wait(10)
            return x

    layer = Blocking()
    worker = threading.Thread(target=layer, args=(np.zeros((1, 2), np.float32),))
    worker.start()
    try:
        assert inside.wait(10)
        v = xf.Variable(np.float32(1.0))
        assert v.value.dtype == jnp.float32
    finally:
        release.set()
        worker.join()


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "xlaflow-prefetch" and t.is_alive()]


def test_fit_stops_its_device_prefetch_thread_when_it_returns():
    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    y = x.sum(1, keepdims=True)
    dataset = xf.data.Dataset.from_tensor_slices((x, y)).batch(8).repeat()
    model = models.Sequential([layers.Dense(1, input_shape=(4,))])
    model.compile(optimizer="sgd", loss="mse")
    before = set(_prefetch_threads())
    with xf.config.override(device_prefetch="on"):
        model.fit(dataset, epochs=2, steps_per_epoch=3, verbose=0,
                  validation_data=dataset, validation_steps=2)
        model.evaluate(dataset, steps=2, verbose=0)
        model.predict(dataset.map(lambda a, b: a), steps=2, verbose=0)
    leaked = [t for t in _prefetch_threads() if t not in before]
    for t in leaked:
        t.join(timeout=2)
    assert not [t for t in leaked if t.is_alive()]


def test_compile_wraps_the_optimizer_for_a_float16_model_whatever_the_global_policy(policy):
    # Keras decides by the model's own policy: a model built under mixed_float16 and
    # compiled after the global policy went back to float32 still needs loss scaling.
    policy("mixed_float16")
    model = models.Sequential([layers.Dense(2, input_shape=(4,))])
    policy("float32")
    model.compile(optimizer="sgd", loss="mse")
    assert isinstance(model.optimizer, mixed_precision.LossScaleOptimizer)
