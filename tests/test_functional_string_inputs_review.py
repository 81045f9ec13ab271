"""Review of string Inputs in functional and Sequential models, as TF 2 ports use them: a
Sequential text classifier with TextVectorization after its string Input; checked against
a hand-computed oracle (a Python vocabulary, then NumPy) or TF's documented behaviour."""

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
