"""Optimizer slots are laid out as their variables under a strategy, so a distributed
train step compiles once: slots built inside the first traced step used to come back
from its first call laid out anew, and the second call compiled the step again."""

import numpy as np
import pytest

import xlaflow as xf
from tests.compile_log import compiled_programs
from xlaflow.keras import layers, models

pytestmark = pytest.mark.two_devices

RNG = np.random.default_rng(7)
X = RNG.normal(size=(64, 8)).astype(np.float32)
Y = RNG.normal(size=(64, 2)).astype(np.float32)


def _shard_shapes(variable):
    return [s.data.shape for s in variable.value.addressable_shards]


def _slot_shards(optimizer):
    """{(weight name, slot name): the shapes of the slot's shards on the devices}."""
    owners = optimizer.slot_owners()
    return {(owners[id(s)][0].name, owners[id(s)][1]): _shard_shapes(s)
            for s in optimizer.variables if id(s) in owners}


def _model(optimizer):
    model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(8,),
                                            name="hidden"),
                               layers.Dense(2, name="out")])
    model.compile(optimizer=optimizer, loss="mse")
    return model


@pytest.mark.parametrize("optimizer", ["adam", "nadam", "adafactor"])
def test_a_mirrored_fit_compiles_its_train_step_once(optimizer):
    strategy = xf.distribute.MirroredStrategy()
    with strategy.scope():
        model = _model(optimizer)
    with compiled_programs() as compiled:
        model.fit(X, Y, batch_size=16, epochs=2, verbose=0)
    assert compiled.count("jit(_train_step)") == 1
    for slot in model.optimizer.variables[1:]:
        assert slot.value.sharding.is_fully_replicated and len(slot.value.devices()) == 2


def test_slots_of_sharded_weights_are_sharded_as_their_weights():
    layout_map = xf.distribute.LayoutMap(xf.distribute.make_mesh((1, 2)))
    layout_map["hidden/kernel"] = (None, "model")
    layout_map["out/kernel"] = ("model", None)
    strategy = xf.distribute.ModelParallelStrategy(layout_map)
    with strategy.scope():
        model = _model("adam")
    with compiled_programs() as compiled:
        model.fit(X, Y, batch_size=16, epochs=2, verbose=0)
    assert compiled.count("jit(_train_step)") == 1
    shards = _slot_shards(model.optimizer)
    assert shards[("hidden/kernel", "m")] == shards[("hidden/kernel", "v")] == [(8, 8)] * 2
    assert shards[("out/kernel", "m")] == shards[("out/kernel", "v")] == [(8, 2)] * 2
    assert shards[("out/bias", "v")] == [(2,)] * 2  # replicated, as the bias
    weights = {w.name: w for w in model.weights}
    assert _shard_shapes(weights["hidden/bias"]) == [(16,)] * 2  # still replicated


def test_factored_slots_of_sharded_weights_are_replicated():
    layout_map = xf.distribute.LayoutMap(xf.distribute.make_mesh((1, 2)))
    layout_map["hidden/kernel"] = (None, "model")
    strategy = xf.distribute.ModelParallelStrategy(layout_map)
    with strategy.scope():
        model = _model("adafactor")  # r and c have other shapes than their kernels
    with compiled_programs() as compiled:
        model.fit(X, Y, batch_size=16, epochs=2, verbose=0)
    assert compiled.count("jit(_train_step)") == 1
    shards = _slot_shards(model.optimizer)
    assert shards[("hidden/kernel", "v")] == [(8, 8)] * 2  # as the kernel
    assert shards[("hidden/kernel", "r")] == [(8,)] * 2  # whole on each device
    assert shards[("hidden/kernel", "c")] == [(16,)] * 2


def test_a_custom_loop_under_run_compiles_its_step_once():
    strategy = xf.distribute.MirroredStrategy()
    with strategy.scope():
        model = _model("adam")
        optimizer = xf.keras.optimizers.SGD(0.1, momentum=0.9)
    batches = strategy.experimental_distribute_dataset(
        xf.data.Dataset.from_tensor_slices((X, Y)).batch(16))

    def replica_step(x, y):
        with xf.GradientTape() as tape:
            loss = xf.reduce_mean((model(x) - y) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @xf.function
    def distributed_step(x, y):
        return strategy.run(replica_step, args=(x, y))

    with compiled_programs() as compiled:
        for x, y in batches:
            distributed_step(x, y)
    assert compiled.count("jit(distributed_step)") == 1
