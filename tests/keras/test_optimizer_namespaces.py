"""keras.optimizers.legacy / .experimental (TF 2.9-2.11+ import paths) are the same classes."""

import importlib

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import xlaflow as xf

GRAD = np.array([0.5, -1.0, 2.0], np.float32)
START = np.array([1.0, 2.0, -1.0], np.float32)


def one_step(opt):
    v = xf.Variable(START)
    opt.apply_gradients([(GRAD, v)])
    return v.numpy()


def optax_step(tx):
    params = jnp.asarray(START)
    updates, _ = tx.update(jnp.asarray(GRAD), tx.init(params), params)
    return np.asarray(optax.apply_updates(params, updates))


@pytest.mark.parametrize("path", ["xlaflow.keras.optimizers.legacy",
                                  "xlaflow.keras.optimizers.experimental"])
def test_imports_name_the_plain_classes(path):
    module = importlib.import_module(path)
    for name in ("SGD", "Adam", "RMSprop", "Adagrad", "Adamax", "Nadam", "Optimizer"):
        assert getattr(module, name) is getattr(xf.keras.optimizers, name)
    assert xf.keras.optimizers.experimental.AdamW is xf.keras.optimizers.AdamW


@pytest.mark.parametrize("make, tx", [
    (lambda: xf.keras.optimizers.legacy.Adam(0.01), optax.adam(0.01, eps=1e-7)),
    (lambda: xf.keras.optimizers.legacy.SGD(0.1, momentum=0.9), optax.sgd(0.1, momentum=0.9)),
    (lambda: xf.keras.optimizers.experimental.AdamW(0.01, weight_decay=0.1),
     optax.adamw(0.01, eps=1e-7, weight_decay=0.1)),
])
def test_one_step_equals_plain_class_and_optax(make, tx):
    got = one_step(make())
    plain = one_step(getattr(xf.keras.optimizers, type(make()).__name__)(
        **{k: v for k, v in make().get_config().items() if k != "name"}))
    np.testing.assert_array_equal(got, plain)
    np.testing.assert_allclose(got, optax_step(tx), rtol=1e-5, atol=1e-6)


def test_legacy_decay_is_inverse_time_decay_of_the_rate():
    # Keras 2's OptimizerV2 `decay`: step t (from 0) uses lr / (1 + decay * t); TF <= 2.10
    # programs pass it as Adam(lr=..., decay=...) and port to optimizers.legacy
    opt = xf.keras.optimizers.legacy.SGD(learning_rate=0.1, decay=0.5)
    v = xf.Variable(START)
    for _ in range(3):
        opt.apply_gradients([(GRAD, v)])
    rates = sum(0.1 / (1 + 0.5 * t) for t in range(3))
    np.testing.assert_allclose(v.numpy(), START - rates * GRAD, rtol=1e-6)
    assert float(opt.learning_rate) == pytest.approx(0.1)  # the hyperparameter, undecayed
    config = opt.get_config()
    assert config["decay"] == 0.5
    assert type(opt).from_config(config).decay == 0.5
    assert "decay" not in xf.keras.optimizers.Adam().get_config()  # Keras 2.11+'s config
    with pytest.raises(ValueError, match="decay must be a float >= 0; received -0.1"):
        xf.keras.optimizers.legacy.Adam(decay=-0.1)


def test_an_unknown_optimizer_name_is_an_attribute_error():
    optimizers = xf.keras.optimizers
    assert optimizers.Adafactor is optimizers.experimental.Adafactor
    with pytest.raises(AttributeError, match="has no attribute 'Nonesuch'$"):
        optimizers.Nonesuch  # noqa: B018
