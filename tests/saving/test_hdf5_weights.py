"""save_weights('w.h5') writes Keras 2's HDF5 layout; a whole model as .h5 is refused."""

import os

import jax.numpy as jnp
import numpy as np
import pytest

from xlaflow import keras

h5py = pytest.importorskip("h5py")
layers = keras.layers


def _model(dtype=None):
    x = keras.Input((3,))
    h = layers.Dense(4, activation="relu", dtype=dtype)(x)
    h = layers.BatchNormalization(dtype=dtype)(h)
    return keras.Model(x, layers.Dense(2, dtype=dtype)(h))


def test_save_weights_to_h5_writes_keras_2_layout_that_a_fresh_copy_loads(tmp_path):
    model, path = _model(), str(tmp_path / "w.h5")
    model.save_weights(path)
    assert h5py.is_hdf5(path) and os.listdir(tmp_path) == ["w.h5"]  # no temporary left
    with h5py.File(path, "r") as f:  # read with h5py alone: the layout Keras 2 reads
        names = [n.decode() for n in f.attrs["layer_names"]]
        assert names == [layer.name for layer in model.layers if layer.weights]
        stored = [np.asarray(f[n][w]) for n in names for w in
                  [w.decode() for w in f[n].attrs["weight_names"]]]
    for got, want in zip(stored, model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    copy = _model()  # new layer names: loads by order, as Keras 2
    copy.load_weights(path)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_array_equal(copy.predict(x, verbose=0), model.predict(x, verbose=0))


def test_load_weights_reads_a_file_in_keras_2_layout_written_by_hand(tmp_path):
    rng = np.random.default_rng(1)
    kernel, bias = rng.normal(size=(3, 2)).astype(np.float32), np.float32([0.5, -1.0])
    path = str(tmp_path / "keras2.h5")
    with h5py.File(path, "w") as f:  # as Keras 2's save_weights lays it out
        f.attrs["layer_names"] = [b"input_1", b"dense_9"]
        f.create_group("input_1").attrs["weight_names"] = []
        group = f.create_group("dense_9")
        group.attrs["weight_names"] = [b"dense_9/kernel:0", b"dense_9/bias:0"]
        group["dense_9/kernel:0"], group["dense_9/bias:0"] = kernel, bias
    model = keras.Sequential([layers.Dense(2, input_shape=(3,))])
    model.load_weights(path)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ kernel + bias, rtol=1e-6)


def test_a_mismatched_file_is_refused_before_any_weight_changes(tmp_path):
    path = str(tmp_path / "w.h5")
    _model().save_weights(path)
    other = keras.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)])
    before = other.get_weights()
    with pytest.raises(ValueError, match="weights of 3 layers"):
        other.load_weights(path)
    wider = keras.Sequential([layers.Dense(5, input_shape=(3,)), layers.BatchNormalization(),
                              layers.Dense(2)])
    wide_before = wider.get_weights()
    with pytest.raises(ValueError, match=r"has shape \(3, 5\)"):
        wider.load_weights(path)
    for got, want in zip(other.get_weights() + wider.get_weights(), before + wide_before):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(FileExistsError, match="overwrite=False"):
        _model().save_weights(path, overwrite=False)


def test_bfloat16_weights_round_trip_through_hdf5(tmp_path):
    model, path = _model("bfloat16"), str(tmp_path / "w.hdf5")
    model.save_weights(path)
    assert h5py.is_hdf5(path)  # h5py has no bfloat16: stored as float32, exactly
    copy = _model("bfloat16")
    copy.load_weights(path)
    assert copy.weights[0].dtype == jnp.bfloat16
    for got, want in zip(copy.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_save_format_picks_the_whole_model_form(tmp_path):
    """A whole model: an .h5 path or save_format="h5" is one HDF5 file (test_hdf5_model.py),
    save_format="tf" a directory; a weights-only file is no model to load_model."""
    model = _model()
    with pytest.raises(ValueError, match="save_format must be"):
        model.save(str(tmp_path / "m"), save_format="pb")
    with pytest.raises(ValueError, match=r"save_format='keras' needs a filepath ending in"):
        model.save(str(tmp_path / "m"), save_format="keras")  # TF 2.12 asks for .keras too
    assert os.listdir(tmp_path) == []  # refused before anything is written
    model.save(str(tmp_path / "m.h5"))
    model.save(str(tmp_path / "f"), save_format="h5")
    assert h5py.is_hdf5(str(tmp_path / "m.h5")) and h5py.is_hdf5(str(tmp_path / "f"))
    model.save_weights(str(tmp_path / "w.h5"))
    with pytest.raises(ValueError, match="weights only.*load_weights"):
        keras.models.load_model(str(tmp_path / "w.h5"))
    model.save(str(tmp_path / "m"), save_format="tf")  # the directory form, as Keras 2's "tf"
    assert os.path.isdir(tmp_path / "m")


def test_model_checkpoint_keeps_weights_in_hdf5_files(tmp_path):
    model = _model()
    model.compile("sgd", "mse")
    checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / "w{epoch}.weights.h5"),
                                                 save_weights_only=True)
    x, y = np.ones((8, 3), np.float32), np.zeros((8, 2), np.float32)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[checkpoint])
    assert h5py.is_hdf5(str(tmp_path / "w2.weights.h5"))
    copy = _model()
    copy.load_weights(str(tmp_path / "w2.weights.h5"))
    np.testing.assert_array_equal(copy.predict(x, verbose=0), model.predict(x, verbose=0))


def test_weights_saved_with_save_format_h5_load_from_a_path_without_suffix(tmp_path):
    # Keras 2's load_weights reads an HDF5 file whatever its name (h5py.is_hdf5)
    model, path = _model(), str(tmp_path / "weights")
    model.save_weights(path, save_format="h5")
    assert h5py.is_hdf5(path)
    copy = _model()
    copy.load_weights(path)
    for got, want in zip(copy.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        copy.load_weights(str(tmp_path / "missing.h5"))


class _CountsThenScales(layers.Layer):
    """A non-trainable weight created before a trainable one of the same shape."""

    def build(self, input_shape):
        self.count = self.add_weight("count", (2,), trainable=False, initializer="zeros")
        self.scale = self.add_weight("scale", (2,), initializer="ones")

    def call(self, inputs):
        return inputs * self.scale + self.count


def test_h5_weights_of_a_layer_are_its_trainable_then_non_trainable_ones_as_keras_2(tmp_path):
    # Keras 2's HDF5 writer and reader both use trainable_weights + non_trainable_weights
    # (_legacy_weights): a file it wrote holds [scale, count]; read in creation order the
    # two equally shaped values were swapped silently
    path = str(tmp_path / "keras2.h5")
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"counts_then_scales"]
        group = f.create_group("counts_then_scales")
        group.attrs["weight_names"] = [b"counts_then_scales/scale:0",
                                       b"counts_then_scales/count:0"]
        group["counts_then_scales/scale:0"] = np.float32([2.0, 3.0])
        group["counts_then_scales/count:0"] = np.float32([5.0, 7.0])
    model = keras.Sequential([keras.Input((2,)), _CountsThenScales()])
    model.load_weights(path)
    layer = model.layers[0]
    np.testing.assert_array_equal(layer.scale.numpy(), [2.0, 3.0])
    np.testing.assert_array_equal(layer.count.numpy(), [5.0, 7.0])
    model.save_weights(str(tmp_path / "w.h5"))
    with h5py.File(str(tmp_path / "w.h5"), "r") as f:
        names = [n.decode() for n in f[layer.name].attrs["weight_names"]]
    assert [n.split("/")[-1] for n in names] == ["scale:0", "count:0"]


class _TwoNamedW(layers.Layer):
    def build(self, input_shape):
        self.a = self.add_weight("w", (2,), initializer="ones")
        self.b = self.add_weight("w", (2,), initializer="zeros")

    def call(self, inputs):
        return inputs * self.a + self.b


def test_two_weights_of_one_name_in_a_layer_save_under_distinct_dataset_names(tmp_path):
    # h5py refused the second "w:0" ("name already exists"); weights load by order, so a
    # suffix, as TF uniquifies a graph's names (w_1), keeps both
    model = keras.Sequential([keras.Input((2,)), _TwoNamedW()])
    model.layers[0].b.assign(np.float32([7.0, 8.0]))
    path = str(tmp_path / "w.h5")
    model.save_weights(path)
    copy = keras.Sequential([keras.Input((2,)), _TwoNamedW()])
    copy.load_weights(path)
    np.testing.assert_array_equal(copy.layers[0].a.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(copy.layers[0].b.numpy(), [7.0, 8.0])
