"""`.keras` zips laid out as TF 2.12's model.save("m.keras") writes them, built by hand
(no TensorFlow here): the config Keras 2.12's serialization_lib writes and the weights at
the paths its saving_lib gives them (layers under `_layer_checkpoint_dependencies`, named
by class in snake case, a weighted layer's second entry taking a suffix of its own)."""

import io
import json
import zipfile

import h5py
import numpy as np

RNG = np.random.default_rng(7)


def obj(module, class_name, config, registered_name=None, **extra):
    return {"module": module, "class_name": class_name, "config": config,
            "registered_name": registered_name, **extra}


def initializer(name, config=None):
    return obj("keras.initializers", name, config or ({"seed": None} if "Glorot" in name
                                                     else {}))


def input_layer(name, shape):
    return obj("keras.layers", "InputLayer", {"batch_input_shape": [None, *shape],
                                               "dtype": "float32", "sparse": False,
                                               "ragged": False, "name": name})


def dense(name, units, activation="linear", input_shape=None, **extra):
    config = {"name": name, "trainable": True, "dtype": "float32", "units": units,
              "activation": activation, "use_bias": True,
              "kernel_initializer": initializer("GlorotUniform"),
              "bias_initializer": initializer("Zeros"), "kernel_regularizer": None,
              "bias_regularizer": None, "activity_regularizer": None,
              "kernel_constraint": None, "bias_constraint": None}
    build = {"build_config": {"input_shape": input_shape}} if input_shape else {}
    return obj("keras.layers", "Dense", config, **build, **extra)


def adam(learning_rate=0.0010000000474974513):
    return obj("keras.optimizers", "Adam", {
        "name": "Adam", "weight_decay": None, "clipnorm": None, "global_clipnorm": None,
        "clipvalue": None, "use_ema": False, "ema_momentum": 0.99,
        "ema_overwrite_frequency": None, "jit_compile": True, "is_legacy_optimizer": False,
        "learning_rate": learning_rate, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
        "amsgrad": False})


def compile_config(optimizer, loss="mse", metrics=("mae",)):
    return {"optimizer": optimizer, "loss": loss, "metrics": list(metrics),
            "loss_weights": None, "weighted_metrics": None, "run_eagerly": None,
            "steps_per_execution": None, "jit_compile": None}


def write(path, config, arrays, groups=()):
    """The zip at `path`: `config` as config.json, `arrays` ({h5 path: array}) and the
    empty groups `groups` in model.weights.h5, TF 2.12's metadata."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.create_group("vars")
        for group in groups:
            f.require_group(group)
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "2.12.0",
                                                 "date_saved": "2023-04-01@12:00:00"}))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", buffer.getvalue())
    return path


def dense_stack():
    """A trained Sequential(Input(4), Dense(8, relu), Dense(1)) compiled with Adam, mse and
    mae, as TF 2.12 saves it: (config, arrays, empty groups, the weights, Adam's slots)."""
    k1, b1 = RNG.normal(size=(4, 8)), RNG.normal(size=8)
    k2, b2 = RNG.normal(size=(8, 1)), RNG.normal(size=1)
    weights = [w.astype(np.float32) for w in (k1, b1, k2, b2)]
    config = obj("keras", "Sequential", {"name": "sequential", "layers": [
        input_layer("input_1", (4,)), dense("dense", 8, "relu", [None, 4]),
        dense("dense_1", 1, input_shape=[None, 8])]},
        build_config={"input_shape": [None, 4]},
        compile_config=compile_config(adam()))
    arrays = {"_layer_checkpoint_dependencies/dense/vars/0": weights[0],
              "_layer_checkpoint_dependencies/dense/vars/1": weights[1],
              "_layer_checkpoint_dependencies/dense_2/vars/0": weights[2],
              "_layer_checkpoint_dependencies/dense_2/vars/1": weights[3],
              "optimizer/vars/0": np.int64(12)}
    # TF 2.12's Adam: m and v of each variable in turn (m0 v0 m1 v1 ...), all distinct
    slots = {}
    for i, w in enumerate(weights):
        slots[(i, "m")] = RNG.normal(size=w.shape).astype(np.float32)
        slots[(i, "v")] = RNG.uniform(size=w.shape).astype(np.float32)
        arrays[f"optimizer/vars/{1 + 2 * i}"] = slots[(i, "m")]
        arrays[f"optimizer/vars/{2 + 2 * i}"] = slots[(i, "v")]
    # the compiled metrics' totals TF also keeps (loss and mae: total, count)
    for name in ("mean", "mean_metric_wrapper"):
        arrays[f"metrics/{name}/vars/0"] = np.float32(3.0)
        arrays[f"metrics/{name}/vars/1"] = np.float32(4.0)
    return config, arrays, weights, slots


def numpy_stack(x, weights):
    k1, b1, k2, b2 = (w.astype(np.float64) for w in weights)
    return np.maximum(x @ k1 + b1, 0) @ k2 + b2
