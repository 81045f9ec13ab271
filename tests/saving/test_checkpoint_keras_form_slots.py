"""A Keras 2.11-form optimizer subclass's slots (add_variable_from_reference) restore from a
Checkpoint by their `slot_of` marks, built or not yet built: its slots are named after
their variables, so a freshly built model (new layer names) or another build order gives
other keys, and an unbuilt one has no state to size the restore with until its own build
runs (done on a copy, so a failed restore leaves the optimizer untouched).

Oracles: NumPy copies of each variable's slot taken before saving, and training that
continues after the restore equalling training that was never interrupted."""

import numpy as np
import pytest

import xlaflow as xf
from tests.saving.keras_form_optimizer import SlotPairingMomentum
from xlaflow import random as xf_random
from xlaflow import train
from xlaflow.keras import layers, models

RNG = np.random.default_rng(9)
X = RNG.normal(size=(8, 4)).astype(np.float32)
Y = RNG.normal(size=(8, 4)).astype(np.float32)


def build(seed, units=4):
    xf_random.set_global_seed(seed)
    model = models.Sequential([layers.Dense(units, activation="tanh", input_shape=(4,)),
                               layers.Dense(4)])
    model.predict(X[:1], verbose=0)
    return model


def swapped(model):
    k1, b1, k2, b2 = model.trainable_variables
    return [k2, b2, k1, b1]


def step(model, opt, order):
    _, grads = xf.value_and_grad(lambda: xf.reduce_mean(xf.square(model(X) - Y)),
                                 wrt=order)()
    opt.apply_gradients(zip(grads, order))


def moments(model, opt):
    return [np.array(opt.moment_of(v).numpy()) for v in model.trainable_variables]


def trained():
    model, opt = build(0), SlotPairingMomentum(0.05)
    for _ in range(3):
        step(model, opt, swapped(model))  # built for the swapped order
    return model, opt


@pytest.mark.parametrize("prebuilt", [False, True])
def test_keras_form_slots_come_back_to_their_own_variables(tmp_path, prebuilt):
    model, opt = trained()
    want = moments(model, opt)
    assert not np.array_equal(want[0], want[2])  # a swap would be seen
    path = train.Checkpoint(model=model, optimizer=opt).save(tmp_path / "c")
    model2, opt2 = build(1), SlotPairingMomentum(0.05)  # new layer names
    if prebuilt:
        opt2.build(model2.trainable_variables)
    train.Checkpoint(model=model2, optimizer=opt2).restore(path).assert_consumed()
    for got, expect in zip(moments(model2, opt2), want):
        np.testing.assert_array_equal(got, expect)
    step(model, opt, swapped(model))
    step(model2, opt2, model2.trainable_variables)
    for a, b in zip(model.get_weights(), model2.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_compiled_models_unbuilt_keras_form_optimizer_restores(tmp_path):
    model, _ = trained()
    model.compile(SlotPairingMomentum(0.05), "mse")
    for _ in range(2):
        step(model, model.optimizer, swapped(model))
    want = moments(model, model.optimizer)
    path = train.Checkpoint(model=model).save(tmp_path / "c")
    model2 = build(2)
    model2.compile(SlotPairingMomentum(0.05), "mse")
    train.Checkpoint(model=model2).restore(path).assert_consumed()
    for got, expect in zip(moments(model2, model2.optimizer), want):
        np.testing.assert_array_equal(got, expect)


def test_a_failed_restore_leaves_the_unbuilt_keras_form_optimizer_unbuilt(tmp_path):
    model, opt = trained()
    path = train.Checkpoint(model=model, optimizer=opt).save(tmp_path / "c")
    model2, opt2 = build(1, units=3), SlotPairingMomentum(0.05)  # other shapes
    with pytest.raises(ValueError, match="does not match the objects"):
        train.Checkpoint(model=model2, optimizer=opt2).restore(path)
    assert opt2._state is None and not hasattr(opt2, "moments")
    step(model2, opt2, model2.trainable_variables)  # and it builds as usual later
    assert len(opt2.moments) == 4
