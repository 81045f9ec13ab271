"""Keras 2 model configs that `keras.models.model_from_json` refuses or resolves only with
help: unknown classes, custom_objects, Keras-2-only keys at non-default values, unknown
keys, Lambda bytecode, references to missing layers."""

import numpy as np
import pytest

from tests.saving.keras2_json import (
    MLP,
    TOWER_ENTRIES,
    dense,
    fill,
    functional,
    input_layer,
    layer_entry,
    sequential,
    summary,
)
from xlaflow import keras


def test_unknown_class_names_it_and_custom_objects():
    text = sequential("m", [("InputLayer", input_layer("i", [3])),
                            ("MyBlock", '{"name": "my_block", "units": 2}')])
    with pytest.raises(ValueError, match=r"'MyBlock'.*custom_objects=\{'MyBlock': MyBlock\}"):
        keras.models.model_from_json(text)


def test_custom_objects_resolve_a_users_layer():
    class MyBlock(keras.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight("w", (input_shape[-1], self.units))

        def call(self, x):
            return x @ self.w

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    text = sequential("m", [("InputLayer", input_layer("i", [3])),
                            ("MyBlock", '{"name": "my_block", "trainable": true, '
                                        '"dtype": "float32", "units": 2}')])
    model = keras.models.model_from_json(text, custom_objects={"MyBlock": MyBlock})
    assert summary(model) == [("my_block", "MyBlock", (None, 2), 6)]


def test_keras2_only_key_at_a_non_default_value_is_refused_by_name():
    text = MLP.replace('"sparse": false', '"sparse": true')
    with pytest.raises(NotImplementedError, match=r"InputLayer.*'dense_input'.*sparse=True"):
        keras.models.model_from_json(text)


def test_a_key_no_layer_takes_is_named():
    text = MLP.replace('"units": 2,', '"units": 2, "kernel_layout": "x",')
    with pytest.raises(TypeError, match=r"Dense layer 'dense_1'.*kernel_layout"):
        keras.models.model_from_json(text)


def test_lambda_bytecode_is_refused():
    fn = '["4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMIAAAAfABkAVMAKQJO", null, null]'
    text = sequential("m", [
        ("InputLayer", input_layer("i", [3])),
        ("Lambda", fill('{"name": "lambda", "trainable": true, "dtype": "float32", '
                        '"function": @, "function_type": "lambda", "module": "__main__", '
                        '"output_shape": null, "output_shape_type": "raw", '
                        '"output_shape_module": null, "arguments": {}}', fn))])
    with pytest.raises(NotImplementedError, match="Lambda layer 'lambda'.*bytecode"):
        keras.models.model_from_json(text)


def test_a_reference_to_a_missing_layer_is_named():
    entries = TOWER_ENTRIES[:5] + [layer_entry("Dense", dense("out2", 1, "sigmoid"),
                                               [[["nope", 0, 0, {}]]])]
    with pytest.raises(ValueError, match="layer 'nope'"):
        keras.models.model_from_json(functional("towers", entries, [["a", 0, 0], ["b", 0, 0]],
                                                [["out1", 0, 0], ["out2", 0, 0]]))


def test_lambda_saved_by_function_name_loads_through_custom_objects():
    def double(x):
        return x * 2

    text = sequential("m", [
        ("InputLayer", input_layer("i", [3])),
        ("Lambda", '{"name": "lambda", "trainable": true, "dtype": "float32", "function": '
                   '"double", "function_type": "function", "module": "__main__", '
                   '"output_shape": null, "output_shape_type": "raw", '
                   '"output_shape_module": null, "arguments": {}}')])
    model = keras.models.model_from_json(text, custom_objects={"double": double})
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_allclose(np.asarray(model(x)), 2 * x)
