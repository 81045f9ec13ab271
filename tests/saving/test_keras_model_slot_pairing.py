"""model.save records, for each optimizer slot, the weight it belongs to (`slot_of`), and
load_model pairs slots with weights by that record: two identically shaped kernels get
their own Adam moments back even when the saved optimizer was built for its variables in
another order than the one load_model builds it for (the model's), where pairing by
position swaps them silently. Files written without the records still load by position.

Oracles: NumPy copies of each weight's slots taken before saving, and a training step
after loading equalling the same step of the model that was never saved."""

import json

import numpy as np
import pytest

import xlaflow as xf
from tests.local_platform import HERE
from tests.saving.keras_form_optimizer import SlotPairingMomentum
from xlaflow import random as xf_random
from xlaflow.keras import layers, models, optimizers
from xlaflow.saving import atomic

RNG = np.random.default_rng(7)
X = RNG.normal(size=(8, 4)).astype(np.float32)
Y = RNG.normal(size=(8, 4)).astype(np.float32)


OPTIMIZERS = {"adam": lambda: optimizers.Adam(0.05), "keras_form": SlotPairingMomentum}


def compiled(kind, seed=0):
    xf_random.set_global_seed(seed)
    model = models.Sequential([layers.Dense(4, activation="tanh", input_shape=(4,)),
                               layers.Dense(4)])
    model.compile(OPTIMIZERS[kind](), "mse")
    model.predict(X[:1], verbose=0)
    return model


def swapped(model):
    """The trainable variables with the two layers' exchanged (shapes line up)."""
    k1, b1, k2, b2 = model.trainable_variables
    return [k2, b2, k1, b1]


def step(model, order):
    _, grads = xf.value_and_grad(lambda: xf.reduce_mean(xf.square(model(X) - Y)),
                                 wrt=order)()
    model.optimizer.apply_gradients(zip(grads, order))


def slot_values(model):
    """{(weight position, slot name): NumPy copy}, read the optimizer's own way."""
    opt = model.optimizer
    found = {}
    for i, v in enumerate(model.trainable_variables):
        if isinstance(opt, SlotPairingMomentum):
            found[i, "m"] = np.array(opt.moment_of(v).numpy())
        else:
            for name, slot in zip(opt.slot_names, opt._slots[id(v)]):
                found[i, name] = np.array(slot.numpy())
    return found


def check(got, want):
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=str(key))
    # the two kernels' moments really differ: a swap would have been seen
    assert not np.array_equal(want[0, "m"], want[2, "m"])


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_load_model_gives_each_slot_back_to_its_own_weight(tmp_path, kind):
    model = compiled(kind)
    for _ in range(3):  # a custom loop: the optimizer is built for the swapped order
        step(model, swapped(model))
    want = slot_values(model)
    model.save(tmp_path / "m", platforms=HERE)
    with open(tmp_path / "m" / "keras" / "model.json") as f:
        marked = [s["slot_of"] for s in json.load(f)["optimizer_variables"] if "slot_of" in s]
    assert len(marked) == len(want)
    loaded = models.load_model(tmp_path / "m")  # built for the model's order
    check(slot_values(loaded), want)
    # and training continues as if never interrupted
    step(model, swapped(model))
    step(loaded, loaded.trainable_variables)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def _without_marks(path):
    """Rewrite model.json as a save from before the records, and reseal the directory."""
    file = path / "keras" / "model.json"
    with open(file) as f:
        description = json.load(f)
    for spec in description["optimizer_variables"]:
        spec.pop("slot_of", None)
    with open(file, "w") as f:
        json.dump(description, f)
    with open(path / "xlaflow_export.json") as f:
        manifest = json.load(f)
    for rel in manifest["files"]:
        manifest["files"][rel] = {"bytes": (path / rel).stat().st_size,
                                  "sha256": atomic.sha256_file(path / rel)}
    with open(path / "xlaflow_export.json", "w") as f:
        json.dump(manifest, f)


def test_a_file_without_the_records_still_loads_by_position(tmp_path):
    model = compiled("adam")
    for _ in range(3):  # built for the model's order, as fit builds it
        step(model, model.trainable_variables)
    want = slot_values(model)
    model.save(tmp_path / "m", platforms=HERE)
    _without_marks(tmp_path / "m")
    check(slot_values(models.load_model(tmp_path / "m")), want)


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_a_layer_frozen_after_the_optimizer_was_built_loads_with_its_slots(tmp_path, kind):
    # Fine-tuning with the same optimizer: built for all four weights, then the first layer
    # is frozen. The file holds slots of a weight no longer trainable; load_model builds
    # the optimizer for the weights the records name (Keras 2 would drop the state with a
    # warning; rebuilding for model.trainable_weights failed: "has 6 ... the saved has 10")
    model = compiled(kind)
    step(model, model.trainable_variables)
    model.layers[0].trainable = False
    step(model, model.trainable_variables)
    model.layers[0].trainable = True
    want = slot_values(model)
    model.layers[0].trainable = False
    model.save(tmp_path / "m", platforms=HERE)
    loaded = models.load_model(tmp_path / "m")
    assert len(loaded.trainable_variables) == 2
    loaded.layers[0].trainable = True
    check(slot_values(loaded), want)
    loaded.layers[0].trainable = model.layers[0].trainable = False
    step(model, model.trainable_variables)
    step(loaded, loaded.trainable_variables)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
