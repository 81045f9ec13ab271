"""Adadelta, Ftrl and Lion against float64 NumPy oracles of Keras' (2.12/2.13) update rules,
written here from the formulas Keras documents, and through fit, saving and Keras' names."""

import numpy as np
import pytest

import xlaflow as xf
from tests.keras.test_optimizer_parity import GRADS, W0, check_rule, ours
from xlaflow.keras import optimizers


def adadelta(lr, rho=0.95, eps=1e-7, grads=GRADS):
    w, acc_g, acc_d = W0.astype(np.float64), np.zeros(3), np.zeros(3)
    for g in grads:
        acc_g = rho * acc_g + (1 - rho) * g * g
        delta = -np.sqrt(acc_d + eps) * g / np.sqrt(acc_g + eps)
        acc_d = rho * acc_d + (1 - rho) * delta * delta
        w = w + lr * delta
    return w


def ftrl(lr, power=-0.5, initial=0.1, l1=0.0, l2=0.0, shrinkage=0.0, beta=0.0, grads=GRADS):
    w, n, z = W0.astype(np.float64), np.full(3, initial), np.zeros(3)
    for g in grads:
        n_new = n + g * g
        z = z + (g + 2 * shrinkage * w) - (n_new ** -power - n ** -power) / lr * w
        quadratic = n_new ** -power / lr + 2 * (l2 + beta / (2 * lr))
        w = (np.clip(z, -l1, l1) - z) / quadratic
        n = n_new
    return w


def lion(lr, b1=0.9, b2=0.99, grads=GRADS):
    w, m = W0.astype(np.float64), np.zeros(3)
    for g in grads:
        w = w - lr * np.sign(b1 * m + (1 - b1) * g)
        m = b2 * m + (1 - b2) * g
    return w


CASES = {
    "adadelta_default": (lambda: optimizers.Adadelta(), lambda: adadelta(0.001)),
    "adadelta_paper_rate": (lambda: optimizers.Adadelta(1.0, rho=0.9, epsilon=1e-4),
                            lambda: adadelta(1.0, rho=0.9, eps=1e-4)),
    "ftrl_default": (lambda: optimizers.Ftrl(0.1), lambda: ftrl(0.1)),
    # l1 large enough that some weights land exactly on 0 (the clip's case)
    "ftrl_regularized": (
        lambda: optimizers.Ftrl(0.5, learning_rate_power=-0.7, initial_accumulator_value=0.3,
                                l1_regularization_strength=0.05,
                                l2_regularization_strength=0.1,
                                l2_shrinkage_regularization_strength=0.2, beta=0.5),
        lambda: ftrl(0.5, power=-0.7, initial=0.3, l1=0.05, l2=0.1, shrinkage=0.2, beta=0.5)),
    "ftrl_fixed_rate": (lambda: optimizers.Ftrl(0.2, learning_rate_power=0.0),
                        lambda: ftrl(0.2, power=0.0)),
    "lion_default": (lambda: optimizers.Lion(), lambda: lion(0.0001)),
    "lion": (lambda: optimizers.Lion(0.01, beta_1=0.5, beta_2=0.9),
             lambda: lion(0.01, b1=0.5, b2=0.9)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_update_rule_matches_keras(name):
    check_rule(*CASES[name])


def test_ftrl_l1_zeroes_weights_as_keras():
    got = ours(optimizers.Ftrl(0.1, l1_regularization_strength=10.0))
    np.testing.assert_array_equal(got, np.zeros(3))  # |z| stays under l1: w = 0 exactly


@pytest.mark.parametrize("kwargs, message", [
    ({"initial_accumulator_value": -0.1}, "`initial_accumulator_value` needs to be positive "
                                          "or zero; received initial_accumulator_value=-0.1"),
    ({"learning_rate_power": 0.5}, "`learning_rate_power` needs to be negative or zero; "
                                   "received learning_rate_power=0.5"),
    ({"l1_regularization_strength": -1.0}, "l1_regularization_strength=-1.0"),
    ({"l2_shrinkage_regularization_strength": -2.0},
     "l2_shrinkage_regularization_strength=-2.0"),
])
def test_ftrl_refuses_keras_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        optimizers.Ftrl(**kwargs)


def test_names_namespaces_and_slots():
    for name, cls in (("adadelta", optimizers.Adadelta), ("ftrl", optimizers.Ftrl),
                      ("lion", optimizers.Lion)):
        assert type(optimizers.get(name)) is cls
        assert type(optimizers.deserialize(optimizers.serialize(cls()))) is cls
    assert optimizers.legacy.Ftrl is optimizers.Ftrl
    assert optimizers.experimental.Adadelta is optimizers.Adadelta
    # Keras' slot names, each per variable; Ftrl's accumulator starts at its initial value
    v = xf.Variable(np.ones(2, np.float32))
    opt = optimizers.Ftrl(initial_accumulator_value=0.25)
    opt.build([v])
    by_id = {id(s): s for s in opt.variables}
    slots = {name: by_id[key] for key, (owner, name) in opt.slot_owners().items()
             if owner is v}
    assert sorted(slots) == ["accumulator", "linear"]
    np.testing.assert_array_equal(slots["accumulator"].numpy(), [0.25, 0.25])
    np.testing.assert_array_equal(slots["linear"].numpy(), [0.0, 0.0])
    assert optimizers.Adadelta.slot_names == ("accumulated_grad", "accumulated_delta_var")
    assert optimizers.Lion.slot_names == ("m",)


@pytest.mark.parametrize("make", [lambda: optimizers.Adadelta(1.0),
                                  lambda: optimizers.Ftrl(0.5, l1_regularization_strength=1e-3),
                                  lambda: optimizers.Lion(3e-3)])
def test_fit_learns_and_the_saved_model_resumes_identically(make, tmp_path):
    check_fit_save_resume(make, tmp_path)


def check_fit_save_resume(make, tmp_path, hidden=None):
    """fit with the optimizer `make()` lowers the loss, and a .keras round trip resumes it
    bit for bit (its state included); `hidden` units add a layer before the output."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x @ np.float32([1.0, -2.0, 0.5, 0.0]))[:, None]
    stack = ([xf.keras.layers.Dense(hidden, input_shape=(4,)), xf.keras.layers.Dense(1)]
             if hidden else [xf.keras.layers.Dense(1, input_shape=(4,))])
    model = xf.keras.Sequential(stack)
    model.compile(optimizer=make(), loss="mse")
    first = model.evaluate(x, y, batch_size=64, verbose=0)
    model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    assert model.evaluate(x, y, batch_size=64, verbose=0) < first
    model.save(tmp_path / "m.keras")
    loaded = xf.keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    for m in (model, loaded):
        m.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
