"""load_model of `.keras` zips in TF 2.12's layout (built by hand in keras_v3_files.py):
Sequential and Functional models, compile config and optimizer state, custom objects.

Oracles: NumPy forward passes of the files' weights, the arrays written into the files
(the optimizer's slots each distinct, so a wrong pairing fails), Keras 2's documented
defaults of the configs written."""

import numpy as np
import pytest

import xlaflow as xf
from tests.saving import keras_v3_files as files
from xlaflow.saved_model import CorruptSaveError

keras = xf.keras
X = np.random.default_rng(3).normal(size=(5, 4)).astype(np.float32)


def test_a_tf_written_dense_stack_loads_weights_compile_config_and_adam_state(tmp_path):
    config, arrays, weights, slots = files.dense_stack()
    path = files.write(str(tmp_path / "m.keras"), config, arrays,
                       ["_layer_checkpoint_dependencies/dense_1"])
    model = keras.models.load_model(path)
    np.testing.assert_allclose(model.predict(X, verbose=0), files.numpy_stack(X, weights),
                               rtol=1e-5, atol=1e-5)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]
    optimizer = model.optimizer
    assert type(optimizer).__name__ == "Adam"
    assert optimizer.get_config()["beta_2"] == pytest.approx(0.999)
    assert float(optimizer.learning_rate) == pytest.approx(1e-3)
    assert int(optimizer.iterations) == 12
    owners = optimizer.slot_owners()
    index = {id(w): i for i, w in enumerate(model.trainable_weights)}
    restored = {(index[id(w)], name): np.asarray(v.value) for v in optimizer.variables
                if id(v) in owners for w, name in [owners[id(v)]]}
    assert set(restored) == set(slots)
    for key, value in slots.items():
        np.testing.assert_array_equal(restored[key], value)
    # compiled with mse and mae: evaluate reports them (NumPy oracle)
    y = np.ones((5, 1), np.float32)
    loss, mae = model.evaluate(X, y, verbose=0)
    pred = files.numpy_stack(X, weights)
    assert loss == pytest.approx(np.mean((pred - 1) ** 2), rel=1e-4)
    assert mae == pytest.approx(np.mean(np.abs(pred - 1)), rel=1e-4)


def test_compile_false_leaves_the_model_uncompiled(tmp_path):
    config, arrays, weights, _ = files.dense_stack()
    model = keras.models.load_model(files.write(str(tmp_path / "m.keras"), config, arrays),
                                    compile=False)
    assert model.optimizer is None
    np.testing.assert_allclose(model(X), files.numpy_stack(X, weights), rtol=1e-5, atol=1e-5)


def test_a_tf_written_functional_model_with_a_merge_loads(tmp_path):
    """Functional layers as TF 2.12 lists them: the InputLayer first; each weighted layer
    twice in _layer_checkpoint_dependencies, so the Dense groups are dense, dense_2 and
    dense_4, the Add's add and the input's input_layer (empty)."""
    rng = np.random.default_rng(5)
    w = [rng.normal(size=s).astype(np.float32) for s in ((4, 3), (3,), (4, 3), (3,),
                                                          (3, 2), (2,))]

    def entry(layer, name, inbound):
        return {**layer, "name": name, "inbound_nodes": inbound}

    layers = [entry(files.input_layer("inp", (4,)), "inp", []),
              entry(files.dense("a", 3, "tanh"), "a", [[["inp", 0, 0, {}]]]),
              entry(files.dense("b", 3), "b", [[["inp", 0, 0, {}]]]),
              entry(files.obj("keras.layers", "Add", {"name": "add", "trainable": True,
                                                      "dtype": "float32"}), "add",
                    [[["a", 0, 0, {}], ["b", 0, 0, {}]]]),
              entry(files.dense("out", 2), "out", [[["add", 0, 0, {}]]])]
    config = files.obj("keras.engine.functional", "Functional", {
        "name": "model", "trainable": True, "layers": layers,
        "input_layers": [["inp", 0, 0]], "output_layers": [["out", 0, 0]]},
        registered_name="Functional", build_config={"input_shape": [None, 4]})
    prefix = "_layer_checkpoint_dependencies"
    arrays = {f"{prefix}/{group}/vars/{i}": w[2 * k + i]
              for k, group in enumerate(["dense", "dense_2", "dense_4"]) for i in (0, 1)}
    path = files.write(str(tmp_path / "f.keras"), config, arrays,
                       [f"{prefix}/input_layer/vars", f"{prefix}/add/vars"])
    model = keras.models.load_model(path)
    x = X.astype(np.float64)
    expected = (np.tanh(x @ w[0] + w[1]) + (x @ w[2] + w[3])) @ w[4] + w[5]
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-5)
    assert model.optimizer is None  # no compile_config: not compiled


@xf.keras.saving.register_serializable(package="V3Test")
class Scale(keras.layers.Layer):
    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def _custom_file(tmp_path, registered_name, loss):
    config, arrays, weights, _ = files.dense_stack()
    scale = files.obj("__main__", "Scale", {"name": "scale", "trainable": True,
                                            "dtype": "float32", "factor": 3.0},
                      registered_name=registered_name)
    config["config"]["layers"].insert(2, scale)
    config["compile_config"]["loss"] = loss
    # Scale has no weights: its group is empty, the last Dense's entries move up by one
    path = files.write(str(tmp_path / "c.keras"), config, arrays,
                       ["_layer_checkpoint_dependencies/scale/vars"])
    return path, weights


def my_loss(y_true, y_pred):
    return xf.reduce_mean(xf.abs(y_true - y_pred) * 2.0, axis=-1)


def test_custom_objects_by_registered_name_and_by_custom_objects(tmp_path):
    loss = files.obj("__main__", "function", "my_loss", registered_name="my_loss")
    path, weights = _custom_file(tmp_path, "V3Test>Scale", loss)
    with pytest.raises(ValueError, match="my_loss"):
        keras.models.load_model(path)
    model = keras.models.load_model(path, custom_objects={"my_loss": my_loss})
    k1, b1, k2, b2 = (w.astype(np.float64) for w in weights)
    expected = (3.0 * np.maximum(X @ k1 + b1, 0)) @ k2 + b2
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-5)
    assert isinstance(model.layers[1], Scale) and model.layers[1].factor == 3.0
    loss_value = model.evaluate(X, np.zeros((5, 1), np.float32), verbose=0)[0]
    assert loss_value == pytest.approx(np.mean(np.abs(expected) * 2.0), rel=1e-4)


def test_an_unregistered_class_comes_from_custom_objects(tmp_path):
    class Tripler(Scale):
        pass

    path, _ = _custom_file(tmp_path, "Tripler", "mse")
    with pytest.raises(ValueError, match="Tripler"):
        keras.models.load_model(path)
    model = keras.models.load_model(path, custom_objects={"Tripler": Tripler})
    assert type(model.layers[1]) is Tripler


class PatientAdam(keras.optimizers.Adam):
    """A user's optimizer: TF's order of its variables is not known here."""


def test_an_optimizer_whose_tf_order_is_unknown_loads_fresh_with_a_warning(tmp_path):
    config, arrays, weights, _ = files.dense_stack()
    config["compile_config"]["optimizer"] = files.obj(
        "__main__", "PatientAdam", files.adam()["config"], registered_name="PatientAdam")
    path = files.write(str(tmp_path / "n.keras"), config, arrays)
    with pytest.warns(UserWarning, match="optimizer state is not restored"):
        model = keras.models.load_model(path, custom_objects={"PatientAdam": PatientAdam})
    assert type(model.optimizer) is PatientAdam
    assert int(model.optimizer.iterations) == 0
    np.testing.assert_allclose(model(X), files.numpy_stack(X, weights), rtol=1e-5, atol=1e-5)


def test_tf_written_nadam_state_resumes_with_the_momentum_product_of_its_steps(tmp_path):
    """TF 2.12's Nadam saves m and v of each variable in turn, not its running product of
    the momentum schedule: the next step must use the product over the saved steps."""
    config, arrays, weights, slots = files.dense_stack()  # m0 v0 m1 v1 ...: Adam's order too
    config["compile_config"]["optimizer"] = files.obj("keras.optimizers", "Nadam", {
        "name": "Nadam", "learning_rate": 0.01, "beta_1": 0.9, "beta_2": 0.999,
        "epsilon": 1e-07, "jit_compile": True, "is_legacy_optimizer": False})
    model = keras.models.load_model(files.write(str(tmp_path / "n.keras"), config, arrays))
    assert int(model.optimizer.iterations) == 12
    grads = [RNG_GRADS.normal(size=w.shape).astype(np.float32) for w in weights]
    model.optimizer.apply_gradients(zip(grads, model.trainable_weights))
    b1, b2, t = 0.9, 0.999, 13  # the 13th step, by NumPy from the file's state
    product = np.prod([b1 * (1 - 0.5 * 0.96 ** s) for s in range(1, t)])
    u_t, u_next = b1 * (1 - 0.5 * 0.96 ** t), b1 * (1 - 0.5 * 0.96 ** (t + 1))
    for i, (w, g) in enumerate(zip(weights, grads)):
        m = b1 * slots[(i, "m")] + (1 - b1) * g
        v = b2 * slots[(i, "v")] + (1 - b2) * g * g
        m_hat = u_next * m / (1 - product * u_t * u_next) + (1 - u_t) * g / (1 - product * u_t)
        expected = w - 0.01 * m_hat / (np.sqrt(v / (1 - b2 ** t)) + 1e-7)
        np.testing.assert_allclose(model.trainable_weights[i].numpy(), expected,
                                   rtol=2e-5, atol=1e-6)


RNG_GRADS = np.random.default_rng(13)


def test_sgd_without_momentum_skips_the_unused_slots_tf_builds(tmp_path):
    config, arrays, _, _ = files.dense_stack()
    config["compile_config"]["optimizer"] = files.obj("keras.optimizers", "SGD", {
        "name": "SGD", "learning_rate": 0.05, "momentum": 0.0, "nesterov": False,
        "jit_compile": True, "is_legacy_optimizer": False})
    arrays = {k: v for k, v in arrays.items() if not k.startswith("optimizer/")}
    arrays["optimizer/vars/0"] = np.int64(7)
    for i, shape in enumerate([(4, 8), (8,), (8, 1), (1,)]):  # TF's SGD builds "m" always
        arrays[f"optimizer/vars/{i + 1}"] = np.zeros(shape, np.float32)
    model = keras.models.load_model(files.write(str(tmp_path / "s.keras"), config, arrays))
    assert int(model.optimizer.iterations) == 7
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)


def test_a_layer_whose_weights_are_not_in_the_file_is_named(tmp_path):
    config, arrays, _, _ = files.dense_stack()
    del arrays["_layer_checkpoint_dependencies/dense_2/vars/0"]
    del arrays["_layer_checkpoint_dependencies/dense_2/vars/1"]
    with pytest.raises(ValueError, match=r"no 2 weights \(dense_1/kernel, \.\.\.\) at "
                                         r"_layer_checkpoint_dependencies/dense_2/vars"):
        keras.models.load_model(files.write(str(tmp_path / "m.keras"), config, arrays))


def test_a_damaged_zip_is_a_corrupt_save(tmp_path):
    config, arrays, _, _ = files.dense_stack()
    path = files.write(str(tmp_path / "m.keras"), config, arrays)
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) - 200])
    with pytest.raises(CorruptSaveError, match=r"m\.keras cannot be read .*truncated"):
        keras.models.load_model(path)


def test_a_sequential_without_an_input_layer_is_built_from_its_build_config(tmp_path):
    """TF 2.12 writes a Sequential built by model.build((None, 4)) with no InputLayer: the
    model's build_config says the input shape, the layer paths are as before."""
    config, arrays, weights, _ = files.dense_stack()
    del config["config"]["layers"][0]
    del config["compile_config"]
    model = keras.models.load_model(files.write(str(tmp_path / "b.keras"), config, arrays))
    assert model.built
    np.testing.assert_allclose(model(X), files.numpy_stack(X, weights), rtol=1e-5, atol=1e-5)
