"""Review of string Inputs in functional and Sequential models, as TF 2 ports use them: a
Sequential text classifier with TextVectorization after its string Input, the "Load CSV
data" tutorial's preprocessing model nested in the full model, dict Inputs fed extra
columns, vocabularies changed after the model was built, and text constants; each checked
against a hand-computed oracle (a Python vocabulary, then NumPy) or TF's documented
behaviour."""

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
    with pytest.raises(TypeError, match=r"input 'input_\d+' must be strings.*int64"):
        model.predict(np.arange(4), verbose=0)
    with pytest.raises(ValueError, match=r"has shape \(4, 2\), but the Input's shape is "
                                         r"\(None, 1\)"):
        model.predict(np.stack([TEXTS, TEXTS], 1), verbose=0)


def _titanic():
    rng = np.random.default_rng(0)
    n = 24
    features = {"sex": rng.choice(["male", "female"], n).astype(object),
                "age": rng.uniform(1, 80, n), "fare": rng.uniform(5, 100, n)}
    labels = (features["sex"] == "female").astype("float32")
    return features, labels


def test_load_csv_tutorial_nests_the_preprocessing_model(tmp_path):
    # TF's "Load CSV data": a preprocessing Model of string and float Inputs, called on
    # the same Inputs inside the full model, trained on a dict of columns, saved, reloaded
    features, labels = _titanic()
    inputs = {name: keras.Input(shape=(1,), name=name,
                                dtype=xf.string if col.dtype == object else xf.float32)
              for name, col in features.items()}
    numeric = layers.Concatenate()([inputs["age"], inputs["fare"]])
    lookup = layers.StringLookup(vocabulary=np.unique(features["sex"]))
    one_hot = layers.CategoryEncoding(num_tokens=lookup.vocabulary_size())
    preprocessed = layers.Concatenate()([numeric, one_hot(lookup(inputs["sex"]))])
    preprocessing = keras.Model(inputs, preprocessed)
    body = keras.Sequential([layers.Dense(4), layers.Dense(1)])
    model = keras.Model(inputs, body(preprocessing(inputs)))
    model.compile(loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  optimizer=keras.optimizers.SGD(0.01))

    def oracle(weights, x):
        sex = np.array([{"female": 1, "male": 2}.get(s, 0) for s in x["sex"]])
        feats = np.concatenate([np.stack([x["age"], x["fare"]], 1), np.eye(3)[sex]], 1)
        w1, b1, w2, b2 = weights
        return (feats @ w1 + b1) @ w2 + b2

    x = {name: np.array(value) for name, value in features.items()}
    np.testing.assert_allclose(model.predict(x, verbose=0), oracle(model.get_weights(), x),
                               rtol=1e-4, atol=1e-4)
    model.fit(x, labels, epochs=1, verbose=0)
    model.save(str(tmp_path / "titanic.keras"))
    reloaded = keras.models.load_model(str(tmp_path / "titanic.keras"))
    one = {name: values[:1] for name, values in x.items()}
    np.testing.assert_allclose(np.asarray(reloaded(one)), np.asarray(model(one)), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(model(one)), oracle(model.get_weights(), one),
                               rtol=1e-4, atol=1e-4)


def test_a_sequential_with_host_layers_called_on_a_string_input():
    # its layers join the calling graph: the host ones run before the compiled part
    inner = _text_sequential(4)
    text = keras.Input(shape=(1,), dtype="string", name="text")
    model = keras.Model(text, layers.Dense(1, name="head")(inner(text)))
    assert [layer.name for layer in model.layers][:2] == ["text", inner.layers[0].name]
    kernel, bias = model.get_layer("head").get_weights()
    np.testing.assert_allclose(model.predict(TEXTS, verbose=0),
                               _text_oracle(inner, TEXTS, 4) @ kernel + bias,
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match=r"takes strings.*received .*float32"):
        inner(keras.Input(shape=(1,)))


def test_a_sequential_with_host_layers_leads_another_sequential():
    inner = keras.Sequential([keras.Input(shape=(1,), dtype="string"),
                              layers.StringLookup(vocabulary=["a", "b"], output_mode="one_hot")])
    outer = keras.Sequential([inner, layers.Dense(1)])
    kernel, bias = outer.get_weights()
    np.testing.assert_allclose(outer.predict(np.array([["b"], ["q"]]), verbose=0),
                               np.eye(3)[[2, 0]] @ kernel + bias, rtol=1e-6)
    with pytest.raises(NotImplementedError, match=r"can only lead a Sequential"):
        keras.Sequential([layers.Dense(2, input_shape=(3,)), inner])


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


def test_validation_data_as_a_list_of_raw_columns_and_labels():
    # Keras 2 unpacks validation_data=[x, y] as the tuple (x, y)
    model = _text_sequential(3)
    labels = np.array([1.0, 0.0, 1.0, 0.0], "float32")
    history = model.fit(TEXTS, labels, epochs=1, verbose=0, validation_data=[TEXTS, labels])
    want = np.mean((_text_oracle(model, TEXTS, 3)[:, 0] - labels) ** 2)
    assert history.history["val_loss"][0] == pytest.approx(want, rel=1e-5)


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
    # TF's strings are bytes: binary ones (not UTF-8, or ending in NUL, which NumPy's bytes
    # dtype would drop) are kept exactly, as an object array of bytes
    binary = xf.convert_to_tensor([b"\xff\xfe", b"ok\x00"])
    assert binary.shape == (2,) and binary.numpy().tolist() == [b"\xff\xfe", b"ok\x00"]
    assert xf.constant(b"\x0a\x00").numpy() == b"\x0a\x00"
    assert xf.constant(b"\xff", shape=[2]).numpy().tolist() == [b"\xff", b"\xff"]
    with pytest.raises(ValueError, match=r"xf.constant: a NumPy bytes array that is not UTF-8"):
        xf.constant(np.array([b"\xff"]))
    with pytest.raises(TypeError, match=r"xf.constant: requested dtype string for int"):
        xf.constant([1, 2], dtype=xf.string)  # TF: "Cannot convert [1, 2] to ... string"


def test_an_op_on_text_is_refused_clearly_once_symbolic_tensors_exist():
    keras.Input(shape=(2,))  # from here on the op wrappers look for symbolic arguments
    with pytest.raises(TypeError, match=r"tf.math.add: received strings.*no string tensors"):
        xf.math.add(xf.constant(["a", "b"]), [xf.constant("c")])
    # shape and indexing ops take text, on the host, as TF's do (the checking path too)
    assert xf.gather(xf.constant(["a", "b"]), [1]).numpy().tolist() == [b"b"]
    assert xf.concat([xf.constant(["a"]), ["b"]], 0).numpy().tolist() == [b"a", b"b"]
