"""Names and class names as a Keras 2.12 (TF 2.12) user sees them: unnamed Inputs are
input_1, input_2, ... (backend.unique_object_name("input", zero_based=False)), operators
on symbolic tensors are TFOpLambda / SlicingOpLambda rows, a nested Model(inputs, outputs)
is a Functional row, and a saved signature's input is named after its Input."""

import numpy as np
import pytest

import xlaflow as xf

keras = xf.keras
layers = keras.layers


def _summary(model):
    lines = []
    model.summary(line_length=140, print_fn=lines.append)  # wide: no row wraps
    return "\n".join(lines)


def test_unnamed_inputs_and_input_layers_are_numbered_from_1():
    keras.backend.clear_session()
    a, b = keras.Input((4,)), keras.Input((4,))
    assert (a.name, b.name) == ("input_1", "input_2")
    assert layers.InputLayer(input_shape=(3,)).name == "input_3"  # one counter, as Keras 2
    assert keras.Input((2,), name="named").name == "named"
    model = keras.Model([a, b], layers.Add()([a, b]))
    assert [layer.name for layer in model.layers[:2]] == ["input_1", "input_2"]
    text = _summary(model)
    assert " input_1 (InputLayer) " in text and "['input_1[0][0]'" in text
    # a Sequential given input_shape keeps Keras 2's <first layer>_input
    seq = keras.Sequential([layers.Dense(2, input_shape=(4,), name="first")])
    assert seq.inputs[0].name == "first_input"
    keras.backend.clear_session()  # resets the numbering
    assert keras.Input((4,)).name == "input_1"


def test_a_saved_signature_names_its_input_input_1(tmp_path):
    keras.backend.clear_session()
    x = keras.Input((3,))
    model = keras.Model(x, layers.Dense(2)(x))
    xf.saved_model.save(model, tmp_path / "m")
    signature = xf.saved_model.load(tmp_path / "m").signatures["serving_default"]
    assert [spec["name"] for spec in signature.inputs] == ["input_1"]
    data = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    kernel, bias = model.layers[1].get_weights()
    (out,) = signature(input_1=data).values()
    np.testing.assert_allclose(out, data @ kernel + bias, rtol=1e-5, atol=1e-6)


def test_operators_show_keras2s_tfoplambda_and_slicingoplambda(tmp_path):
    keras.backend.clear_session()
    x = keras.Input((4,))
    y = (x * 2.0 + x)[:, 1:3]
    z = -xf.math.reduce_mean(y, axis=-1)
    model = keras.Model(x, z)
    text = _summary(model)
    for row in ("tf.math.multiply (TFOpLambda)", "tf.__operators__.add (TFOpLambda)",
                "tf.__operators__.getitem (SlicingOpLambda)",
                "tf.math.reduce_mean (TFOpLambda)", "tf.math.negative (TFOpLambda)"):
        assert f" {row} " in text
    assert "Operator" not in text
    model.save(tmp_path / "ops.keras")  # the saved classes are xlaflow's; the rows stay
    loaded = keras.models.load_model(tmp_path / "ops.keras")
    assert _summary(loaded) == text
    data = np.arange(8, dtype="float32").reshape(2, 4)
    np.testing.assert_allclose(loaded(data), -(3 * data)[:, 1:3].mean(-1), rtol=1e-6)


def test_nested_models_show_keras2s_classes():
    keras.backend.clear_session()
    a = keras.Input((4,))
    inner = keras.Model(a, layers.Dense(2)(a))
    seq = keras.Sequential([layers.Dense(3)])

    class Tower(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1)

        def call(self, inputs):
            return self.dense(inputs)

    b = keras.Input((4,))
    outer = keras.Model(b, [inner(b), seq(b), Tower()(b)])
    text = _summary(outer)
    assert " model (Functional) " in text and " sequential (Sequential) " in text
    assert " tower (Tower) " in text
    assert outer.name == "model_1" and type(inner) is keras.Model  # the class stays Model


def test_model_to_dot_labels_use_keras2s_classes():
    pytest.importorskip("graphviz")
    keras.backend.clear_session()
    a = keras.Input((4,))
    inner = keras.Model(a, layers.Dense(2)(a))
    b = keras.Input((4,))
    outer = keras.Model(b, inner(b * 2.0)[:, 0])
    source = keras.utils.model_to_dot(outer).source
    for label in ("input_2 (InputLayer)", "tf.math.multiply (TFOpLambda)",
                  "model (Functional)", "tf.__operators__.getitem (SlicingOpLambda)"):
        assert label in source
