"""Keras 2 layer configs as TF 2.12 writes them that did not load: StringLookup and
IntegerLookup carry `vocabulary_size` (and older writers `has_input_vocabulary`), which only
record what the vocabulary says and which Keras 2's own IndexLookup drops on load.

Oracle: TF's documented lookup semantics (num_oov_indices=1: out-of-vocabulary is 0, the
vocabulary's terms 1, 2, ...)."""

import json

import numpy as np
import pytest

from tests.saving.keras2_json import functional, input_layer, layer_entry
from xlaflow import keras

LOOKUP = {"trainable": True, "invert": False, "max_tokens": None, "num_oov_indices": 1,
          "mask_token": None, "output_mode": "int", "sparse": False,
          "pad_to_max_tokens": False, "idf_weights": None}


def test_lookup_layers_with_keras_2s_vocabulary_size():
    strings = {**LOOKUP, "name": "string_lookup", "dtype": "int64", "oov_token": "[UNK]",
               "vocabulary": ["a", "b"], "vocabulary_size": 3, "encoding": "utf-8",
               "has_input_vocabulary": True}
    integers = {**LOOKUP, "name": "integer_lookup", "dtype": "int64", "oov_token": -1,
                "vocabulary": [4, 5], "vocabulary_dtype": "int64", "vocabulary_size": 3}
    entries = [layer_entry("InputLayer", input_layer("s", [2], "string"), []),
               layer_entry("InputLayer", input_layer("i", [2], "int64"), []),
               layer_entry("StringLookup", json.dumps(strings), [[["s", 0, 0, {}]]]),
               layer_entry("IntegerLookup", json.dumps(integers), [[["i", 0, 0, {}]]])]
    model = keras.models.model_from_json(functional(
        "lookups", entries, [["s", 0, 0], ["i", 0, 0]],
        [["string_lookup", 0, 0], ["integer_lookup", 0, 0]]))
    words, ids = model([np.array([["b", "z"], ["a", "a"]]), np.array([[5, 7], [4, 0]])])
    np.testing.assert_array_equal(np.asarray(words), [[2, 0], [1, 1]])
    np.testing.assert_array_equal(np.asarray(ids), [[2, 0], [1, 0]])
    assert model.get_layer("string_lookup").vocabulary_size() == 3


def test_text_vectorization_with_keras_2s_string_dtype():
    # Keras 2's TextVectorization has the one dtype "string", which its config says;
    # "data type 'string' not understood" was raised here
    config = {"name": "text_vectorization", "trainable": True, "dtype": "string",
              "batch_input_shape": [None], "max_tokens": None,
              "standardize": "lower_and_strip_punctuation", "split": "whitespace",
              "ngrams": None, "output_mode": "int", "output_sequence_length": 4,
              "pad_to_max_tokens": False, "sparse": False, "ragged": False,
              "vocabulary": ["earth", "wind", "and", "fire"], "idf_weights": None,
              "encoding": "utf-8", "vocabulary_size": 6}
    entries = [layer_entry("InputLayer", input_layer("text", [], "string"), []),
               layer_entry("TextVectorization", json.dumps(config), [[["text", 0, 0, {}]]])]
    model = keras.models.model_from_json(functional(
        "vectorize", entries, [["text", 0, 0]], [["text_vectorization", 0, 0]]))
    # TF's documented example: '' is 0, '[UNK]' 1, then the vocabulary
    out = model(np.array(["Earth, and FIRE!", "rain wind"]))
    np.testing.assert_array_equal(np.asarray(out), [[2, 4, 5, 0], [1, 3, 0, 0]])
    layer = model.get_layer("text_vectorization")
    assert layer.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]


def test_integer_lookups_has_input_vocabulary_is_kept():
    config = {**LOOKUP, "name": "ids", "dtype": "int64", "oov_token": -1,
              "vocabulary": [4, 5], "vocabulary_dtype": "int64", "has_input_vocabulary": True}
    layer = keras.layers.deserialize({"class_name": "IntegerLookup", "config": config})
    np.testing.assert_array_equal(np.asarray(layer(np.array([5, 9]))), [2, 0])
    with pytest.raises(ValueError, match="Cannot adapt"):  # a given vocabulary, as Keras 2
        layer.adapt(np.array([7, 7, 8]))
    # False: the vocabulary was adapted when saved; it loads, and adapts again (Keras 2)
    adapted = keras.layers.deserialize({"class_name": "IntegerLookup",
                                        "config": {**config, "has_input_vocabulary": False}})
    np.testing.assert_array_equal(np.asarray(adapted(np.array([5, 9]))), [2, 0])
    adapted.adapt(np.array([7, 7, 8]))
    np.testing.assert_array_equal(np.asarray(adapted(np.array([7, 8, 5]))), [1, 2, 0])


def test_an_unknown_registered_class_suggests_its_short_name():
    # Keras 2 writes a registered class as "Package>Name"; the hint named the whole
    # string as a Python name ({'Custom>Scale': Custom>Scale})
    config = {"class_name": "Custom>Scale", "config": {"name": "sc", "trainable": True,
                                                      "dtype": "float32"}}
    with pytest.raises(ValueError, match=r"names the class 'Custom>Scale'.*"
                                         r"custom_objects=\{'Scale': Scale\}"):
        keras.layers.deserialize(config)
