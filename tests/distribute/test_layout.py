"""LayoutMap and ModelParallelStrategy on the two forced host CPU devices: matched
Variables are really sharded over 'model', the rest replicated, batches split over
'batch' only, and training matches one device."""

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

import xlaflow as xf
from xlaflow.keras import layers, models

pytestmark = pytest.mark.two_devices

RNG = np.random.default_rng(2)
X = RNG.normal(size=(64, 8)).astype(np.float32)
Y = (X[:, 0] + X[:, 3] > 0).astype(np.int32)


def build(seed=5):
    xf.random.set_global_seed(seed)
    model = models.Sequential([
        layers.Dense(16, activation="relu", input_shape=(8,), name="hidden"),
        layers.BatchNormalization(name="hidden_bn"),
        layers.Dense(2, activation="softmax", name="out")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def model_parallel(shape=(1, 2)):
    layout_map = xf.distribute.LayoutMap(xf.distribute.make_mesh(shape))
    layout_map["hidden/kernel"] = (None, "model")  # column-parallel
    layout_map["hidden/bias"] = ("model",)
    layout_map[r"hidden_bn/(gamma|beta|moving_\w+)"] = P("model")
    layout_map["out/kernel"] = ("model", None)  # row-parallel: XLA sums the halves
    return xf.distribute.ModelParallelStrategy(layout_map)


def shard_shapes(variable):
    return [s.data.shape for s in variable.value.addressable_shards]


def test_matched_variables_are_sharded_over_model_and_the_rest_replicated():
    strategy = model_parallel()
    assert strategy.num_replicas_in_sync == 1 and strategy.mesh.axis_names == (
        "batch", "model")
    with strategy.scope():
        model = build()
    weights = {w.name: w for w in model.weights}
    kernel = weights["hidden/kernel"]
    assert kernel.value.sharding.spec == P(None, "model")
    assert shard_shapes(kernel) == [(8, 8), (8, 8)]
    assert shard_shapes(weights["hidden/bias"]) == [(8,), (8,)]
    assert shard_shapes(weights["hidden_bn/moving_variance"]) == [(8,), (8,)]
    assert shard_shapes(weights["out/kernel"]) == [(8, 2), (8, 2)]
    bias = weights["out/bias"].value
    assert bias.sharding.is_fully_replicated and len(bias.devices()) == 2
    batch = strategy.distribute_batch(X[:16])
    assert batch.sharding.spec == P("batch")  # 'batch' has size 1: each device, all rows
    assert [s.data.shape for s in batch.addressable_shards] == [(16, 8), (16, 8)]


def test_training_with_a_layout_map_matches_one_device():
    single = build()
    single.fit(X, Y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    strategy = model_parallel()
    with strategy.scope():
        sharded = build()
    history = sharded.fit(X, Y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    for a, b in zip(single.get_weights(), sharded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(single.predict(X, verbose=0), sharded.predict(X, verbose=0),
                               rtol=1e-5, atol=1e-5)
    # the layout survives the training steps (and the optimizer slots follow it)
    kernel = {w.name: w for w in sharded.weights}["hidden/kernel"]
    assert kernel.value.sharding.spec == P(None, "model")
    assert shard_shapes(kernel) == [(8, 8), (8, 8)]
    slots = [v for v in sharded.optimizer.variables if v.shape == (8, 16)]
    assert slots and all(shard_shapes(v) == [(8, 8), (8, 8)] for v in slots)


def test_a_data_by_model_mesh_splits_batches_over_batch_only():
    strategy = model_parallel((2, 1))
    assert strategy.num_replicas_in_sync == 2
    batch = strategy.distribute_batch({"x": X[:16], "w": np.float32(1.0)})
    assert [s.data.shape for s in batch["x"].addressable_shards] == [(8, 8), (8, 8)]
    assert batch["w"].sharding.is_fully_replicated
    with pytest.raises(ValueError, match="global batch of 15 examples cannot be split evenly "
                                         "over 2 replicas"):
        strategy.distribute_batch(X[:15])
    single = build()
    single.fit(X, Y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    with strategy.scope():
        both = build()
    both.fit(X, Y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(single.get_weights(), both.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_layout_map_errors_name_the_key_and_the_values():
    mesh = xf.distribute.make_mesh((1, 2))
    layout_map = xf.distribute.LayoutMap(mesh)
    with pytest.raises(ValueError, match=r"axis 'modle' is not an axis of the mesh "
                                         r"\('batch', 'model'\)"):
        layout_map["dense/kernel"] = (None, "modle")
    with pytest.raises(TypeError, match="expected a PartitionSpec or a tuple"):
        layout_map["dense/kernel"] = "model"
    with pytest.raises(ValueError, match="not a valid regular expression"):
        layout_map["dense/(kernel"] = (None, "model")
    layout_map["dense.*/kernel"] = (None, "model")
    layout_map["dense_1/.*"] = ("model",)
    assert layout_map.spec_for("conv/kernel", (3, 3)) is None
    assert layout_map.spec_for("dense_1/bias", (4,)) == P("model")
    with pytest.raises(ValueError, match=r"matches several LayoutMap keys \['dense\.\*/kernel', "
                                         r"'dense_1/\.\*'\]"):
        layout_map.spec_for("dense_1/kernel", (8, 4))
    with pytest.raises(ValueError, match=r"shape \(8, 3\) has a dimension of 3, not divisible "
                                         r"by the 2 devices of 'model'"):
        layout_map.spec_for("dense_2/kernel", (8, 3))
    with pytest.raises(ValueError, match=r"has 2 entries, but Variable 'dense_2/kernel' has "
                                         r"shape \(8,\)"):
        layout_map.spec_for("dense_2/kernel", (8,))
    with pytest.raises(ValueError, match=r"a mesh of shape \(2, 2\) needs 4 devices; "
                                         "received 2"):
        xf.distribute.make_mesh((2, 2))
    with pytest.raises(TypeError, match="expected a jax.sharding.Mesh"):
        xf.distribute.LayoutMap((1, 2))
    with pytest.raises(TypeError, match="expected an xf.distribute.LayoutMap"):
        xf.distribute.ModelParallelStrategy({"dense/kernel": (None, "model")})
    with pytest.raises(ValueError, match="batch_axis must be one of the mesh's axes"):
        xf.distribute.ModelParallelStrategy(layout_map, batch_dim_name="data")
    assert dict(layout_map) == {"dense.*/kernel": P(None, "model"),
                                "dense_1/.*": P("model")}
    assert jax.device_count() == 2
