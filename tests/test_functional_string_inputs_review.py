"""Review of string Inputs in functional and Sequential models, as TF 2 ports use them: a
Sequential text classifier with TextVectorization after its string Input, dict Inputs
fed extra columns, vocabularies changed after the model was built, and text constants;
checked against a hand-computed oracle (a Python vocabulary, then NumPy) or TF's
documented behaviour."""

import numpy as np
import pytest

import xlaflow as xf

keras = xf.keras
layers = keras.layers

TEXTS = np.array(["the cat sat", "a dog", "the dog sat on the mat", "cat"])
VOCAB = ["the", "cat", "sat", "dog"]  # ids 2.. (0 pads, 1 is OOV)
INDEX = {token: i + 2 for i, token in enumerate(VOCAB)}


def _hand_ids(texts, length):
    rows = [[INDEX.get(t, 1) for t in s.lower().split()][:length] for s in texts]
    return np.array([row + [0] * (length - len(row)) for row in rows])


def _text_sequential(length):
    xf.random.set_seed(0)
    model = keras.Sequential([
        keras.Input(shape=(1,), dtype="string"),
        layers.TextVectorization(vocabulary=VOCAB, output_sequence_length=length),
        layers.Embedding(len(VOCAB) + 2, 3),
        layers.GlobalAveragePooling1D(),
        layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def _text_oracle(model, texts, length):
    table, kernel, bias = model.get_weights()
    return table[_hand_ids(texts, length)].mean(1) @ kernel + bias


def test_sequential_string_input_then_text_vectorization(tmp_path):
    # Keras 2's text classification: Sequential([Input(dtype="string"), vectorize, ...]),
    # where the vectorizer changes the shape (None, 1) -> (None, length)
    model = _text_sequential(5)
    assert model.input_shape == (None, 1)  # the raw strings', as Keras 2 reports it
    assert model.output_shape == (None, 1)
    np.testing.assert_allclose(model.predict(TEXTS, verbose=0), _text_oracle(model, TEXTS, 5),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(TEXTS[:, None], verbose=0),
                               _text_oracle(model, TEXTS, 5), rtol=1e-5, atol=1e-6)
    model.fit(TEXTS, np.ones(4, "float32"), batch_size=3, epochs=1, verbose=0)
    model.save(str(tmp_path / "text.keras"))
    loaded = keras.models.load_model(str(tmp_path / "text.keras"))
    np.testing.assert_allclose(loaded.predict(TEXTS, verbose=0),
                               _text_oracle(model, TEXTS, 5), rtol=1e-5, atol=1e-6)


def test_sequential_string_input_checks_the_raw_strings():
    model = _text_sequential(4)
    with pytest.raises(TypeError, match=r"input 'input_layer.*' must be strings.*int64"):
        model.predict(np.arange(4), verbose=0)
    with pytest.raises(ValueError, match=r"has shape \(4, 2\), but the Input's shape is "
                                         r"\(None, 1\)"):
        model.predict(np.stack([TEXTS, TEXTS], 1), verbose=0)


def test_dict_inputs_ignore_extra_columns_with_a_warning():
    # Keras 2 (Functional._flatten_to_reference_inputs): "Input dict contained keys [...]
    # which did not match any model input. They will be ignored by the model."
    color = keras.Input(shape=(1,), name="color", dtype="string")
    amount = keras.Input(shape=(1,), name="amount")
    ids = layers.StringLookup(vocabulary=["red", "blue"])(color)
    features = layers.concatenate([layers.CategoryEncoding(num_tokens=3)(ids), amount])
    model = keras.Model({"color": color, "amount": amount}, layers.Dense(1)(features))
    x = {"color": np.array([["red"], ["blue"], ["x"]]), "amount": np.ones((3, 1), "float32")}
    kernel, bias = model.get_weights()
    want = np.concatenate([np.eye(3)[[1, 2, 0]], x["amount"]], 1) @ kernel + bias
    with pytest.warns(UserWarning, match=r"keys \['target'\] that name none"):
        got = model.predict({**x, "target": np.zeros(3)}, verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    a, b = keras.Input(shape=(1,), name="a"), keras.Input(shape=(1,), name="b")
    numeric = keras.Model({"a": a, "b": b}, layers.add([a, b]))
    with pytest.warns(UserWarning, match=r"keys \['c'\] that name none"):
        got = numeric.predict({"a": np.ones((2, 1)), "b": np.ones((2, 1)),
                               "c": np.ones((2, 1))}, verbose=0)
    np.testing.assert_allclose(got, np.full((2, 1), 2.0))


def test_vocabulary_changed_after_build_names_the_layer():
    text = keras.Input(shape=(1,), dtype="string", name="words")
    lookup = layers.StringLookup(vocabulary=["a", "b"], output_mode="multi_hot",
                                 name="words_lookup")
    model = keras.Model(text, layers.Dense(1)(lookup(text)))
    model.compile(optimizer="sgd", loss="mse")
    before = [np.array(w) for w in model.get_weights()]
    lookup.set_vocabulary(["a", "b", "c"])  # one more token: one more multi_hot column
    with pytest.raises(ValueError, match=r"words_lookup \(StringLookup\) gives shape "
                                         r"\(2, 4\).*built for \(None, 3\).*vocabulary"):
        model.fit(np.array([["a"], ["c"]]), np.ones(2), verbose=0)
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)
    assert int(model.optimizer.iterations.numpy()) == 0
    vectorize = layers.TextVectorization(vocabulary=["a"], output_mode="count")
    sequential = keras.Sequential([keras.Input(shape=(1,), dtype="string"), vectorize,
                                   layers.Dense(1)])
    vectorize.set_vocabulary(["a", "b", "c"])
    with pytest.raises(ValueError, match=r"text_vectorization.* \(TextVectorization\) gives "
                                         r"shape \(1, 4\).*built for \(None, 2\)"):
        sequential.predict(np.array([["a b"]]), verbose=0)


def test_text_constants_as_tf_makes_them():
    empty = xf.constant([], dtype=xf.string)  # tf.constant([], tf.string): shape (0,)
    assert empty.shape == (0,) and empty.numpy().tolist() == []
    assert xf.convert_to_tensor([], dtype="string").shape == (0,)
    assert xf.convert_to_tensor(np.array([], dtype=str)).numpy().tolist() == []
    with pytest.raises(ValueError, match=r"xf.constant: argument 'shape' is \(2, 2\).*has 3 "
                                         r"values"):
        xf.constant(["a", "b", "c"], shape=(2, 2))
    with pytest.raises(ValueError, match=r"xf.convert_to_tensor: bytes that are not UTF-8"):
        xf.convert_to_tensor([b"\xff\xfe"])
    with pytest.raises(TypeError, match=r"xf.constant: requested dtype string for int"):
        xf.constant([1, 2], dtype=xf.string)  # TF: "Cannot convert [1, 2] to ... string"
