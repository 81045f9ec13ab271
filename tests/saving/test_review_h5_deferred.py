"""TF's delayed restoration into a model holding Dropout: its seed state is a variable from
construction, before any build, and that made the unbuilt model count as built-enough, so
Checkpoint.restore reported a mismatch and load_weights said "build it first".

Oracles: NumPy's forward pass on the saved arrays (Dropout is the identity at inference),
the saved optimizer step, and TF's documented status behaviour (assert_consumed passes
once the first call has assigned every value)."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import train
from xlaflow.keras import layers

X = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
Y = np.ones((5, 2), np.float32)


def make():
    model = xf.keras.Sequential([layers.Dense(4), layers.Dropout(0.3), layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    return model


def forward(model):
    (k1, b1), (k2, b2) = [[w.numpy() for w in model.layers[i].weights] for i in (0, 2)]
    return (X @ k1 + b1) @ k2 + b2


@pytest.fixture(scope="module")
def trained():
    model = make()
    model.fit(X, Y, epochs=2, verbose=0)
    return model, forward(model)


@pytest.mark.parametrize("first", ["call", "fit"])
def test_checkpoint_restore_into_an_unbuilt_model_with_dropout(tmp_path, trained, first):
    saved, expected = trained
    path = train.Checkpoint(model=saved, optimizer=saved.optimizer).write(tmp_path / "c")
    model = make()
    assert model.variables and not model.weights  # the seed state, no weight yet
    status = train.Checkpoint(model=model, optimizer=model.optimizer).restore(path)
    with pytest.raises(AssertionError, match="the values wait for the first call"):
        status.assert_consumed()
    if first == "call":
        out = model(X)
    else:
        model.fit(X, Y, epochs=0, verbose=0)
        out = model.predict(X, verbose=0)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-5, atol=1e-6)
    assert int(model.optimizer.iterations.numpy()) == int(saved.optimizer.iterations.numpy())
    status.assert_consumed()


def test_load_weights_into_an_unbuilt_model_with_dropout(tmp_path, trained):
    saved, expected = trained
    saved.save_weights(str(tmp_path / "w"))
    model = make()
    status = model.load_weights(str(tmp_path / "w"))
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-6)
    status.assert_consumed()


def test_a_failed_first_call_leaves_the_values_waiting_with_dropout_too(tmp_path, trained):
    saved, expected = trained
    path = train.Checkpoint(model=saved).write(tmp_path / "c")
    model = make()
    status = train.Checkpoint(model=model).restore(path)
    with pytest.raises(IndexError):
        model(np.float32(1.0))  # a scalar: Dense fails before creating its kernel
    assert not model.weights
    np.testing.assert_allclose(np.asarray(model(X)), expected, rtol=1e-5, atol=1e-6)
    status.assert_consumed()
