"""Functional models with string Inputs (keras.Input(dtype="string")) feeding host layers
(StringLookup, TextVectorization): fit/evaluate/predict on raw columns from arrays and
Datasets, direct calls, save/load, config and summary, checked against the same model
computed by hand (a Python dict vocabulary, then NumPy); and the errors for bad input."""

import numpy as np
import pytest

import xlaflow as xf

keras = xf.keras
layers = keras.layers

VOCAB = ["red", "green", "blue"]  # ids 1, 2, 3; anything else is OOV (0)
IDS = {token: i + 1 for i, token in enumerate(VOCAB)}


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    colors = rng.choice(["red", "green", "blue", "mauve"], n)
    amount = rng.normal(size=(n, 1)).astype("float32")
    labels = ((colors == "red") | (amount[:, 0] > 0.5)).astype("float32")
    return {"color": colors[:, None], "amount": amount}, labels


def _model():
    xf.random.set_seed(0)
    color = keras.Input(shape=(1,), name="color", dtype="string")
    amount = keras.Input(shape=(1,), name="amount")
    lookup = layers.StringLookup(vocabulary=VOCAB, name="color_lookup")
    encoded = layers.CategoryEncoding(num_tokens=lookup.vocabulary_size())(lookup(color))
    features = layers.concatenate([encoded, amount])
    hidden = layers.Dense(6, activation="relu")(features)
    model = keras.Model([color, amount], layers.Dense(1)(hidden))
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    return model


def _id_model(string_model):
    """The compiled part by hand: ids in (mapped on the host by the Python dict), the same
    layers after the lookup, the same weights."""
    ids = keras.Input(shape=(1,), name="ids", dtype="int64")
    amount = keras.Input(shape=(1,), name="amount")
    encoded = layers.CategoryEncoding(num_tokens=len(VOCAB) + 1)(ids)
    hidden = layers.Dense(6, activation="relu")(layers.concatenate([encoded, amount]))
    model = keras.Model([ids, amount], layers.Dense(1)(hidden))
    model.set_weights(string_model.get_weights())
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    return model


def _ids(colors):
    return np.vectorize(lambda c: IDS.get(c, 0), otypes=["int64"])(colors)


def _numpy_forward(model, x):
    """The model's output from its weights with NumPy (the oracle): one-hot ids, Dense."""
    one_hot = np.eye(len(VOCAB) + 1, dtype="float32")[_ids(x["color"][:, 0])]
    w1, b1, w2, b2 = model.get_weights()
    hidden = np.maximum(np.concatenate([one_hot, x["amount"]], 1) @ w1 + b1, 0)
    return hidden @ w2 + b2


def test_predict_on_raw_strings_equals_the_model_computed_by_hand():
    x, _ = _data()
    model = _model()
    want = _numpy_forward(model, x)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(x), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(model(x)), want, rtol=1e-5, atol=1e-6)
    # a list in the Inputs' order, and one sample as TF's tutorial feeds it
    np.testing.assert_allclose(model.predict([x["color"], x["amount"]], verbose=0), want,
                               rtol=1e-5, atol=1e-6)
    sample = {"color": xf.convert_to_tensor(["mauve"]), "amount": xf.convert_to_tensor([2.0])}
    one = {"color": np.array([["mauve"]]), "amount": np.array([[2.0]], "float32")}
    np.testing.assert_allclose(model.predict(sample, verbose=0), _numpy_forward(model, one),
                               rtol=1e-5, atol=1e-6)


def test_fit_on_strings_equals_fit_on_premapped_ids():
    x, y = _data()
    model = _model()
    by_hand = _id_model(model)
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
                        validation_data=(x, y))
    id_x = {"ids": _ids(x["color"]), "amount": x["amount"]}
    id_history = by_hand.fit(id_x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
                             validation_data=(id_x, y))
    for got, want in zip(model.get_weights(), by_hand.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(history.history["loss"], id_history.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(history.history["val_loss"], id_history.history["val_loss"],
                               rtol=1e-6)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(
        by_hand.evaluate(id_x, y, verbose=0), rel=1e-6)


def test_fit_and_evaluate_on_a_dataset_of_dict_columns():
    x, y = _data()
    model = _model()
    by_hand = _id_model(model)
    ds = xf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    id_ds = xf.data.Dataset.from_tensor_slices(
        ({"ids": _ids(x["color"]), "amount": x["amount"]}, y)).batch(16)
    model.fit(ds, epochs=2, verbose=0, validation_data=ds)
    by_hand.fit(id_ds, epochs=2, verbose=0, validation_data=id_ds)
    for got, want in zip(model.get_weights(), by_hand.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert model.evaluate(ds, verbose=0) == pytest.approx(by_hand.evaluate(id_ds, verbose=0),
                                                          rel=1e-6)
    np.testing.assert_allclose(model.predict(ds.map(lambda f, label: f), verbose=0),
                               _numpy_forward(model, x), rtol=1e-5, atol=1e-6)


def test_on_batch_methods_match_the_oracle():
    x, y = _data()
    model = _model()
    logits = _numpy_forward(model, x)[:, 0]
    want = np.mean(np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits))))
    assert model.test_on_batch(x, y) == pytest.approx(want, rel=1e-5)
    assert model.train_on_batch(x, y) == pytest.approx(want, rel=1e-5)  # before its update
    np.testing.assert_allclose(model.predict_on_batch(x), _numpy_forward(model, x),
                               rtol=1e-5, atol=1e-6)  # after it: the new weights


def test_save_and_load_model_round_trip_the_vocabulary(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    model.save(str(tmp_path / "colors.keras"))
    loaded = keras.models.load_model(str(tmp_path / "colors.keras"))
    lookup = next(la for la in loaded.layers if isinstance(la, layers.StringLookup))
    assert lookup.get_vocabulary() == ["[UNK]", *VOCAB]
    assert loaded.input_names == ["color", "amount"]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), _numpy_forward(model, x),
                               rtol=1e-5, atol=1e-6)
    # the serving export (the directory form; a .keras file is TF 2.12's zip) is the
    # compiled part's: it takes the lookup's ids by name
    model.save(str(tmp_path / "colors"))
    signature = xf.saved_model.load(str(tmp_path / "colors")).signatures[
        "serving_default"]
    (served,) = signature(amount=x["amount"], color_lookup=_ids(x["color"]).astype(
        "int32")).values()
    np.testing.assert_allclose(np.asarray(served), _numpy_forward(model, x), rtol=1e-5,
                               atol=1e-6)


def test_config_round_trip_summary_and_clone(capsys):
    x, _ = _data()
    model = _model()
    config = model.get_config()
    input_configs = [c["config"] for c in config["layers"] if c["class_name"] == "InputLayer"]
    assert sorted(c["dtype"] for c in input_configs) == ["float32", "string"]
    rebuilt = keras.Model.from_config(config)
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), _numpy_forward(model, x),
                               rtol=1e-5, atol=1e-6)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x, verbose=0), _numpy_forward(model, x),
                               rtol=1e-5, atol=1e-6)
    model.summary()
    rows = capsys.readouterr().out.splitlines()
    assert any(r.startswith(" color (InputLayer)") and "[(None, 1)]" in r for r in rows)
    assert any(r.startswith(" color_lookup (StringLookup)") and "(None, 1)" in r for r in rows)


def test_text_vectorization_in_a_functional_model_equals_the_hand_pipeline():
    vocab = ["the", "cat", "sat", "dog"]
    text = keras.Input(shape=(1,), dtype=xf.string, name="text")
    vectorize = layers.TextVectorization(vocabulary=vocab, output_sequence_length=4)
    ids = vectorize(text)
    assert ids.shape == (None, 4) and ids.dtype == np.int64
    embedded = layers.GlobalAveragePooling1D()(layers.Embedding(len(vocab) + 2, 3)(ids))
    model = keras.Model(text, layers.Dense(1)(embedded))
    texts = np.array([["The cat sat"], ["a dog"], ["cat cat cat cat cat"]])
    index = {token: i + 2 for i, token in enumerate(vocab)}  # 0 pad, 1 OOV
    rows = [[index.get(t, 1) for t in s.lower().split()][:4] for s in texts[:, 0]]
    hand = np.array([row + [0] * (4 - len(row)) for row in rows])
    table, kernel, bias = model.get_weights()
    np.testing.assert_allclose(model.predict(texts, verbose=0),
                               table[hand].mean(1) @ kernel + bias, rtol=1e-5, atol=1e-6)


def test_lookup_encodings_give_symbolic_shapes_and_dtypes():
    text = keras.Input(shape=(1,), dtype="string")
    for mode, shape, dtype in (("int", (None, 1), "int64"), ("one_hot", (None, 4), "float32"),
                               ("multi_hot", (None, 4), "float32"),
                               ("count", (None, 4), "float32")):
        out = layers.StringLookup(vocabulary=VOCAB, output_mode=mode)(text)
        assert (out.shape, out.dtype.name) == (shape, dtype), mode


def test_bad_inputs_are_refused_before_any_state_changes():
    x, y = _data()
    model = _model()
    before = [np.array(w) for w in model.get_weights()]
    with pytest.raises(TypeError, match=r"input 'color' must be strings.*float32"):
        model.fit({"color": x["amount"], "amount": x["amount"]}, y, verbose=0)
    with pytest.raises(TypeError, match=r"input 'amount' is a float32 Input; received "
                                        r"strings"):
        model.fit({"color": x["color"], "amount": x["color"]}, y, verbose=0)
    with pytest.raises(ValueError, match=r"inputs are named \['color', 'amount'\].*no "
                                         r"\['amount'\]"):
        model.fit({"color": x["color"]}, y, verbose=0)
    with pytest.raises(ValueError, match=r"input 'color' has shape \(48, 2\).*\(None, 1\)"):
        model.predict({"color": np.repeat(x["color"], 2, 1), "amount": x["amount"]})
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)
    assert int(model.optimizer.iterations.numpy()) == 0


def test_strings_reach_only_host_layers():
    text = keras.Input(shape=(1,), dtype="string", name="words")
    with pytest.raises(TypeError, match=r"dense \(Dense\) received .*dtype=string name=words"
                                        r".*only host layers \(keras.layers.StringLookup"):
        layers.Dense(2, name="dense")(text)
    with pytest.raises(TypeError, match=r"tf.concat(_\d+)? .*strings; only host layers"):
        xf.concat([text, text], axis=1)
    numbers = keras.Input(shape=(1,))
    with pytest.raises(TypeError, match=r"takes strings.*received .*float32"):
        layers.StringLookup(vocabulary=VOCAB)(numbers)
    with pytest.raises(TypeError, match=r"must read a keras.Input.*output of 'dense_in'"):
        layers.StringLookup(vocabulary=VOCAB, invert=True)(
            layers.Dense(1, name="dense_in")(numbers))
    ids = keras.Input(shape=(1,), dtype="int64")
    words = layers.StringLookup(vocabulary=VOCAB, invert=True)(ids)
    with pytest.raises(NotImplementedError, match=r"outputs must be numbers.*invert=True"):
        keras.Model(ids, words)


def test_text_tensors_are_host_values_refused_where_xla_would_hold_them():
    text = xf.convert_to_tensor(["Cat", b"Dog"])
    assert text.numpy().tolist() == [b"Cat", b"Dog"]  # TF's .numpy() of strings: bytes
    assert xf.constant(b"x").numpy() == b"x"
    assert xf.constant("ab", shape=(2,)).numpy().tolist() == [b"ab", b"ab"]
    assert xf.as_dtype(xf.string).kind == "U" and xf.convert_to_tensor(["a"], dtype="string")
    with pytest.raises(TypeError, match=r"requested dtype .*float32.* for text"):
        xf.convert_to_tensor(["Cat"], dtype=xf.float32)
    with pytest.raises(TypeError, match=r"text mixed with int"):
        xf.constant(np.array(["a", 1], dtype=object))
    with pytest.raises(TypeError, match=r"xf.constant: received text.*no string tensors"):
        xf.function(lambda: xf.constant("a"))()
    with pytest.raises(TypeError, match=r"tf.math.add: received strings"):
        xf.math.add(text, text)


def test_end_to_end_model_wraps_a_trained_id_model(tmp_path):
    # Keras 2's preprocessing guide: train on ids, then export raw strings -> predictions
    x, y = _data()
    string_model = _model()
    id_model = _id_model(string_model)
    id_model.fit({"ids": _ids(x["color"]), "amount": x["amount"]}, y, epochs=1, verbose=0)
    color = keras.Input(shape=(1,), dtype="string", name="color")
    amount = keras.Input(shape=(1,), name="amount")
    ids = layers.StringLookup(vocabulary=VOCAB)(color)
    end_to_end = keras.Model([color, amount], id_model([ids, amount]))
    want = id_model.predict({"ids": _ids(x["color"]), "amount": x["amount"]}, verbose=0)
    np.testing.assert_allclose(end_to_end.predict(x, verbose=0), want, rtol=1e-6)
    end_to_end.save(str(tmp_path / "e2e.keras"))
    loaded = keras.models.load_model(str(tmp_path / "e2e.keras"))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), want, rtol=1e-6)


def test_sequential_with_a_string_input_runs_its_host_layers_first(capsys):
    model = keras.Sequential([keras.Input(shape=(1,), dtype="string"),
                              layers.StringLookup(vocabulary=VOCAB),
                              layers.CategoryEncoding(num_tokens=len(VOCAB) + 1),
                              layers.Dense(1)])
    colors = np.array([["blue"], ["red"], ["mauve"]])
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(model.predict(colors, verbose=0),
                               np.eye(len(VOCAB) + 1)[_ids(colors[:, 0])] @ kernel + bias,
                               rtol=1e-5, atol=1e-6)
    model.summary()
    rows = capsys.readouterr().out.splitlines()
    assert not any("InputLayer" in row for row in rows)
    assert any(row.startswith(" dense") and "(None, 1)" in row for row in rows)
