"""fit/evaluate with the arrays kept on the device (fit_arrays_on_device): bitwise the host
path's weights and History, a NumPy SGD oracle, and when the flag applies or falls back."""

import types

import jax
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import callbacks, layers, models
from xlaflow.training import device_arrays

RNG = np.random.default_rng(0)
X = RNG.normal(size=(100, 6)).astype(np.float32)
Y = ((X[:, :3].sum(-1) > 0).astype(np.int64) + (X[:, 3] > 1)).astype(np.int64)
W = RNG.uniform(0.5, 2.0, size=100).astype(np.float32)


@pytest.fixture
def built(monkeypatch):
    """Counts the DeviceArrays fit and evaluate build (0: the host path ran)."""
    made = []

    class Spy(device_arrays.DeviceArrays):
        def __init__(self, *args):
            super().__init__(*args)
            made.append(self)

    monkeypatch.setattr(device_arrays, "DeviceArrays", Spy)
    return made


def mlp(dropout=False, batchnorm=False):
    xf.keras.utils.set_random_seed(0)
    stack = [layers.Dense(8, activation="relu", input_shape=(6,))]
    if batchnorm:
        stack.append(layers.BatchNormalization())
    if dropout:
        stack.append(layers.Dropout(0.4))
    model = models.Sequential([*stack, layers.Dense(3, activation="softmax")])
    model.compile(optimizer=xf.keras.optimizers.Adam(0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def two_inputs():
    xf.keras.utils.set_random_seed(0)
    a, b = layers.Input(shape=(4,), name="a"), layers.Input(shape=(2,), name="b")
    hidden = layers.Dense(5, activation="tanh")(layers.Concatenate()([a, b]))
    model = models.Model({"a": a, "b": b}, layers.Dense(3, activation="softmax")(hidden))
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def both_paths(build, built, fit_kwargs, x=X, y=Y, evaluate=False):
    """(weights, history[, evaluate logs]) with the flag 'off', then 'on', same seeds."""
    results = []
    for mode in ("off", "on"):
        with xf.config.override(fit_arrays_on_device=mode):
            model = build()
            xf.keras.utils.set_random_seed(7)  # the shuffle's base seed, Dropout's keys
            history = model.fit(x, y, verbose=0, **fit_kwargs)
            # in fit's batch size: the host path's test programs of a validation are reused
            logs = model.evaluate(x, y, batch_size=fit_kwargs["batch_size"], verbose=0,
                                  return_dict=True) if evaluate else None
            results.append((model.get_weights(), history.history, logs))
    assert built, "the 'on' run did not keep its arrays on the device"
    (w_off, h_off, e_off), (w_on, h_on, e_on) = results
    assert len(w_off) == len(w_on)
    for a, b in zip(w_off, w_on):
        _same(a, b)
    assert h_off.keys() == h_on.keys()
    for key in h_off:
        _same(h_off[key], h_on[key])
    assert (e_off is None) == (e_on is None)
    if e_off is not None:
        assert e_off.keys() == e_on.keys()
        for key in e_off:
            _same(e_off[key], e_on[key])
    return h_on


def _same(a, b):
    """Bitwise on the CPU. Elsewhere the gathering program is another XLA program, whose
    fusions may order float sums differently: an H100 gave a loss 1 ulp apart (2.4e-7)."""
    if jax.default_backend() == "cpu":
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


CASES = {
    "shuffled, last batch partial": {"batch_size": 32, "epochs": 2},
    "unshuffled": {"batch_size": 32, "epochs": 2, "shuffle": False},
    "sample_weight": {"batch_size": 16, "epochs": 2, "sample_weight": W},
    "class_weight": {"batch_size": 16, "epochs": 2, "class_weight": {0: 1.0, 1: 3.0, 2: 0.5}},
    "validation_split": {"batch_size": 16, "epochs": 2, "validation_split": 0.25},
    "validation_data": {"batch_size": 16, "epochs": 2, "validation_data": (X[:30], Y[:30])},
    "steps_per_epoch shorter than the data": {"batch_size": 16, "epochs": 3,
                                              "steps_per_epoch": 4},
    "initial_epoch": {"batch_size": 32, "epochs": 3, "initial_epoch": 1},
}


@pytest.mark.parametrize("kwargs", CASES.values(), ids=CASES.keys())
def test_fit_on_device_is_bitwise_the_host_path(kwargs, built):
    history = both_paths(mlp, built, kwargs)
    assert len(history["loss"]) == kwargs["epochs"] - kwargs.get("initial_epoch", 0)


def test_dropout_and_batchnorm_draw_the_same_randomness(built):
    both_paths(lambda: mlp(dropout=True, batchnorm=True), built,
               {"batch_size": 16, "epochs": 2, "validation_split": 0.2})


def test_dict_inputs_of_a_functional_model(built):
    x = {"a": X[:, :4], "b": X[:, 4:]}
    both_paths(two_inputs, built, {"batch_size": 24, "epochs": 2}, x=x, evaluate=True)


class CustomStep(models.Model):
    """TF 2's 'customizing what happens in fit': its own train_step and test_step."""

    def __init__(self):
        super().__init__()
        self.hidden, self.out = layers.Dense(5, activation="tanh"), layers.Dense(1)

    def call(self, x, training=None):
        return self.out(self.hidden(x))

    def train_step(self, data):
        x, y = data
        with xf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compiled_loss(y, y_pred)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.compiled_metrics.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data
        self.compiled_metrics.update_state(y, 2.0 * self(x, training=False))
        return {m.name: m.result() for m in self.metrics}


def test_a_custom_train_and_test_step_gather_on_the_device(built):
    def build():
        xf.keras.utils.set_random_seed(0)
        model = CustomStep()
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        return model
    both_paths(build, built, {"batch_size": 16, "epochs": 2, "validation_split": 0.2},
               y=X[:, :1] - X[:, 1:2], evaluate=True)


def test_steps_per_execution_blocks_gather_on_the_device(built):
    def build():
        model = mlp()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      steps_per_execution=3)
        return model
    # 100 examples of 8: one block of 3 batches... then the last 4 batches one by one.
    both_paths(build, built, {"batch_size": 8, "epochs": 2})


def test_backup_and_restore_resumes_a_device_fit_exactly(tmp_path, built):
    class Interrupt(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.model._fit_state.epoch == 1 and batch == 1:
                raise RuntimeError("interrupted")

    def run(mode, interrupted):
        with xf.config.override(fit_arrays_on_device=mode):
            model = mlp()
            xf.keras.utils.set_random_seed(3)
            backup = callbacks.BackupAndRestore(str(tmp_path / mode))
            if interrupted:
                with pytest.raises(RuntimeError, match="interrupted"):
                    model.fit(X, Y, batch_size=16, epochs=3, verbose=0,
                              callbacks=[backup, Interrupt()])
            model.fit(X, Y, batch_size=16, epochs=3, verbose=0, callbacks=[backup])
            return model.get_weights()

    for a, b in zip(run("off", False), run("on", True)):
        np.testing.assert_array_equal(a, b)
    assert built


def test_matches_numpy_sgd_on_a_linear_model(built):
    """Independent oracle: minibatch SGD on a mean squared error, written in NumPy."""
    x, target = X[:, :3], X[:, :3] @ np.float32([[1.0], [-2.0], [0.5]])
    model = models.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer=xf.keras.optimizers.SGD(0.1), loss="mse")
    kernel, bias = (w.astype(np.float64) for w in model.get_weights())
    with xf.config.override(fit_arrays_on_device="on"):
        model.fit(x, target, batch_size=32, epochs=2, shuffle=False, verbose=0)
    for _ in range(2):
        for i in range(0, 100, 32):  # the last batch has 4 rows
            xb, tb = x[i:i + 32].astype(np.float64), target[i:i + 32]
            error = xb @ kernel + bias - tb
            kernel = kernel - 0.1 * 2 * xb.T @ error / len(xb)
            bias = bias - 0.1 * 2 * error.mean(0)
    np.testing.assert_allclose(model.get_weights()[0], kernel, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.get_weights()[1], bias, rtol=1e-5, atol=1e-6)
    assert built


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="'auto' is on for GPU/TPU backends")
def test_auto_is_off_on_cpu(built):
    assert xf.config.read("fit_arrays_on_device") == "auto"
    trainer = types.SimpleNamespace(strategy=None)
    from xlaflow.training.data import ArrayBatches
    assert not device_arrays.applies(trainer, ArrayBatches(X, Y))
    model = mlp()
    model.fit(X, Y, batch_size=32, epochs=1, verbose=0)
    # batches of 16 only: the validation cases' test program (one compile at most)
    model.evaluate(X[:32], Y[:32], batch_size=16, verbose=0)
    assert not built


def test_auto_on_an_accelerator_follows_the_memory_budget(monkeypatch, built):
    from xlaflow.training.data import ArrayBatches
    trainer = types.SimpleNamespace(strategy=None)
    data = ArrayBatches(X, Y)  # 100 * (6 float32 + 1 int64) = 3200 bytes
    monkeypatch.setattr(device_arrays, "_backend", lambda: "gpu")
    monkeypatch.setattr(device_arrays, "_device_limit", lambda: None)
    assert device_arrays.applies(trainer, data)
    monkeypatch.setattr(device_arrays, "_device_limit", lambda: 4 * 3200 - 4)
    assert not device_arrays.applies(trainer, data)  # over a quarter of the device
    monkeypatch.setattr(device_arrays, "_device_limit", lambda: 4 * 3200)
    assert device_arrays.applies(trainer, data)
    monkeypatch.setattr(device_arrays, "MAX_BYTES", 3199)
    assert not device_arrays.applies(trainer, data)
    # A dataset over the budget trains on the host path, as before.
    model = mlp()
    model.fit(X, Y, batch_size=32, epochs=1, verbose=0)
    assert not built
    monkeypatch.setattr(device_arrays, "MAX_BYTES", 1 << 30)
    model.fit(X, Y, batch_size=32, epochs=1, verbose=0)
    assert len(built) == 1


def test_never_under_a_strategy_nor_for_iterables_nor_non_numeric_arrays(built):
    from xlaflow.training.data import ArrayBatches
    trainer = types.SimpleNamespace(strategy=None)
    with xf.config.override(fit_arrays_on_device="on"):
        assert device_arrays.applies(trainer, ArrayBatches(X, Y))
        assert not device_arrays.applies(trainer, ArrayBatches(X, Y.astype(str)))
        model = mlp()
        model.fit([(X[:50], Y[:50]), (X[50:], Y[50:])], epochs=1, verbose=0)
        assert not built
        with xf.distribute.MirroredStrategy().scope():
            model = mlp()
        model.fit(X, Y, batch_size=20, epochs=1, verbose=0)
    assert not built


@pytest.mark.parametrize("value", ["yes", "ON ", 1, None])
def test_bad_flag_values_are_refused_when_set(value):
    if value == "ON ":  # case and spaces are forgiven, as for device_prefetch
        xf.config.update("fit_arrays_on_device", value)
        return
    with pytest.raises(ValueError, match=r"fit_arrays_on_device must be one of "
                                         r"\['auto', 'on', 'off'\]; received"):
        xf.config.update("fit_arrays_on_device", value)
    assert xf.config.read("fit_arrays_on_device") == "auto"


def test_a_bad_environment_value_fails_fit_before_any_weight_changes(monkeypatch):
    model = mlp()
    # the batch size of the other tests' host fits: the same program, found in the cache
    model.fit(X[:32], Y[:32], batch_size=32, epochs=1, verbose=0)
    before = model.get_weights()
    monkeypatch.setattr(xf.config.flags, "fit_arrays_on_device", "sometimes")  # as the env
    with pytest.raises(ValueError, match="XLAFLOW_FIT_ARRAYS_ON_DEVICE"):
        model.fit(X, Y, batch_size=32, epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_second_fit_reuses_the_compiled_gathering_steps(built):
    model = mlp()
    with xf.config.override(fit_arrays_on_device="on"):
        model.fit(X, Y, batch_size=32, epochs=1, verbose=0)
        steps = dict(model.trainer.gathering_steps)
        model.fit(X, Y, batch_size=32, epochs=2, verbose=0)
    # One program per batch size (32, and the last batch's 4), each traced once.
    assert len(steps) == 2 and model.trainer.gathering_steps == steps
    assert [step.tracing_count for step in steps.values()] == [1, 1]
    # The batches' first rows, on the device, are made once too.
    starts = model.trainer.gathering_starts[100, 32]
    assert [int(s) for s in starts] == [0, 32, 64, 96]
    with xf.config.override(fit_arrays_on_device="on"):
        model.fit(X, Y, batch_size=32, epochs=1, verbose=0)
    assert model.trainer.gathering_starts[100, 32] is starts


def test_fits_on_arrays_of_new_sizes_neither_warn_of_retracing_nor_grow_the_cache(
        monkeypatch):
    # Each fit puts the whole arrays on the device: their length is part of the gathering
    # program's signature. Fits on 4 sizes (a growing buffer, folds) must not trip the
    # RetracingWarning of an internal function (an error under filterwarnings=error; its
    # threshold lowered to 2 so that 4 sizes, one program each, would pass it), and the
    # kept programs stay bounded.
    monkeypatch.setattr(device_arrays, "MAX_STEPS", 3)
    xf.config.update("retrace_warning_threshold", 2)  # restored after the test (conftest)
    model, host = mlp(), mlp()
    for n in range(32, 32 + 16 * 4, 16):  # 32, 48, 64, 80 examples: batches of 16
        with xf.config.override(fit_arrays_on_device="on"):
            model.fit(X[:n], Y[:n], batch_size=16, shuffle=False, verbose=0)
        with xf.config.override(fit_arrays_on_device="off"):
            host.fit(X[:n], Y[:n], batch_size=16, shuffle=False, verbose=0)
        assert len(model.trainer.gathering_steps) <= 3
    for a, b in zip(host.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)  # the same training as the host path
