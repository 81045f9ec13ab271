"""Whole-model HDF5 files as a TF user porting them meets them: Keras 2's training_config
(a user's loss and metric saved by name, loss objects, legacy and 2.11+ optimizer configs),
Keras 2's chunked name attributes, a missing parent folder, a damaged file.

Oracles: NumPy (losses and metrics of a one-Dense model), Keras 2's documented layout
(save_attributes_to_hdf5_group's `<name>0`, `<name>1` chunks), the saved model itself."""

import json
import os

import h5py
import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras
from xlaflow.keras import layers
from xlaflow.saving import atomic

KERNEL = np.array([[0.5], [-1.0], [2.0]], "float32")
BIAS = np.array([0.25], "float32")
X = np.random.default_rng(0).normal(size=(6, 3)).astype("float32")
Y = np.random.default_rng(1).normal(size=(6, 1)).astype("float32")
PRED = X @ KERNEL + BIAS
ADAM = {"class_name": "Adam", "config": {
    "name": "Adam", "weight_decay": None, "clipnorm": None, "global_clipnorm": None,
    "clipvalue": None, "use_ema": False, "ema_momentum": 0.99,
    "ema_overwrite_frequency": None, "jit_compile": True, "is_legacy_optimizer": False,
    "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
    "amsgrad": False}}


def keras2_file(path, training):
    """A one-Dense Sequential as TF 2.12's model.save("m.h5") writes it, with `training` as
    its training_config."""
    dense = {"name": "dense", "trainable": True, "dtype": "float32",
             "batch_input_shape": [None, 3], "units": 1, "activation": "linear",
             "use_bias": True,
             "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
             "bias_initializer": {"class_name": "Zeros", "config": {}},
             "kernel_regularizer": None, "bias_regularizer": None,
             "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 3],
                                                "dtype": "float32", "sparse": False,
                                                "ragged": False, "name": "dense_input"}},
        {"class_name": "Dense", "config": dense}]}}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"], f.attrs["backend"] = "2.12.0", "tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
        f.attrs["training_config"] = json.dumps(training).encode("utf8")
        weights = f.create_group("model_weights")
        weights.attrs["layer_names"] = np.array([b"dense"])
        group = weights.create_group("dense")
        group.attrs["weight_names"] = np.array([b"dense/kernel:0", b"dense/bias:0"])
        group.create_dataset("dense/kernel:0", data=KERNEL)
        group.create_dataset("dense/bias:0", data=BIAS)
    return path


def my_loss(y_true, y_pred):
    return xf.reduce_mean(xf.square(y_true - y_pred) * 3.0, axis=-1)


def my_metric(y_true, y_pred):
    return xf.reduce_mean(xf.abs(y_true - y_pred) + 1.0, axis=-1)


MY_LOSS = np.mean((Y - PRED) ** 2 * 3.0)
MY_METRIC = np.mean(np.abs(Y - PRED) + 1.0)


@pytest.mark.parametrize("loss_name", ["my_loss", "Custom>my_loss"])
def test_a_users_loss_and_metric_saved_by_name_resolve_through_custom_objects(
        tmp_path, loss_name):
    """TF 2.12 writes a loss function by its (registered) name and a metric function as a
    MeanMetricWrapper naming it; Keras 2's load_model finds both in custom_objects."""
    path = keras2_file(str(tmp_path / "m.h5"), {
        "loss": loss_name, "loss_weights": None, "weighted_metrics": None,
        "metrics": [[{"class_name": "MeanMetricWrapper", "config": {
            "name": "my_metric", "dtype": "float32", "fn": "my_metric"}}]],
        "optimizer_config": ADAM})
    model = keras.models.load_model(path, custom_objects={"my_loss": my_loss,
                                                          "my_metric": my_metric})
    results = model.evaluate(X, Y, verbose=0, return_dict=True)
    assert results["loss"] == pytest.approx(MY_LOSS, rel=1e-5)
    assert results["my_metric"] == pytest.approx(MY_METRIC, rel=1e-5)
    with pytest.raises(ValueError, match="my_loss.*custom_objects"):  # named, with the cure
        keras.models.load_model(path)
    metric_only = keras2_file(str(tmp_path / "metric.h5"), {
        "loss": "mse", "metrics": [[{"class_name": "MeanMetricWrapper", "config": {
            "name": "my_metric", "dtype": "float32", "fn": "my_metric"}}]],
        "optimizer_config": ADAM})
    with pytest.raises(ValueError, match="my_metric.*custom_objects=.*compile=False"):
        keras.models.load_model(metric_only)


def test_tf_2_3s_metric_names_and_sample_weight_mode(tmp_path):
    """Older writers list the user's metrics as given (a function's name) and Keras <= 2.3
    adds sample_weight_mode (None: the default)."""
    path = keras2_file(str(tmp_path / "m.h5"), {
        "loss": "mse", "metrics": ["mae", "my_metric"], "weighted_metrics": None,
        "loss_weights": None, "sample_weight_mode": None, "optimizer_config": ADAM})
    model = keras.models.load_model(path, custom_objects={"my_metric": my_metric})
    results = model.evaluate(X, Y, verbose=0, return_dict=True)
    assert results["loss"] == pytest.approx(np.mean((Y - PRED) ** 2), rel=1e-5)
    assert results["mae"] == pytest.approx(np.mean(np.abs(Y - PRED)), rel=1e-5)
    assert results["my_metric"] == pytest.approx(MY_METRIC, rel=1e-5)
    temporal = keras2_file(str(tmp_path / "t.h5"), {
        "loss": "mse", "metrics": None, "sample_weight_mode": "temporal",
        "optimizer_config": ADAM})
    with pytest.raises(NotImplementedError, match="sample_weight_mode='temporal'"):
        keras.models.load_model(temporal)
    assert keras.models.load_model(temporal, compile=False).optimizer is None


def test_loss_objects_in_keras_2s_form_keep_their_arguments(tmp_path):
    """A Loss object is {"class_name", "config"}: as compile's loss it must not read as a
    dict of losses per output; Huber's delta=2.0 survives (NumPy's Huber oracle)."""
    path = keras2_file(str(tmp_path / "m.h5"), {
        "loss": {"class_name": "Huber", "config": {"reduction": "auto", "name": "huber_loss",
                                                  "delta": 2.0}},
        "metrics": [[{"class_name": "MeanSquaredError", "config": {
            "name": "mean_squared_error", "dtype": "float32"}}]],
        "weighted_metrics": None, "loss_weights": None, "optimizer_config": ADAM})
    model = keras.models.load_model(path)
    error = np.abs(Y - PRED)
    huber = np.where(error <= 2.0, 0.5 * error ** 2, 2.0 * error - 0.5 * 2.0 ** 2)
    results = model.evaluate(X, Y, verbose=0, return_dict=True)
    assert results["loss"] == pytest.approx(np.mean(huber), rel=1e-5)
    assert results["mean_squared_error"] == pytest.approx(np.mean((Y - PRED) ** 2), rel=1e-5)


def test_a_users_loss_class_in_keras_2s_form(tmp_path):
    class ScaledMSE(keras.losses.Loss):
        def __init__(self, scale=1.0, **kwargs):
            super().__init__(**kwargs)
            self.scale = scale

        def call(self, y_true, y_pred):
            return xf.reduce_mean(xf.square(y_true - y_pred), axis=-1) * self.scale

        def get_config(self):
            return {**super().get_config(), "scale": self.scale}

    path = keras2_file(str(tmp_path / "m.h5"), {
        "loss": {"class_name": "ScaledMSE", "config": {"reduction": "auto",
                                                       "name": "scaled_mse", "scale": 4.0}},
        "metrics": None, "optimizer_config": ADAM})
    model = keras.models.load_model(path, custom_objects={"ScaledMSE": ScaledMSE})
    assert model.evaluate(X, Y, verbose=0) == pytest.approx(4 * np.mean((Y - PRED) ** 2),
                                                            rel=1e-5)


@pytest.mark.parametrize("optimizer, kind, rate", [
    # TF 2.11+ saves optimizers.legacy.Adam as "Custom>Adam", flagged legacy
    ({"class_name": "Custom>Adam", "config": {
        "name": "Adam", "learning_rate": 0.005, "decay": 0.0, "beta_1": 0.9, "beta_2": 0.999,
        "epsilon": 1e-07, "amsgrad": False, "is_legacy_optimizer": True}}, "Adam", 0.005),
    # TF 2.11+'s RMSprop writes ema_overwrite_frequency=100, its default, with use_ema off
    ({"class_name": "RMSprop", "config": {
        "name": "RMSprop", "weight_decay": None, "clipnorm": None, "global_clipnorm": None,
        "clipvalue": None, "use_ema": False, "ema_momentum": 0.99,
        "ema_overwrite_frequency": 100, "jit_compile": True, "is_legacy_optimizer": False,
        "learning_rate": 0.002, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-07,
        "centered": False}}, "RMSprop", 0.002)])
def test_keras_2_optimizer_configs_load(tmp_path, optimizer, kind, rate):
    path = keras2_file(str(tmp_path / "m.h5"), {"loss": "mse", "metrics": None,
                                                "optimizer_config": optimizer})
    model = keras.models.load_model(path)
    assert type(model.optimizer).__name__ == kind
    assert float(model.optimizer.learning_rate) == pytest.approx(rate)
    model.fit(X, Y, epochs=1, batch_size=6, verbose=0)
    assert int(model.optimizer.iterations) == 1


def test_an_optimizer_with_ema_on_is_still_refused_by_name(tmp_path):
    config = {**ADAM["config"], "use_ema": True}
    path = keras2_file(str(tmp_path / "m.h5"), {
        "loss": "mse", "metrics": None, "optimizer_config": {"class_name": "Adam",
                                                             "config": config}})
    with pytest.raises(NotImplementedError, match="use_ema=True"):
        keras.models.load_model(path)


def test_model_checkpoint_with_epoch_names_creates_its_folder(tmp_path):
    """As Keras 2 (and the directory format here), a missing parent folder of an .h5 path
    is created: ModelCheckpoint("ckpt/{epoch:02d}.h5") works on a fresh run."""
    xf.keras.utils.set_random_seed(3)
    model = keras.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    pattern = str(tmp_path / "ckpt" / "model-{epoch:02d}.h5")
    history = model.fit(X, Y, validation_data=(X, Y), epochs=3, verbose=0, callbacks=[
        keras.callbacks.ModelCheckpoint(pattern, monitor="val_loss", save_best_only=True)])
    files = sorted(os.listdir(tmp_path / "ckpt"))
    assert files == [f"model-{e:02d}.h5" for e in range(1, 4)]  # the loss falls each epoch
    last = keras.models.load_model(str(tmp_path / "ckpt" / files[-1]))
    assert last.evaluate(X, Y, verbose=0) == pytest.approx(history.history["val_loss"][-1],
                                                           rel=1e-5)
    weights = str(tmp_path / "new" / "deeper" / "w.h5")
    model.save_weights(weights)
    fresh = keras.Sequential([layers.Dense(1, input_shape=(3,))])
    fresh.load_weights(weights)
    np.testing.assert_array_equal(fresh.predict(X, verbose=0), model.predict(X, verbose=0))


def test_a_truncated_file_is_named_as_damaged(tmp_path):
    model = keras.Sequential([layers.Dense(64, input_shape=(300,))])
    path = tmp_path / "m.h5"
    model.save(str(path))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(atomic.CorruptSaveError, match=r"load_model: .*m\.h5.*truncated or "
                                                      r"damaged"):
        keras.models.load_model(str(path))
    with pytest.raises(atomic.CorruptSaveError, match=r"load_weights: .*m\.h5.*truncated"):
        model.load_weights(str(path))


def test_a_file_whose_layer_group_is_missing_is_named_as_damaged(tmp_path):
    model = keras.Sequential([layers.Dense(2, input_shape=(3,), name="d")])
    path = str(tmp_path / "m.h5")
    model.save(path)
    with h5py.File(path, "r+") as f:
        del f["model_weights/d"]
    with pytest.raises(atomic.CorruptSaveError, match="truncated or damaged"):
        keras.models.load_model(path)


def _long_named_model(n=20):
    """Layer names long enough (n * ~4 KB) that their list passes HDF5's 64 KiB object
    header (h5py refuses such an attribute): Keras 2 splits it into chunks."""
    model = keras.Sequential([layers.Dense(1, input_shape=(1,), name="d" * 4000 + "0")] + [
        layers.Dense(1, name="d" * 4000 + str(i)) for i in range(1, n)])
    rng = np.random.default_rng(5)
    model.set_weights([rng.normal(size=w.shape).astype("float32") * 0.2 + 1
                       for w in model.get_weights()])
    return model


def test_names_past_the_object_header_limit_are_chunked_as_keras_2(tmp_path):
    model = _long_named_model()
    x = np.linspace(-1, 1, 4, dtype="float32")[:, None]
    path = str(tmp_path / "long.h5")
    model.save(path)
    with h5py.File(path, "r") as f:  # Keras 2's layout: layer_names0, layer_names1, ...
        group = f["model_weights"]
        assert "layer_names" not in group.attrs and "layer_names0" in group.attrs
        chunks = [k for k in group.attrs if k.startswith("layer_names")]
        names = [n.decode() for k in sorted(chunks, key=lambda k: int(k[11:]))
                 for n in group.attrs[k]]
        assert names == [layer.name for layer in model.layers]
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    weights = str(tmp_path / "long_weights.h5")
    model.save_weights(weights)
    fresh = _long_named_model()
    fresh.set_weights([np.zeros_like(w) for w in fresh.get_weights()])
    fresh.load_weights(weights)
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_keras_2_file_with_chunked_layer_names_loads(tmp_path):
    path = keras2_file(str(tmp_path / "m.h5"), {"loss": "mse", "metrics": None,
                                                "optimizer_config": ADAM})
    with h5py.File(path, "r+") as f:  # one name per chunk, as a longer list would be
        group = f["model_weights"]
        del group.attrs["layer_names"]
        group.attrs["layer_names0"] = np.array([b"dense"])
        dense = group["dense"]
        del dense.attrs["weight_names"]
        dense.attrs["weight_names0"] = np.array([b"dense/kernel:0"])
        dense.attrs["weight_names1"] = np.array([b"dense/bias:0"])
    model = keras.models.load_model(path)
    np.testing.assert_allclose(model.predict(X, verbose=0), PRED, rtol=1e-6)


def test_without_h5py_the_error_says_what_to_install(tmp_path, monkeypatch):
    model = keras.Sequential([layers.Dense(1, input_shape=(3,))])
    path = str(tmp_path / "m.h5")
    model.save(path)
    monkeypatch.setitem(__import__("sys").modules, "h5py", None)  # import h5py fails
    with pytest.raises(ImportError, match=r"needs h5py: pip install 'xlaflow\[h5\]'"):
        model.save(str(tmp_path / "other.h5"))
    with pytest.raises(ImportError, match="needs h5py"):
        keras.models.load_model(path)
    assert os.listdir(tmp_path) == ["m.h5"]


@pytest.mark.parametrize("class_name", ["LossScaleOptimizer", "LossScaleOptimizerV3"])
def test_a_mixed_precision_files_loss_scale_optimizer(tmp_path, class_name):
    """Keras 2 saves the mixed precision wrapper around its inner optimizer's config (2.11+
    as LossScaleOptimizerV3); a fixed scale (dynamic=False) is refused by name."""
    config = {"inner_optimizer": {**ADAM, "config": {**ADAM["config"], "learning_rate": 0.003}},
              "dynamic": True, "initial_scale": 1024.0, "dynamic_growth_steps": 100}
    path = keras2_file(str(tmp_path / "m.h5"), {
        "loss": "mse", "metrics": None,
        "optimizer_config": {"class_name": class_name, "config": config}})
    model = keras.models.load_model(path)
    optimizer = model.optimizer
    assert type(optimizer).__name__ == "LossScaleOptimizer"
    assert type(optimizer.inner_optimizer).__name__ == "Adam"
    assert float(optimizer.inner_optimizer.learning_rate) == pytest.approx(0.003)
    assert float(optimizer.scale.value) == 1024.0
    assert optimizer.dynamic_growth_steps == 100
    model.fit(X, Y, epochs=1, batch_size=6, verbose=0)
    fixed = keras2_file(str(tmp_path / "f.h5"), {
        "loss": "mse", "metrics": None, "optimizer_config": {
            "class_name": class_name, "config": {**config, "dynamic": False}}})
    with pytest.raises(NotImplementedError, match="dynamic=False"):
        keras.models.load_model(fixed)


def test_keras_2_12s_cross_entropy_configs(tmp_path):
    """TF 2.12 writes BinaryCrossentropy's axis and SparseCategoricalCrossentropy's
    ignore_class: at their defaults they change nothing; another value is refused."""
    path = keras2_file(str(tmp_path / "m.h5"), {
        "loss": {"class_name": "BinaryCrossentropy", "config": {
            "reduction": "auto", "name": "binary_crossentropy", "from_logits": True,
            "label_smoothing": 0.1, "axis": -1}},
        "metrics": None, "optimizer_config": ADAM})
    model = keras.models.load_model(path)
    labels = (Y > 0).astype("float32")
    smooth = labels * 0.9 + 0.05
    p = 1 / (1 + np.exp(-PRED.astype("float64")))
    expected = -np.mean(smooth * np.log(p) + (1 - smooth) * np.log(1 - p))
    assert model.evaluate(X, labels, verbose=0) == pytest.approx(expected, rel=1e-5)
    ignoring = keras2_file(str(tmp_path / "i.h5"), {
        "loss": {"class_name": "SparseCategoricalCrossentropy", "config": {
            "reduction": "auto", "name": "scce", "from_logits": True, "ignore_class": 0}},
        "metrics": None, "optimizer_config": ADAM})
    with pytest.raises(NotImplementedError, match="ignore_class=0"):
        keras.models.load_model(ignoring)


def test_a_keras_2_file_with_an_adapted_normalization_layer(tmp_path):
    """Keras 2's adapted Normalization stores mean, variance and count (an int64 scalar);
    xlaflow's keeps no count: the file loads and normalizes as Keras 2 does (NumPy)."""
    mean, variance = np.array([1.0, -2.0, 0.5], "f4"), np.array([4.0, 0.25, 1e-16], "f4")
    norm = {"name": "normalization", "trainable": True, "dtype": "float32",
            "batch_input_shape": [None, 3], "axis": [-1], "mean": None, "variance": None,
            "invert": False}
    path = keras2_file(str(tmp_path / "m.h5"), {"loss": "mse", "metrics": None,
                                                "optimizer_config": ADAM})
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        config["config"]["layers"].insert(1, {"class_name": "Normalization", "config": norm})
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
        weights = f["model_weights"]
        weights.attrs["layer_names"] = np.array([b"normalization", b"dense"])
        group = weights.create_group("normalization")
        names = [b"normalization/mean:0", b"normalization/variance:0",
                 b"normalization/count:0"]
        group.attrs["weight_names"] = np.array(names)
        for name, value in zip(names, (mean, variance, np.int64(1000))):
            group.create_dataset(name.decode(), data=value)
    model = keras.models.load_model(path)
    # Keras 2: (x - mean) / max(sqrt(variance), epsilon)
    scaled = (X - mean) / np.maximum(np.sqrt(variance), 1e-7)
    np.testing.assert_allclose(model.predict(X, verbose=0), scaled @ KERNEL + BIAS,
                               rtol=1e-5, atol=1e-5)
    fresh = keras.Sequential([layers.Normalization(input_shape=(3,)),
                              layers.Dense(1)])
    fresh.load_weights(path)  # load_weights reads the same layout
    np.testing.assert_allclose(fresh.predict(X, verbose=0), scaled @ KERNEL + BIAS,
                               rtol=1e-5, atol=1e-5)


def test_layers_of_one_name_are_refused_by_name_before_writing(tmp_path):
    class Twice(keras.Model):  # a subclassed model may name two layers alike
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.first, self.second = layers.Dense(2, name="x"), layers.Dense(1, name="x")

        def call(self, inputs):
            return self.second(self.first(inputs))

    model = Twice()
    model(X)
    path = tmp_path / "twice.h5"
    with pytest.raises(ValueError, match=r"several layers with weights are named \['x'\]"):
        model.save_weights(str(path))
    assert os.listdir(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="load_model: no file or directory at"):
        keras.models.load_model(str(path))


def test_a_tensorflow_saved_model_directory_says_how_to_port_it(tmp_path):
    """TF's model.save(directory) writes saved_model.pb (a TF graph): load_model says to
    re-save it as HDF5 in TF, rather than calling it an incomplete xlaflow save."""
    (tmp_path / "variables").mkdir()
    (tmp_path / "saved_model.pb").write_bytes(b"\x08\x01")
    (tmp_path / "keras_metadata.pb").write_bytes(b"")
    with pytest.raises(ValueError, match=r"TensorFlow SavedModel.*model\.save\('model\.h5'\)"):
        keras.models.load_model(str(tmp_path))
