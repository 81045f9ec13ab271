"""Keras 2.12's weights-only use of the v3 layout: load_weights of a `.keras` zip or a
`.weights.h5` file, and save_weights to a `.weights.h5` path (saving_api.py routes both to
saving_lib by the path's suffix).

Oracles: the arrays written into hand-built TF 2.12 files and a NumPy forward pass of them
(keras_v3_files.py), and the h5 paths TF 2.12's saving_lib gives each variable."""

import h5py
import numpy as np
import pytest

import xlaflow as xf
from tests.saving import keras_v3_files as files

keras = xf.keras
X = np.random.default_rng(5).normal(size=(6, 4)).astype(np.float32)


def stack(units=1):
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(units)])


def tf_file(tmp_path):
    config, arrays, weights, slots = files.dense_stack()
    path = files.write(str(tmp_path / "m.keras"), config, arrays,
                       ["_layer_checkpoint_dependencies/dense_1"])
    return path, arrays, weights, slots


def test_load_weights_reads_a_tf_written_keras_zip(tmp_path):
    path, _, weights, _ = tf_file(tmp_path)
    model = stack()
    assert model.load_weights(path) is None
    np.testing.assert_allclose(model.predict(X, verbose=0), files.numpy_stack(X, weights),
                               rtol=1e-5, atol=1e-5)


def test_load_weights_of_a_keras_zip_restores_a_built_optimizer_in_tf_order(tmp_path):
    path, _, _, slots = tf_file(tmp_path)
    model = stack()
    model.compile(keras.optimizers.Adam(), "mse")
    model.optimizer.build(model.trainable_weights)
    model.load_weights(path)
    assert int(model.optimizer.iterations) == 12
    owners = model.optimizer.slot_owners()
    index = {id(w): i for i, w in enumerate(model.trainable_weights)}
    restored = {(index[id(w)], name): np.asarray(v.value)
                for v in model.optimizer.variables if id(v) in owners
                for w, name in [owners[id(v)]]}
    assert set(restored) == set(slots)
    for key, value in slots.items():
        np.testing.assert_array_equal(restored[key], value)


def test_an_unbuilt_optimizer_takes_only_the_iteration_count_as_tf(tmp_path):
    path, _, _, _ = tf_file(tmp_path)
    model = stack()
    model.compile(keras.optimizers.Adam(), "mse")
    model.load_weights(path)
    assert int(model.optimizer.iterations) == 12


def test_save_weights_to_a_weights_h5_path_writes_tf_2_12_paths(tmp_path):
    model = stack()
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "mse")
    model.fit(X, np.ones((6, 1), np.float32), epochs=2, verbose=0)
    path = str(tmp_path / "x.weights.h5")
    model.save_weights(path)
    first, second = model.layers
    with h5py.File(path, "r") as f:
        assert len(f["vars"]) == 0  # the model's own: none
        for name, layer in (("dense", first), ("dense_2", second)):
            group = f[f"_layer_checkpoint_dependencies/{name}/vars"]
            assert len(group) == 2
            np.testing.assert_array_equal(group["0"][()], np.asarray(layer.kernel.value))
            np.testing.assert_array_equal(group["1"][()], np.asarray(layer.bias.value))
        assert "_layer_checkpoint_dependencies/dense_1" not in f  # layer-0's repeat
        opt = f["optimizer/vars"]
        assert opt["0"].dtype == np.int64 and opt["0"][()] == 2  # iteration first
        assert len(opt) == 1 + 4  # then SGD's m of each trainable weight
    fresh = stack()
    fresh.compile(keras.optimizers.SGD(0.1, momentum=0.9), "mse")
    fresh.optimizer.build(fresh.trainable_weights)
    fresh.load_weights(path)
    np.testing.assert_allclose(fresh.predict(X, verbose=0), model.predict(X, verbose=0),
                               rtol=1e-6)
    for a, b in zip(fresh.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a.value), np.asarray(b.value))


def test_a_mismatched_layer_raises_before_anything_is_assigned(tmp_path):
    path, _, _, _ = tf_file(tmp_path)
    model = stack(units=3)
    before = [np.asarray(w.value) for w in model.weights]
    with pytest.raises(ValueError, match=r"shape \(8, 3\).*holds \(8, 1\)"):
        model.load_weights(path)
    for w, old in zip(model.weights, before):
        np.testing.assert_array_equal(np.asarray(w.value), old)


def test_skip_mismatch_loads_the_layers_that_fit_and_warns_of_the_rest(tmp_path):
    path, _, weights, _ = tf_file(tmp_path)
    model = stack(units=3)
    last = [np.asarray(w.value) for w in model.layers[1].weights]
    with pytest.warns(UserWarning, match="dense_2.*skipping"):
        model.load_weights(path, skip_mismatch=True)
    np.testing.assert_array_equal(np.asarray(model.layers[0].kernel.value), weights[0])
    np.testing.assert_array_equal(np.asarray(model.layers[0].bias.value), weights[1])
    for w, old in zip(model.layers[1].weights, last):
        np.testing.assert_array_equal(np.asarray(w.value), old)


def test_a_keras_2_layout_file_named_weights_h5_still_loads(tmp_path):
    from xlaflow.saving import hdf5_weights
    model = stack()
    path = str(tmp_path / "old.weights.h5")
    hdf5_weights.save_weights(model, path)  # what save_weights wrote there before
    fresh = stack()
    fresh.load_weights(path)
    for a, b in zip(fresh.weights, model.weights):
        np.testing.assert_array_equal(np.asarray(a.value), np.asarray(b.value))


def recurrent_stack():
    return keras.Sequential([keras.Input((3, 2)),
                             keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True)),
                             keras.layers.GRU(2), keras.layers.Dense(1)])


def test_sublayers_are_written_under_their_attribute_as_tf_2_12_walks_them(tmp_path):
    """TF's walk saves a layer's own variables, then each Keras object its attributes hold:
    an LSTM's weights live in its `cell`, a Bidirectional's in forward_layer/backward_layer
    (each with its cell); xlaflow wrote them all in the outer layer's group."""
    model = recurrent_stack()
    path = str(tmp_path / "r.weights.h5")
    model.save_weights(path)
    bidirectional, gru, _ = model.layers
    base = "_layer_checkpoint_dependencies"
    expected = {f"{base}/bidirectional/forward_layer/cell/vars":
                bidirectional.forward_layer.weights,
                f"{base}/bidirectional/backward_layer/cell/vars":
                bidirectional.backward_layer.weights,
                f"{base}/gru/cell/vars": gru.weights}
    with h5py.File(path, "r") as f:
        for group in (f"{base}/bidirectional/vars", f"{base}/gru/vars",
                      f"{base}/bidirectional/forward_layer/vars"):
            assert len(f[group]) == 0  # the outer layers own no variables in Keras
        for group, weights in expected.items():
            assert [f[group][str(i)].shape for i in range(len(f[group]))] == \
                [tuple(w.shape) for w in weights]
            for i, w in enumerate(weights):
                np.testing.assert_array_equal(f[group][str(i)][()], np.asarray(w.value))


def test_a_tf_laid_out_recurrent_file_loads_into_the_cells(tmp_path):
    """A file with TF 2.12's paths, built by hand: each array lands in the weight its path
    names (kernel, recurrent_kernel, bias of each cell, as Keras' cells create them)."""
    model = recurrent_stack()
    rng = np.random.default_rng(11)
    base = "_layer_checkpoint_dependencies"
    bidirectional, gru, dense = model.layers
    layout = {f"{base}/bidirectional/backward_layer/cell/vars":
              bidirectional.backward_layer.weights,
              f"{base}/bidirectional/forward_layer/cell/vars":
              bidirectional.forward_layer.weights,
              f"{base}/gru/cell/vars": gru.weights, f"{base}/dense/vars": dense.weights}
    arrays = {}
    path = str(tmp_path / "tf.weights.h5")
    with h5py.File(path, "w") as f:
        f.create_group("vars")
        for group, weights in layout.items():
            for i, w in enumerate(weights):
                arrays[(group, i)] = rng.normal(size=tuple(w.shape)).astype(np.float32)
                f.create_dataset(f"{group}/{i}", data=arrays[(group, i)])
        f.create_group(f"{base}/bidirectional/vars")
        f.create_group(f"{base}/bidirectional/layer/vars")  # the unbuilt original LSTM
    model.load_weights(path)
    for group, weights in layout.items():
        for i, w in enumerate(weights):
            np.testing.assert_array_equal(np.asarray(w.value), arrays[(group, i)])


def test_a_recurrent_model_round_trips_through_a_keras_zip(tmp_path):
    model = recurrent_stack()
    x = np.random.default_rng(2).normal(size=(5, 3, 2)).astype(np.float32)
    path = str(tmp_path / "r.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)
    fresh = recurrent_stack()
    fresh.load_weights(path)
    np.testing.assert_allclose(fresh.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)


class Scaled(keras.Model):
    """A model with weights of its own: a non-trainable one created before a trainable one."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2)
        self.offset = self.add_weight(name="offset", shape=(2,), initializer="ones",
                                      trainable=False)
        self.scale = self.add_weight(name="scale", shape=(2,), initializer="ones")

    def call(self, x):
        return self.dense(x) * self.scale + self.offset


def test_a_frozen_models_own_weights_keep_keras_order_trainable_first(tmp_path):
    """saving_lib saves a model's _trainable_weights + _non_trainable_weights, lists kept
    by how each weight was created, whatever model.trainable says now."""
    model = Scaled()
    model(X)
    model.scale.assign(np.array([2.0, 3.0], np.float32))
    model.trainable = False
    path = str(tmp_path / "s.weights.h5")
    model.save_weights(path)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["vars/0"][()], [2.0, 3.0])  # scale
        np.testing.assert_array_equal(f["vars/1"][()], [1.0, 1.0])  # offset
