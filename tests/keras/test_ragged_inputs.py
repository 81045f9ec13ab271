"""Keras models on ragged inputs (Input(ragged=True)), as TF's "Ragged tensors" guide
trains them: fit/evaluate/predict/__call__ on RaggedTensors, checked against the same
layers applied to each row alone, unpadded and unmasked (the oracle)."""

import json
import re

import jax
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.training.ragged_batches import RaggedRows, bucket

keras = xf.keras
layers = keras.layers

ROWS = [[3, 1, 4, 1, 5], [9, 2], [6, 5, 3], [5], [8, 9, 7, 9, 3, 2, 3], [8, 4, 6],
        [2, 6, 4, 3], [3, 8]]
LABELS = np.array([1, 0, 1, 0, 1, 0, 1, 0], np.float32)


def _rows_alone(model_layers, rows):
    """The layers on each row alone: a (1, length) batch, no padding and no mask. Jitted,
    with the weights as they are now: one program per row length, where eager calls would
    compile each layer's ops again for each of the rows' lengths."""
    def apply(x):
        for layer in model_layers:
            x = layer(x)
        return x
    run = jax.jit(apply)
    return [np.asarray(run(np.asarray([row], np.int32)))[0] for row in rows]


def _guide_model(loss="binary_crossentropy"):
    xf.keras.utils.set_random_seed(1)
    model = keras.Sequential([
        layers.Input(shape=[None], dtype="int64", ragged=True),
        layers.Embedding(10, 16),
        layers.LSTM(32, use_bias=False),
        layers.Dense(32),
        layers.Activation(xf.nn.relu),
        layers.Dense(1)])
    model.compile(loss=loss, optimizer="rmsprop")
    return model


@pytest.fixture(scope="module")
def guide():
    # the guide's compile; from_logits as its last Dense gives logits (without it, the
    # clipped probabilities of negative logits have no gradient and may never move).
    # One model for the tests below: its compiled steps are reused (few compiles).
    return _guide_model(keras.losses.BinaryCrossentropy(from_logits=True))


def test_the_guides_model_trains_and_predicts_what_each_row_gives_alone(guide):
    rt = xf.ragged.constant(ROWS)
    model = guide
    history = model.fit(rt, LABELS, epochs=5, batch_size=8, verbose=0)  # shuffled
    losses = history.history["loss"]
    assert losses[-1] < losses[0], losses
    want = np.stack(_rows_alone(model.layers, ROWS))
    np.testing.assert_allclose(model.predict(rt, verbose=0), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(model(rt)), want, rtol=1e-5, atol=1e-6)
    logits = want[:, 0]
    bce = np.mean(np.maximum(logits, 0) - logits * LABELS + np.log1p(np.exp(-abs(logits))))
    assert model.evaluate(rt, LABELS, verbose=0) == pytest.approx(bce, rel=1e-5)


def test_a_row_gives_the_same_result_whatever_the_other_rows_lengths():
    # Embedding(mask_zero=False) passes the rows' mask on (Keras: Embedding on a ragged
    # input is ragged); the bidirectional GRU and the pooling see only each row's steps
    xf.keras.utils.set_random_seed(2)
    ids = keras.Input(shape=[None], dtype="int32", ragged=True)
    emb = layers.Embedding(10, 4)(ids)
    seq = layers.Bidirectional(layers.GRU(3, return_sequences=True))(emb)
    pooled = layers.GlobalAveragePooling1D()(seq)
    last = layers.SimpleRNN(2)(layers.Dense(5)(emb))
    model = keras.Model(ids, [pooled, last])
    rows = [ROWS[4], ROWS[3], ROWS[1], ROWS[0]]  # one batch, padded to 8 steps
    got = model.predict(xf.ragged.constant(rows), verbose=0)
    alone = jax.jit(keras.Model(ids, [pooled, last]))  # the same layers, row by row
    for i, row in enumerate(rows):
        x = np.asarray([row], np.int32)
        want = [np.asarray(o)[0] for o in alone(x)]
        np.testing.assert_allclose(got[0][i], want[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[1][i], want[1], rtol=1e-5, atol=1e-6)


def test_outputs_that_keep_the_rows_come_back_ragged():
    xf.keras.utils.set_random_seed(3)
    ids = keras.Input(shape=[None], dtype="int32", ragged=True)
    emb = layers.Embedding(10, 4)(ids)
    tokens = layers.Dense(2)(layers.LSTM(3, return_sequences=True)(emb))
    model = keras.Model(ids, tokens)
    assert tokens.shape == (None, None, 2)
    rt = xf.ragged.constant(ROWS)
    want = _rows_alone(model.layers[1:], ROWS)
    for got in (model.predict(rt, verbose=0), model(rt)):
        assert isinstance(got, xf.RaggedTensor)
        assert got.row_lengths().tolist() == [len(r) for r in ROWS]
        for row, expected in zip(got.to_list(), want):
            np.testing.assert_allclose(np.asarray(row), expected, rtol=1e-5, atol=1e-6)
    model.compile(loss="mse", optimizer="sgd")
    with pytest.raises(NotImplementedError, match="keeps the ragged rows"):
        model.fit(rt, np.zeros((8, 1)), verbose=0)


def test_buckets_bound_the_compiles():
    assert [bucket(n) for n in (0, 1, 2, 3, 4, 5, 8, 9)] == [1, 1, 2, 4, 4, 8, 8, 16]
    model = _guide_model()  # a fresh predict function: its traces counted from 0
    # batches of 2 rows whose longest rows are 3, 4, 5 and 7 long: buckets 4 and 8
    rows = [[1, 2, 3], [1], [1, 2, 3, 4], [2], [1, 2, 3, 4, 5], [3, 3], [7] * 7, [4]]
    model.predict(xf.ragged.constant(rows), batch_size=2, verbose=0)
    assert model._predict_function().tracing_count == 2
    batch = RaggedRows(np.arange(6), np.array([0, 1, 6]))[np.array([1, 0])]
    assert batch.shape == (2, 8) and batch.lengths.tolist() == [5, 1]
    assert batch.dense.tolist() == [[1, 2, 3, 4, 5, 0, 0, 0], [0] + [0] * 7]


def test_validation_split_and_validation_data_take_ragged_rows(guide):
    model = guide
    rt = xf.ragged.constant(ROWS)
    history = model.fit(rt, LABELS, epochs=1, validation_split=0.25, verbose=0)
    logits = np.stack(_rows_alone(model.layers, ROWS[6:]))[:, 0]
    y = LABELS[6:]
    bce = np.mean(np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-abs(logits))))
    assert history.history["val_loss"][0] == pytest.approx(bce, rel=1e-5)
    history = model.fit(rt[:6], LABELS[:6], epochs=1, verbose=0,
                        validation_data=(xf.ragged.constant(ROWS[6:]), y))
    logits = np.stack(_rows_alone(model.layers, ROWS[6:]))[:, 0]
    bce = np.mean(np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-abs(logits))))
    assert history.history["val_loss"][0] == pytest.approx(bce, rel=1e-5)


def test_batch_methods_and_traced_calls_take_ragged_rows(guide):
    model = guide  # all the rows: the shapes fit, predict and evaluate compiled for
    rt = xf.ragged.constant(ROWS)
    want = np.stack(_rows_alone(model.layers, ROWS))
    np.testing.assert_allclose(model.predict_on_batch(rt), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(xf.function(lambda x: model(x))(rt)), want,
                               rtol=1e-5, atol=1e-6)
    logits, y = want[:, 0], LABELS
    bce = np.mean(np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-abs(logits))))
    assert model.test_on_batch(rt, y) == pytest.approx(bce, rel=1e-5)
    model.train_on_batch(rt, y)
    assert not np.allclose(model.predict_on_batch(rt), want)  # it trained


def test_a_masking_layer_keeps_only_the_rows_steps():
    # Masking(-1) alone would count the padding (zeros) as steps: the rows' mask is kept
    xf.keras.utils.set_random_seed(4)
    vectors = keras.Input(shape=[None, 2], ragged=True)
    rnn = layers.SimpleRNN(3)
    masking = layers.Masking(-1.0)
    model = keras.Model(vectors, rnn(masking(vectors)))
    rows = [[[1.0, 2.0], [-1.0, -1.0], [0.5, 0.0]], [[2.0, 1.0]], [[0.0, 0.0]] * 2]
    got = model.predict(xf.ragged.constant(rows, ragged_rank=1), verbose=0)
    alone = jax.jit(lambda x: rnn(masking(x)))  # a program per row length, not per op
    for row, out in zip(rows, got):
        want = alone(np.asarray([row], np.float32))
        np.testing.assert_allclose(out, np.asarray(want)[0], rtol=1e-5, atol=1e-6)


def test_generator_batches_of_ragged_rows(guide):
    model = guide
    rt = xf.ragged.constant(ROWS)
    batches = ((rt[i:i + 6], LABELS[i:i + 6]) for i in (0, 2))
    model.fit(batches, epochs=1, verbose=0)
    want = np.stack(_rows_alone(model.layers, ROWS))
    np.testing.assert_allclose(model.predict(iter([rt[:6], rt[2:]]), verbose=0),
                               np.concatenate([want[:6], want[2:]]),
                               rtol=1e-5, atol=1e-6)


def test_ragged_input_layer_summary_and_config(capsys):
    ids = keras.Input(shape=[None], dtype="int32", ragged=True, name="ids")
    model = keras.Model(ids, layers.GlobalAveragePooling1D()(layers.Embedding(10, 2)(ids)))
    model.summary()
    assert re.search(r"ids \(InputLayer\)\s+\[\(None, None\)\]", capsys.readouterr().out)
    config = model.layers[0].get_config()
    assert config["ragged"] is True and list(config["batch_input_shape"]) == [None, None]
    again = keras.models.model_from_json(model.to_json())
    assert again.layers[0].ragged and again.input.ragged_source is again.input
    again.set_weights(model.get_weights())
    rt = xf.ragged.constant(ROWS[:3])
    np.testing.assert_allclose(np.asarray(again(rt)), np.asarray(model(rt)))
    vectors = keras.Input(shape=[None, 3], ragged=True)
    assert vectors.shape == (None, None, 3)


@pytest.mark.parametrize("kwargs, match", [
    ({"shape": [None, None]}, r"shape \[None\] .* \[None, d\].*received shape \[None, None\]"),
    ({"shape": [4]}, r"received shape \[4\]"),
    ({"shape": [None, 2, 3]}, r"received shape \[None, 2, 3\]"),
    ({"shape": [None], "sparse": True}, "Cannot set both sparse and ragged"),
])
def test_ragged_input_shape_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras.Input(ragged=True, **kwargs)


def test_ragged_data_errors(tmp_path, guide):
    model = guide
    rt = xf.ragged.constant(ROWS)
    deep = xf.ragged.constant([[[1, 2], [3]], [[4]]])
    with pytest.raises(NotImplementedError, match="ragged_rank 2"):
        model.fit(deep, LABELS[:2], verbose=0)
    with pytest.raises(NotImplementedError, match="y as a RaggedTensor"):
        model.fit(rt, rt, verbose=0)
    dense = keras.Sequential([keras.Input(shape=[None], dtype="int32"),
                              layers.Embedding(10, 2), layers.GlobalAveragePooling1D()])
    with pytest.raises(NotImplementedError, match="has no ragged Input"):
        dense.predict(rt, verbose=0)
    weights = model.get_weights()
    for name in ("m.keras", "m.h5", "saved"):
        with pytest.raises(NotImplementedError, match="ragged Input"):
            model.save(str(tmp_path / name))
    with pytest.raises(NotImplementedError, match="ragged Input"):
        xf.saved_model.save(model, str(tmp_path / "export"))
    assert list(tmp_path.iterdir()) == []
    model.save_weights(str(tmp_path / "w.weights.h5"))  # weights save as any model's
    model.load_weights(str(tmp_path / "w.weights.h5"))
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    json.loads(model.to_json())  # the architecture (with ragged=True) is plain JSON


def test_a_keras2_config_with_a_ragged_input_layer_loads_ragged():
    initializer = {"class_name": "RandomUniform",
                   "config": {"minval": -0.05, "maxval": 0.05, "seed": None}}
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {
            "batch_input_shape": [None, None], "dtype": "int64", "sparse": False,
            "ragged": True, "name": "words"}},
        {"class_name": "Embedding", "config": {
            "name": "emb", "trainable": True, "dtype": "float32",
            "batch_input_shape": [None, None], "input_dim": 10, "output_dim": 2,
            "embeddings_initializer": initializer, "embeddings_regularizer": None,
            "activity_regularizer": None, "embeddings_constraint": None,
            "mask_zero": False, "input_length": None}},
        {"class_name": "GlobalAveragePooling1D", "config": {
            "name": "pool", "trainable": True, "dtype": "float32",
            "data_format": "channels_last", "keepdims": False}}]},
        "keras_version": "2.12.0", "backend": "tensorflow"}
    model = keras.models.model_from_json(json.dumps(config))
    got = np.asarray(model(xf.ragged.constant([[1, 2, 3], [4]])))
    table = model.layers[0].get_weights()[0]
    np.testing.assert_allclose(got, [table[[1, 2, 3]].mean(0), table[4]], rtol=1e-6)


def test_two_ragged_inputs_keep_their_own_rows():
    xf.keras.utils.set_random_seed(5)
    a = keras.Input(shape=[None], dtype="int32", ragged=True, name="words")
    b = keras.Input(shape=[None], dtype="int32", ragged=True, name="bag")
    emb = layers.Embedding(10, 2)
    model = keras.Model([a, b], [emb(a), layers.GlobalAveragePooling1D()(emb(b))])
    left, right = [[1, 2], [3], [4, 5, 6]], [[7], [8, 9, 1, 2, 3], []]
    # a dict by the Inputs' names, whose sorted order is not the Inputs' order
    tokens, pooled = model({"bag": xf.ragged.constant(right),
                            "words": xf.ragged.constant(left)})
    table = emb.get_weights()[0]
    assert tokens.row_lengths().tolist() == [2, 1, 3]
    np.testing.assert_allclose(np.asarray(tokens.flat_values), table[[1, 2, 3, 4, 5, 6]])
    np.testing.assert_allclose(np.asarray(pooled[:2]), [table[7], table[[8, 9, 1, 2, 3]]
                                                        .mean(0)], rtol=1e-6)


def test_steps_per_execution_and_arrays_on_device_run_ragged_batches_one_by_one():
    # ragged batches pad to their own widths: never stacked into blocks nor kept on the
    # device, so these settings train exactly as the plain per-batch loop does
    def make(steps):
        xf.keras.utils.set_random_seed(6)
        ids = keras.Input(shape=[None], dtype="int32", ragged=True)
        out = layers.Dense(1)(layers.GlobalAveragePooling1D()(layers.Embedding(10, 3)(ids)))
        model = keras.Model(ids, out)
        model.compile(loss="mse", optimizer="sgd", steps_per_execution=steps)
        return model
    rt = xf.ragged.constant(ROWS)
    plain, blocked = make(1), make(2)
    plain.fit(rt, LABELS, batch_size=2, shuffle=False, verbose=0)
    with xf.config.override(fit_arrays_on_device="on"):
        blocked.fit(rt, LABELS, batch_size=2, shuffle=False, verbose=0)
    for a, b in zip(plain.get_weights(), blocked.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_an_output_whose_axis_1_is_not_the_rows_steps_is_refused():
    vectors = keras.Input(shape=[None, 2], ragged=True)
    model = keras.Model(vectors, layers.Flatten()(vectors))
    with pytest.raises(NotImplementedError, match="is not their steps"):
        model(xf.ragged.constant([[[1.0, 2.0]], [[3.0, 4.0], [5.0, 6.0]]], ragged_rank=1))


def test_a_dataset_of_ragged_rows_feeds_fit_and_predict(guide):
    # tf.data's ragged elements (from_tensor_slices rows, batch) reach the model as
    # RaggedTensors, padded per batch like an in-memory RaggedTensor x
    rt = xf.ragged.constant(ROWS)
    ds = xf.data.Dataset.from_tensor_slices((rt, LABELS)).batch(8)
    guide.fit(ds, epochs=1, verbose=0)
    want = np.stack(_rows_alone(guide.layers, ROWS))
    np.testing.assert_allclose(guide.predict(ds, verbose=0), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(guide.evaluate(ds, verbose=0),
                               guide.evaluate(rt, LABELS, batch_size=8, verbose=0),
                               rtol=1e-6)


@pytest.mark.parametrize("make", [
    lambda: layers.Conv1D(2, 3, padding="same"), lambda: layers.MaxPooling1D(2),
    lambda: layers.AveragePooling1D(2), lambda: layers.Cropping1D(1),
    lambda: layers.ZeroPadding1D(1), lambda: layers.UpSampling1D(2)])
def test_a_layer_reading_across_steps_refuses_ragged_rows(make):
    # Keras 2 fails to convert the RaggedTensor there; on the padded rows a row's last
    # steps would mix with the padding, which depends on the rows batched beside it
    layer = make()
    ids = keras.Input(shape=[None], dtype="int32", ragged=True)
    with pytest.raises(TypeError, match=f"{layer.name} .*ragged Input"):
        layer(layers.Embedding(10, 2)(ids))
    assert not layer.built
    with pytest.raises(TypeError, match="reads across steps"):
        keras.Sequential([layers.Input(shape=[None], dtype="int32", ragged=True),
                          layers.Embedding(10, 2), make(), layers.GlobalMaxPooling1D()])
    dense = keras.Input(shape=[None, 2])  # not ragged: as before
    assert make()(dense).shape[0] is None


def test_an_op_reducing_ragged_rows_is_refused_and_one_keeping_them_passes_them_on():
    ids = keras.Input(shape=[None], dtype="int32", ragged=True)
    emb = layers.Embedding(10, 2)
    relu = xf.nn.relu(emb(ids))  # Keras 2: a RaggedTensor, each row's own steps
    for reduce in (xf.reduce_sum, xf.reduce_max):  # over the padding too, if run
        with pytest.raises(NotImplementedError, match="reduction over the steps"):
            reduce(relu, axis=1)
    with pytest.raises(NotImplementedError, match="ragged Input"):
        layers.Lambda(lambda t: xf.reduce_mean(t, axis=1))(relu)
    model = keras.Model(ids, relu)
    out = model.predict(xf.ragged.constant(ROWS), verbose=0)
    weights = np.asarray(emb.embeddings)
    assert isinstance(out, xf.RaggedTensor)
    for got, row in zip(out.to_list(), ROWS):
        np.testing.assert_allclose(got, np.maximum(weights[row], 0), rtol=1e-6)
