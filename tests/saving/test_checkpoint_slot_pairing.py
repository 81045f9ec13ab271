"""A checkpoint marks each optimizer slot with the Variable it belongs to (`slot_of`), and a
restore pairs slots by those marks: two layers with identically shaped kernels get their
own Adam moments back even when the optimizers were built for their variables in different
orders (where pairing by position swaps them silently, the shapes agreeing).

Oracles: NumPy copies of each variable's slots taken before saving, and training that
continues after the restore equalling training that was never interrupted."""

import json
import os

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import random as xf_random
from xlaflow import train
from xlaflow.keras import layers, models, optimizers

RNG = np.random.default_rng(5)
X = RNG.normal(size=(8, 4)).astype(np.float32)
Y = RNG.normal(size=(8, 4)).astype(np.float32)


def build(seed):
    xf_random.set_global_seed(seed)
    model = models.Sequential([layers.Dense(4, activation="tanh", input_shape=(4,)),
                               layers.Dense(4)])
    model.predict(X[:1], verbose=0)
    return model


def swapped(model):
    """The trainable variables with the two layers' exchanged: kernel and bias shapes
    line up with the model's order, so a positional pairing raises nothing."""
    k1, b1, k2, b2 = model.trainable_variables
    return [k2, b2, k1, b1]


def step(model, opt, order):
    _, grads = xf.value_and_grad(lambda: xf.reduce_mean(xf.square(model(X) - Y)),
                                 wrt=order)()
    opt.apply_gradients(zip(grads, order))


def slot_values(model, opt):
    """{(variable position, slot name): NumPy copy}: the oracle for a restore."""
    return {(i, name): np.array(slot.numpy()) for i, v in enumerate(model.trainable_variables)
            for name, slot in zip(opt.slot_names, opt._slots[id(v)])}


def trained(seed=0):
    model, opt = build(seed), optimizers.Adam(0.05)
    for _ in range(3):
        step(model, opt, swapped(model))  # built for the swapped order
    return model, opt


def check_restored(model, opt, want):
    got = slot_values(model, opt)
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=str(key))
    # the two kernels' moments really differ: a swap would have been seen
    assert not np.array_equal(want[0, "m"], want[2, "m"])


@pytest.mark.parametrize("fresh_built", [False, True])
def test_each_slot_comes_back_to_its_own_variable(tmp_path, fresh_built):
    model, opt = trained()
    want = slot_values(model, opt)
    path = train.Checkpoint(model=model, optimizer=opt).save(tmp_path / "c")
    model2, opt2 = build(1), optimizers.Adam(0.05)
    if fresh_built:  # built for the model's own order: another position for each slot
        opt2.build(model2.trainable_variables)
    train.Checkpoint(model=model2, optimizer=opt2).restore(path).assert_consumed()
    check_restored(model2, opt2, want)
    # and training continues as if never interrupted
    step(model, opt, swapped(model))
    step(model2, opt2, model2.trainable_variables)
    for a, b in zip(model.get_weights(), model2.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_compiled_models_own_optimizer_pairs_its_slots_too(tmp_path):
    model, _ = trained()
    model.compile(optimizers.Adam(0.05), "mse")
    for _ in range(2):
        step(model, model.optimizer, swapped(model))
    want = slot_values(model, model.optimizer)
    path = train.Checkpoint(model=model).save(tmp_path / "c")  # carries model.optimizer
    model2 = build(2)
    model2.compile(optimizers.Adam(0.05), "mse")
    train.Checkpoint(model=model2).restore(path).assert_consumed()
    check_restored(model2, model2.optimizer, want)


def _marks(path):
    with open(os.path.join(path, "digest", "metadata")) as f:
        return json.load(f)


def test_the_manifest_names_each_slots_variable(tmp_path):
    model, opt = trained()
    path = train.Checkpoint(model=model, optimizer=opt).save(tmp_path / "c")
    entries = _marks(path)["objects"]["optimizer"]
    marked = {k: e["slot_of"] for k, e in entries.items() if "slot_of" in e}
    assert len(marked) == 2 * len(model.trainable_variables)  # Adam: m and v each
    places = {(tuple(m["variable"]), m["slot"]) for m in marked.values()}
    assert places == {(("model", k), s) for k in
                      ["0000_kernel", "0001_bias", "0002_kernel", "0003_bias"]
                      for s in ("m", "v")}


def _strip_marks(path):
    """Make `path` a checkpoint written before slots were marked."""
    data = _marks(path)
    for entries in data["objects"].values():
        for entry in entries.values():
            entry.pop("slot_of", None)
    with open(os.path.join(path, "digest", "metadata"), "w") as f:
        json.dump(data, f)
    os.remove(os.path.join(path, "xlaflow_seal.json"))  # as if written before the seal


def test_a_checkpoint_without_marks_still_restores_by_position(tmp_path):
    # Written before slots were marked: built for the model's order, it restores as before.
    model, opt = build(0), optimizers.Adam(0.05)
    for _ in range(3):
        step(model, opt, model.trainable_variables)
    want = slot_values(model, opt)
    path = train.Checkpoint(model=model, optimizer=opt).save(tmp_path / "c")
    _strip_marks(path)
    model2, opt2 = build(1), optimizers.Adam(0.05)
    train.Checkpoint(model=model2, optimizer=opt2).restore(path).assert_consumed()
    check_restored(model2, opt2, want)


def _twins_trained(tmp_path):
    """A checkpoint of an optimizer that trained `b`, beside `a` of identical shapes."""
    a, (b, opt) = build(0), trained(1)
    want = slot_values(b, opt)
    return want, train.Checkpoint(opt=opt, a=a, b=b).save(tmp_path / "twins")


def test_an_unbuilt_optimizer_is_built_for_the_model_its_marks_name(tmp_path):
    # Two tracked models fit its state equally; the marks name b's variables.
    want, path = _twins_trained(tmp_path)
    a2, b2, opt2 = build(2), build(3), optimizers.Adam(0.05)
    train.Checkpoint(opt=opt2, a=a2, b=b2).restore(path).assert_consumed()
    assert [id(v) for v in opt2._built_for] == [id(v) for v in b2.trainable_variables]
    check_restored(b2, opt2, want)


def test_twins_without_marks_are_refused_naming_what_to_write(tmp_path):
    _, path = _twins_trained(tmp_path)
    _strip_marks(path)
    a2, b2, opt2 = build(2), build(3), optimizers.Adam(0.05)
    before = [w.copy() for w in a2.get_weights() + b2.get_weights()]
    with pytest.raises(ValueError, match=r"'opt' has no state yet .* models tracked here "
                       r"\(a, b\) .* fit a, b\. .*opt\.build\(<model>\.trainable_variables\)"
                       r".*<model>\.compile\(optimizer=opt"):
        train.Checkpoint(opt=opt2, a=a2, b=b2).restore(path)
    assert opt2._state is None  # nothing changed
    for got, was in zip(a2.get_weights() + b2.get_weights(), before):
        np.testing.assert_array_equal(got, was)


@pytest.mark.parametrize("carried", [False, True])
def test_an_unbuilt_optimizer_restores_slots_of_a_layer_frozen_after_it_was_built(
        tmp_path, carried):
    # Fine-tuning with the same optimizer: built for all four variables, then the first
    # layer is frozen. The marks name the variables it holds slots for; built for the
    # now-trainable ones only, the restore refused the file as unexpected keys.
    model = build(0)
    model.compile(optimizers.Adam(0.05), "mse")
    opt = model.optimizer
    step(model, opt, model.trainable_variables)
    model.layers[0].trainable = False
    step(model, opt, model.trainable_variables)
    model.layers[0].trainable = True
    want = slot_values(model, opt)
    model.layers[0].trainable = False
    objects = {} if carried else {"optimizer": opt}
    path = train.Checkpoint(model=model, **objects).save(tmp_path / "c")
    model2 = build(1)
    model2.compile(optimizers.Adam(0.05), "mse")
    model2.layers[0].trainable = False
    objects = {} if carried else {"optimizer": model2.optimizer}
    train.Checkpoint(model=model2, **objects).restore(path).assert_consumed()
    model2.layers[0].trainable = True
    check_restored(model2, model2.optimizer, want)
    model.layers[0].trainable = model2.layers[0].trainable = False
    step(model, opt, model.trainable_variables)
    step(model2, model2.optimizer, model2.trainable_variables)
    for a, b in zip(model.get_weights(), model2.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
