"""Keras 2 TFOpLambda nodes TF 2.12 writes that replayed wrongly or not at all: comparisons
saved with y= (`x > 1.0`), TF 2's ops saved under their v1 name ("compat.v1.squeeze", from
tf.squeeze), and tf.nn.bias_add (keras.applications' caffe preprocess_input).

Oracles: NumPy's forward pass, and TF's documented op semantics (bias_add adds a 1-D bias
over the last axis; tf.squeeze(axis=...) drops those axes of size 1)."""

import numpy as np
import pytest

from tests.saving.keras2_json import fill, functional, input_layer, layer_entry
from xlaflow import keras

X = np.random.default_rng(0).normal(size=(2, 3, 1, 4)).astype("float32")


def op_layer(name, function):
    return fill('{"name": "@", "trainable": true, "dtype": "float32", "function": "@"}',
                name, function)


def one_op(function, node, class_name="TFOpLambda", shape=(3, 1, 4)):
    """A model of Input "x" then one TF op layer `function` called as `node` says."""
    name = "tf." + function
    entries = [layer_entry("InputLayer", input_layer("x", list(shape)), []),
               layer_entry(class_name, op_layer(name, function), [node])]
    return keras.models.model_from_json(
        functional("ops", entries, [["x", 0, 0]], [[name, 0, 0]]))


@pytest.mark.parametrize("function, oracle", [
    ("math.greater", lambda x: x > 0.5), ("math.less_equal", lambda x: x <= 0.5),
    ("math.equal", lambda x: x == 0.5), ("math.not_equal", lambda x: x != 0.5)])
def test_a_comparison_saved_with_y_by_name(function, oracle):
    # TF 2.12 writes `x > 0.5` as tf.math.greater with {"y": 0.5}; jnp's comparisons take
    # (x, y, /), so y must go by position (the name raised TypeError)
    model = one_op(function, ["x", 0, 0, {"y": 0.5, "name": None}])
    out = np.asarray(model(X))
    np.testing.assert_array_equal(out, oracle(X))
    assert out.dtype == np.bool_


def test_v2_ops_saved_under_their_v1_names():
    # tf.squeeze(x, axis=[2]) is saved as compat.v1.squeeze, without squeeze_dims
    model = one_op("compat.v1.squeeze", ["x", 0, 0, {"axis": [2], "name": None}])
    np.testing.assert_array_equal(np.asarray(model(X)), X[:, :, 0])
    # a file that still carries the v1 spelling squeeze_dims
    model = one_op("compat.v1.squeeze",
                   ["x", 0, 0, {"axis": None, "name": None, "squeeze_dims": [2]}])
    np.testing.assert_array_equal(np.asarray(model(X)), X[:, :, 0])
    model = one_op("compat.v1.transpose",
                   ["x", 0, 0, {"perm": [0, 3, 2, 1], "name": "transpose", "conjugate": False}])
    np.testing.assert_array_equal(np.asarray(model(X)), X.transpose(0, 3, 2, 1))
    model = one_op("compat.v1.gather", ["x", 0, 0, {
        "indices": [3, 0], "validate_indices": None, "name": None, "axis": 3,
        "batch_dims": 0}])
    np.testing.assert_array_equal(np.asarray(model(X)), X[..., [3, 0]])
    model = one_op("compat.v1.shape", ["x", 0, 0, {"name": None, "out_type": "int32"}])
    np.testing.assert_array_equal(np.asarray(model(X)), [2, 3, 1, 4])
    # the replayed model saves under TF 2's name, which xlaflow's reader takes back
    again = keras.models.model_from_json(model.to_json())
    assert '"function": "shape"' in model.to_json()  # the layer keeps its saved name
    np.testing.assert_array_equal(np.asarray(again(X)), [2, 3, 1, 4])
    with pytest.raises(ValueError, match=r"given both squeeze_dims=\(2,\) and axis=\(1,\)"):
        one_op("compat.v1.squeeze", ["x", 0, 0, {"axis": [1], "squeeze_dims": [2]}])


def test_bias_add_of_keras_applications_preprocess_input():
    # caffe mode: x[..., ::-1] (RGB to BGR), then tf.nn.bias_add(x, -mean)
    mean = [103.939, 116.779, 123.68]
    shape = (2, 2, 3)
    entries = [
        layer_entry("InputLayer", input_layer("x", list(shape)), []),
        layer_entry("SlicingOpLambda", op_layer("tf.__operators__.getitem",
                                                "__operators__.getitem"),
                    [["x", 0, 0, {"slice_spec": [{"class_name": "__ellipsis__"},
                                                 {"start": None, "stop": None, "step": -1}]}]]),
        layer_entry("TFOpLambda", op_layer("tf.nn.bias_add", "nn.bias_add"),
                    [["tf.__operators__.getitem", 0, 0, {
                        "bias": [-m for m in mean], "data_format": None, "name": None}]])]
    model = keras.models.model_from_json(
        functional("vgg_pre", entries, [["x", 0, 0]], [["tf.nn.bias_add", 0, 0]]))
    x = np.random.default_rng(1).uniform(0, 255, size=(2, *shape)).astype("float32")
    expected = x[..., ::-1] - np.array(mean, "float32")
    out = np.asarray(model(x))
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert out.dtype == np.float32
    again = keras.models.model_from_json(model.to_json())
    np.testing.assert_allclose(np.asarray(again(x)), expected, rtol=1e-6)
    with pytest.raises(NotImplementedError, match="data_format='NCHW'"):
        one_op("nn.bias_add", ["x", 0, 0, {"bias": [1.0], "data_format": "NCHW"}])
    with pytest.raises(ValueError, match=r"bias must be 1-D; received shape \(1, 4\)"):
        one_op("nn.bias_add", ["x", 0, 0, {"bias": [[1.0] * 4], "data_format": None}])


def test_operators_replay_under_the_files_names_and_eq_is_elementwise(tmp_path):
    # TF 2.12 names repeated operator layers tf.__operators__.add_7 and so on: the replayed
    # layers keep those names (they were named afresh), and `x == 4.0`, which TF 2 records
    # as tf.__operators__.eq, compares elementwise (it was Python identity: False)
    slices = [{"start": None, "stop": None, "step": None}, {"start": 1, "stop": None,
                                                           "step": None}]
    entries = [
        layer_entry("InputLayer", input_layer("x", [4]), []),
        layer_entry("TFOpLambda", op_layer("tf.__operators__.add_7", "__operators__.add"),
                    [["x", 0, 0, {"y": ["x", 0, 0], "name": None}]]),
        layer_entry("SlicingOpLambda",
                    op_layer("tf.__operators__.getitem_2", "__operators__.getitem"),
                    [["tf.__operators__.add_7", 0, 0, {"slice_spec": slices}]]),
        layer_entry("TFOpLambda", op_layer("tf.__operators__.eq_1", "__operators__.eq"),
                    [["tf.__operators__.getitem_2", 0, 0, {"y": 4.0, "name": None}]]),
        layer_entry("TFOpLambda", op_layer("tf.__operators__.ne", "__operators__.ne"),
                    [["x", 0, 0, {"y": [1.0, 2.0, 2.0, 0.0], "name": None}]])]
    model = keras.models.model_from_json(functional(
        "ops", entries, [["x", 0, 0]], [["tf.__operators__.eq_1", 0, 0],
                                        ["tf.__operators__.ne", 0, 0]]))
    assert [layer.name for layer in model.layers] == [
        "x", "tf.__operators__.add_7", "tf.__operators__.getitem_2", "tf.__operators__.eq_1",
        "tf.__operators__.ne"]
    x = np.array([[0, 1, 2, 3], [2, 2, 2, 0]], "float32")
    for candidate in (model, _saved_and_loaded(model, tmp_path)):
        equal, not_equal = (np.asarray(out) for out in candidate(x))
        np.testing.assert_array_equal(equal, (x + x)[:, 1:] == 4.0)
        np.testing.assert_array_equal(not_equal, x != np.array([1, 2, 2, 0], "float32"))


def _saved_and_loaded(model, tmp_path):
    model.save(tmp_path / "ops.keras")
    return keras.models.load_model(tmp_path / "ops.keras")
