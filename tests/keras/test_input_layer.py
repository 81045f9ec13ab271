"""Keras 2's `model.layers` of a functional model: its InputLayers first, then the layers in
Keras 2's depth order (keras/engine/functional.py: _map_graph_network), and what reads it:
get_layer(index=), summary, configs, saving, cloning, weights, slices, Sequential."""

import json
import re

import numpy as np
import pytest

import xlaflow as xf

keras = xf.keras
layers = keras.layers


def _names(model):
    return [layer.name for layer in model.layers]


def test_functional_layers_start_with_the_input_layer():
    inputs = keras.Input((4,), name="features")
    hidden = layers.Dense(3, name="hidden")(inputs)
    model = keras.Model(inputs, layers.Dense(2, name="head")(hidden))
    assert _names(model) == ["features", "hidden", "head"]
    assert type(model.layers[0]) is layers.InputLayer
    assert model.get_layer(index=0) is model.layers[0] is model.get_layer("features")
    assert model.get_layer(index=1).name == "hidden"  # what a Keras 2 port indexes
    assert model.layers[0].weights == [] and model.layers[0].count_params() == 0
    # the InputLayer adds no weights: the model's are the Dense layers', in order
    expected = [*model.layers[1].get_weights(), *model.layers[2].get_weights()]
    for got, want in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert model.layers[0].output is inputs is model.input
    assert model.layers[0].input is inputs and model.layers[0].built


def test_keras2_depth_order_of_the_functional_guide_model():
    # The functional API guide's ticket model: Keras 2 lists title, body, both embeddings,
    # both LSTMs, then tags (its depth is the LSTMs'), concatenate and the two heads.
    title = keras.Input((None,), name="title", dtype="int32")
    body = keras.Input((None,), name="body", dtype="int32")
    tags = keras.Input((12,), name="tags")
    t = layers.LSTM(8, name="lstm_t")(layers.Embedding(50, 4, name="embed_t")(title))
    b = layers.LSTM(4, name="lstm_b")(layers.Embedding(50, 4, name="embed_b")(body))
    x = layers.concatenate([t, b, tags], name="concat")
    model = keras.Model([title, body, tags], [layers.Dense(1, name="priority")(x),
                                              layers.Dense(4, name="department")(x)])
    assert _names(model) == ["title", "body", "embed_t", "embed_b", "lstm_t", "lstm_b",
                             "tags", "concat", "priority", "department"]
    assert model.inputs == [title, body, tags] and len(model.outputs) == 2


def test_branches_at_equal_depth_follow_the_walk_back_from_the_output():
    # out = Add([c(x), b(a(x))]): Keras 2 puts a (depth 2) before c and b (depth 1), and c
    # before b (met first walking back from Add); a dependency order would give c, a, b.
    x = keras.Input((3,), name="x")
    a, b, c = (layers.Dense(3, name=n) for n in "abc")
    model = keras.Model(x, layers.Add(name="add")([c(x), b(a(x))]))
    assert _names(model) == ["x", "a", "c", "b", "add"]
    # weights follow model.layers, as in Keras 2
    want = [w for layer in (a, c, b) for w in layer.get_weights()]
    for got, expected in zip(model.get_weights(), want, strict=True):
        np.testing.assert_array_equal(got, expected)
    # a shared layer takes the depth of its deepest call
    shared = layers.Dense(3, name="shared")
    y = shared(layers.Dense(3, name="pre")(shared(x)))
    assert _names(keras.Model(x, layers.Dense(1, name="out")(y))) == [
        "x", "shared", "pre", "out"]


def test_an_input_no_output_needs_comes_first_at_depth_zero():
    used, unused = keras.Input((2,), name="used"), keras.Input((5,), name="unused")
    model = keras.Model([used, unused], layers.Dense(1, name="d")(used))
    assert _names(model) == ["used", "unused", "d"]


def test_summary_has_the_input_layer_row_and_unchanged_totals(capsys):
    inputs = keras.Input((784,), name="img")
    relu = layers.Activation("relu", name="relu")  # shared: called on two shapes
    model = keras.Model(inputs, relu(layers.Dense(64, name="small")(relu(inputs))))
    model.summary()
    # Keras 2.12's rows (the shared layer makes it a graph: "Connected to" is shown)
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if line.startswith(" ") and "(" in line and "Layer (type)" not in line]
    assert rows == [["img", "(InputLayer)", "[(None,", "784)]", "0", "[]"],
                    ["relu", "(Activation)", "multiple", "0", "['img[0][0]',"],
                    ["small", "(Dense)", "(None,", "64)", "50240", "['relu[0][0]']"]]
    assert model.count_params() == 784 * 64 + 64
    assert "Total params: 50,240" in _lines(model)


def _lines(model):
    out = []
    model.summary(print_fn=out.append)
    return out


def _model():
    inputs = keras.Input((None,), name="tokens", dtype="int32")
    x = layers.GlobalAveragePooling1D()(layers.Embedding(20, 4, name="embed")(inputs))
    return keras.Model(inputs, layers.Dense(2, name="head")(x))


def test_config_lists_input_layers_and_round_trips():
    model = _model()
    config = model.get_config()
    assert [c["class_name"] for c in config["layers"]] == [
        "InputLayer", "Embedding", "GlobalAveragePooling1D", "Dense"]
    assert config["layers"][0]["config"]["batch_input_shape"] == [None, None]
    for rebuilt in (keras.Model.from_config(json.loads(json.dumps(config))),
                    keras.models.model_from_json(model.to_json())):
        assert _names(rebuilt) == _names(model)
        assert type(rebuilt.layers[0]) is layers.InputLayer
        assert rebuilt.input.dtype == np.int32 and rebuilt.input.name == "tokens"
        assert rebuilt.get_config() == config
        rebuilt.set_weights(model.get_weights())
        tokens = np.array([[1, 2, 3], [4, 5, 0]], np.int32)
        np.testing.assert_allclose(rebuilt(tokens), model(tokens), rtol=1e-6)


def test_a_config_written_before_input_layers_joined_still_loads():
    config = {"name": "old", "trainable": True,
              "layers": [{"module": "xlaflow.layers.core", "class_name": "Dense",
                          "registered_name": "Dense", "config": {"name": "d", "units": 2}}],
              "inputs": [{"shape": [None, 3], "dtype": "float32", "name": "x_old"}],
              "input_structure": {"ref": ["input", 0]},
              "nodes": [{"layer": 0, "inputs": {"ref": ["input", 0]},
                         "args": {"list": []}, "kwargs": {"dict": {}}}],
              "outputs": {"ref": ["node", 0, 0]}}
    model = keras.Model.from_config(config)
    assert _names(model) == ["x_old", "d"] and model(np.ones((1, 3), np.float32)).shape == (1, 2)


def test_keras_save_and_clone_keep_the_input_layer(tmp_path):
    model = _model()
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    clone = keras.models.clone_model(model)
    tokens = np.array([[3, 1, 2]], np.int32)
    for other in (loaded, clone):
        assert _names(other) == _names(model)
        assert type(other.layers[0]) is layers.InputLayer
        assert other.layers[0] is not model.layers[0]
    np.testing.assert_allclose(loaded(tokens), model(tokens), rtol=1e-6)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(tokens), model(tokens), rtol=1e-6)


def test_freezing_every_layer_in_a_loop():
    model = _model()
    for layer in model.layers:
        layer.trainable = False
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 3


def test_nested_functional_model_is_one_layer_after_the_outer_input():
    inner = _model()
    outer_in = keras.Input((None,), name="outer_tokens", dtype="int32")
    outer = keras.Model(outer_in, layers.Activation("softmax", name="soft")(inner(outer_in)))
    assert _names(outer) == ["outer_tokens", inner.name, "soft"]
    assert type(outer.layers[1].layers[0]) is layers.InputLayer
    assert [id(w) for w in outer.weights] == [id(w) for w in inner.weights]


def test_transfer_learning_slice_of_a_functional_model():
    base = _model()
    features = keras.Model(base.input, base.layers[-2].output)
    assert _names(features) == ["tokens", "embed", base.layers[2].name]
    assert features.layers[1] is base.layers[1]  # the slice shares the layers
    tokens = np.array([[1, 2], [3, 4]], np.int32)
    expected = np.mean(base.layers[1].get_weights()[0][tokens], axis=1)
    np.testing.assert_allclose(features(tokens), expected, rtol=1e-6)
    # a shared layer's input/output are its first call's (Keras 2)
    x = keras.Input((3,))
    dense = layers.Dense(3)
    first = dense(x)
    dense(first)
    assert dense.input is x and dense.output is first
    with pytest.raises(AttributeError, match="has no inbound nodes"):
        _ = layers.Dense(2).output


def test_sequential_leaves_its_input_layer_out_but_slices_like_keras2():
    inputs = keras.Input((4,), name="pixels")
    seq = keras.Sequential([inputs, layers.Dense(3, name="s1"), layers.Dense(2, name="s2")])
    assert _names(seq) == ["s1", "s2"] and seq.get_layer(index=0).name == "s1"
    # the Input's own InputLayer, as Keras 2 (its config lists it, named as the Input)
    assert seq.get_config()["layers"][0]["config"]["name"] == "pixels"
    assert seq.input is inputs and seq.inputs == [inputs]
    head_off = keras.Model(seq.input, seq.layers[-2].output)
    assert _names(head_off) == ["pixels", "s1"]
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    kernel, bias = seq.layers[0].get_weights()
    np.testing.assert_allclose(head_off(x), x @ kernel + bias, rtol=1e-5)
    declared = keras.Sequential([layers.Dense(3, input_shape=(4,), name="first")])
    assert declared.input.name == "first_input" and declared.input.shape == (None, 4)
    with pytest.raises(AttributeError, match="is not connected"):
        _ = keras.Sequential([layers.Dense(3)]).input
    with pytest.raises(TypeError, match="output of layer 's1'"):
        keras.Sequential([seq.layers[0].output])


def test_subclassed_model_inputs_are_none_and_assignable():
    class Sub(keras.Model):
        def call(self, x):
            return x

    model = Sub()
    assert model.inputs is None and model.outputs is None
    model.inputs = ["anything"]
    assert model.inputs == ["anything"]


def test_input_layer_shapes_are_a_list_of_its_batch_shape():
    # Keras 2: an InputLayer's node wraps its tensor in a list, so its input_shape and
    # output_shape read [(None, 3)] (the summary's row); `layers[0].input_shape[0]` idiom
    a = keras.Input((3,), name="a")
    model = keras.Model(a, layers.Dense(2)(a))
    first = model.layers[0]
    assert first.input_shape == [(None, 3)]
    assert first.output_shape == [(None, 3)]
    assert hasattr(first, "output_shape")
    standalone = layers.InputLayer(input_shape=(5,), batch_size=4)
    assert standalone.input_shape == standalone.output_shape == [(4, 5)]


def test_input_batch_shape_keyword_fixes_the_batch_dimension():
    # Keras 2: Input(batch_shape=(1, 10, 5)) is Input((10, 5), batch_size=1)
    x = keras.Input(batch_shape=(1, 10, 5), name="fixed")
    assert tuple(x.shape) == (1, 10, 5)
    model = keras.Model(x, layers.Dense(2)(x))
    assert model.layers[0].name == "fixed" and model.input_names == ["fixed"]
    assert tuple(model.input_shape) == (1, 10, 5)


@pytest.mark.parametrize("kwargs", [{}, {"shape": (3,), "batch_shape": (None, 3)},
                                    {"batch_shape": (2, 3), "batch_size": 2},
                                    {"batch_shape": ()}])
def test_input_shape_arguments_are_checked(kwargs):
    with pytest.raises(ValueError, match="shape"):
        keras.Input(**kwargs)


def test_input_names_in_input_order_and_from_config_custom_objects():
    class Doubling(layers.Layer):
        def call(self, inputs):
            return inputs * 2.0

    b = keras.Input((2,), name="b")
    a = keras.Input((2,), name="a")
    model = keras.Model([b, a], Doubling()(layers.add([a, b])))
    assert model.input_names == ["b", "a"]
    config = model.get_config()
    rebuilt = keras.Model.from_config(config, custom_objects={"Doubling": Doubling})
    assert isinstance(rebuilt.layers[-1], Doubling)
    ones = np.ones((1, 2), "float32")
    np.testing.assert_allclose(np.asarray(rebuilt([ones, 2 * ones])), 6 * ones)
    seq = keras.Sequential([keras.Input((2,)), Doubling()])
    again = keras.Sequential.from_config(seq.get_config(), custom_objects={"Doubling": Doubling})
    assert isinstance(again.layers[-1], Doubling)


def test_a_sequential_with_an_open_sequence_length_prints_none_there(capsys):
    # Keras 2 prints (None, None, 4) for an LSTM over input_shape=(None, 3); tracing the
    # rows with a None size raised a TypeError
    from xlaflow import keras
    model = keras.Sequential([keras.layers.LSTM(4, input_shape=(None, 3),
                                                return_sequences=True),
                              keras.layers.Dense(2)])
    model.summary()
    ids = keras.Sequential([keras.layers.Embedding(100, 8, input_length=5),
                            keras.layers.LSTM(3)])
    ids.summary()
    text = capsys.readouterr().out
    assert re.search(r"lstm(_\d+)? \(LSTM\)\s+\(None, None, 4\)\s+128", text), text
    assert re.search(r"dense(_\d+)? \(Dense\)\s+\(None, None, 2\)\s+10", text), text
    assert re.search(r"embedding(_\d+)? \(Embedding\)\s+\(None, 5, 8\)\s+800", text), text


def test_sparse_inputs_are_refused_with_the_dense_form_to_write():
    # Keras 2's keyword: a plain TypeError (unexpected keyword) said nothing useful
    # (ragged inputs are supported: tests/keras/test_ragged_inputs.py)
    with pytest.raises(NotImplementedError, match=r"Input\(sparse=True\).*xf.sparse.to_dense"):
        keras.Input(shape=(4,), sparse=True)
    assert keras.Input(shape=(4,), sparse=False, ragged=None).shape == (None, 4)
