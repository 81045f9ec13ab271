"""A Sequential whose leading layers run on the host (TextVectorization, StringLookup):
train/test/predict_on_batch, summary(), a direct call then save, and save/load_model treat
it as fit/predict do: the host layers run on the strings, the compiled part on their ids."""

import re

import numpy as np

import xlaflow as xf

keras = xf.keras
layers = keras.layers

TEXTS = np.array(["the cat sat", "the dog ran", "a cat ran", "日本 語 the"])
LABELS = np.array([0.0, 1.0, 0.0, 1.0], "float32")


def _export_model():
    xf.random.set_seed(0)
    vectorize = layers.TextVectorization(max_tokens=20, output_sequence_length=5)
    vectorize.adapt(TEXTS)
    model = keras.Sequential([vectorize, layers.Embedding(20, 4),
                              layers.GlobalAveragePooling1D(), layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def test_on_batch_methods_run_the_host_layers_first():
    model = _export_model()
    predicted = model.predict(TEXTS, verbose=0)
    np.testing.assert_allclose(model.predict_on_batch(TEXTS), predicted, rtol=1e-6)
    mse = float(np.mean((predicted[:, 0] - LABELS) ** 2))
    assert np.isclose(model.test_on_batch(TEXTS, LABELS), mse, rtol=1e-5)
    # train_on_batch reports the loss before its update, then the predictions move
    assert np.isclose(model.train_on_batch(TEXTS, LABELS), mse, rtol=1e-5)
    assert not np.allclose(model.predict_on_batch(TEXTS), predicted)


def test_summary_shows_the_host_layers_output_shapes(capsys):
    model = _export_model()
    model.predict(TEXTS, verbose=0)
    model.summary()
    text = capsys.readouterr().out
    # Keras 2's rows: (None, 5) ids, (None, 5, 4) embeddings, (None, 4), (None, 1)
    for name, shape in [("text_vectorization", "(None, 5)"), ("embedding", "(None, 5, 4)"),
                        ("global_average_pooling1d", "(None, 4)"), ("dense", "(None, 1)")]:
        row = next(line for line in text.splitlines()  # (dense_3: names count per session)
                   if re.match(rf" {name}(_\d+)? ", line))
        assert shape in row, (name, row)


def test_a_called_model_saves_and_load_model_runs_it_on_strings(tmp_path):
    model = _export_model()
    model(TEXTS)  # a direct call on strings: the saved signature is the compiled part's
    model.fit(TEXTS, LABELS, epochs=1, batch_size=4, verbose=0)
    want = model.predict(TEXTS, verbose=0)
    model.save(tmp_path / "m")
    loaded = keras.models.load_model(tmp_path / "m")
    assert loaded.layers[0].get_vocabulary() == model.layers[0].get_vocabulary()
    np.testing.assert_allclose(loaded.predict(TEXTS, verbose=0), want, rtol=1e-6)
    # the serving export takes the vectorizer's ids
    ids = np.asarray(model.layers[0](TEXTS))
    signature = xf.saved_model.load(tmp_path / "m").signatures["serving_default"]
    (served,) = signature(ids).values()
    np.testing.assert_allclose(np.asarray(served), want, rtol=1e-5)
