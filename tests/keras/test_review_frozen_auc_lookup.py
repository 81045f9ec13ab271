"""Review as a TF user writes it: transfer learning (freeze a base, unfreeze its top layer,
recompile: which weights move), AUC(multi_label) with sample weights and logits under
xf.function, and IntegerLookup's inverse lookup with num_oov_indices=0, a vocabulary file and
an empty vocabulary. Oracles: NumPy, Keras 2's documented rules, dicts over the vocabulary."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras

IL = keras.layers.IntegerLookup
L = keras.layers
VOCAB = [12, 36, 1138, 42]


def _moved(model, before):
    return [w.name for w, b in zip(model.weights, before) if not np.allclose(w.numpy(), b)]


def test_transfer_learning_freeze_fit_unfreeze_top_recompile_fit(tmp_path):
    # the transfer-learning guide's flow: only the head moves, then the head and the
    # unfrozen top layer; BatchNormalization of the base stays in inference mode throughout
    rng = np.random.RandomState(0)
    x, y = rng.rand(32, 4).astype("float32"), rng.rand(32, 1).astype("float32")
    base = keras.Sequential([keras.Input((4,)), L.Dense(5, name="b1"),
                             L.BatchNormalization(name="bn"), L.Dense(3, name="b2")],
                            name="base")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, L.Dense(1, name="head")(base(inputs, training=True)))
    order = [w.name for w in model.weights]
    base.trainable = False
    model.compile(keras.optimizers.Adam(0.05), "mse")
    before = [w.numpy().copy() for w in model.weights]
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert _moved(model, before) == ["head/kernel", "head/bias"]
    base.trainable = True
    for layer in base.layers[:-1]:
        layer.trainable = False
    assert [w.name for w in model.weights] == order  # a Model's order never follows flags
    model.compile(keras.optimizers.Adam(0.05), "mse")
    before = [w.numpy().copy() for w in model.weights]
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert _moved(model, before) == ["b2/kernel", "b2/bias", "head/kernel", "head/bias"]
    for name in ("m.h5", "m.keras"):  # the flags come back with the model
        model.save(tmp_path / name)
        loaded = keras.models.load_model(tmp_path / name)
        assert [lay.trainable for lay in loaded.get_layer("base").layers] == \
            [False, False, True]
        assert [w.name for w in loaded.trainable_weights] == \
            [w.name for w in model.trainable_weights]
        for a, b in zip(model.get_weights(), loaded.get_weights()):
            np.testing.assert_array_equal(a, b)


def _roc_auc(t, p, w, thresholds):
    """Keras 2's ROC area of one label: counts above each threshold, trapezoids."""
    above = p[None, :] > thresholds[:, None]
    tp, fp = (above * t * w).sum(1), (above * (1 - t) * w).sum(1)
    fn, tn = (~above * t * w).sum(1), (~above * (1 - t) * w).sum(1)
    tpr = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1e-30), 0)
    fpr = np.where(fp + tn > 0, fp / np.maximum(fp + tn, 1e-30), 0)
    return np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2)


def test_multi_label_auc_with_sample_weights_and_logits_under_function():
    rng = np.random.RandomState(1)
    y_true = (rng.rand(24, 3) > 0.5).astype("float32")
    y_true[:, 2] = 0  # a label without positives: its area is 0 (div_no_nan), still averaged
    probs = rng.uniform(0.02, 0.98, (24, 3)).astype("float32")
    logits = np.log(probs / (1 - probs))
    thresholds = np.array([-1e-7, *[(i + 1) / 199 for i in range(198)], 1 + 1e-7],
                          np.float32)
    for weight in (rng.rand(24, 3).astype("float32"), rng.rand(24).astype("float32")):
        metric = keras.metrics.AUC(multi_label=True, from_logits=True)
        step = xf.function(lambda t, p, w, m=metric: (m.update_state(t, p, w), m.result())[1])
        got = float(step(y_true, logits, weight))
        columns = np.broadcast_to(weight.reshape(24, -1), (24, 3))
        expected = np.mean([_roc_auc(y_true[:, j], probs[:, j], columns[:, j], thresholds)
                            for j in range(3)])
        np.testing.assert_allclose(got, expected, rtol=1e-5)


def _inverse_oracle(ids, vocabulary, oov_token=-1):
    table = dict(enumerate(vocabulary))
    return np.vectorize(lambda i: table.get(int(i), oov_token))(ids)


@pytest.mark.parametrize("mask_token", [None, 0])
def test_inverse_lookup_without_oov_indices(mask_token):
    # Keras 2's inverse lookup never checks for OOV ids (only the forward one does): an id
    # past the vocabulary gives oov_token; with a mask token, id 0 gives it back
    layer = IL(vocabulary=VOCAB, num_oov_indices=0, mask_token=mask_token, invert=True)
    special = [] if mask_token is None else [mask_token]
    assert layer.get_vocabulary() == special + VOCAB
    ids = np.array([[0, 1, 2, 3], [4, 5, 9, 1]])
    expected = _inverse_oracle(ids, special + VOCAB)
    np.testing.assert_array_equal(layer(ids), expected)
    np.testing.assert_array_equal(xf.function(layer)(ids), expected)
    again = IL.from_config(layer.get_config())
    np.testing.assert_array_equal(again(ids), expected)


def test_the_forward_lookup_without_oov_indices_is_still_refused_by_name():
    with pytest.raises(NotImplementedError, match="num_oov_indices=0"):
        IL(vocabulary=VOCAB, num_oov_indices=0)


def _write(tmp_path, lines):
    path = tmp_path / "vocab.txt"
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def test_vocabulary_from_a_file_of_one_integer_per_line(tmp_path):
    path = _write(tmp_path, VOCAB)
    data = np.array([[12, 1138, 42], [42, 1000, 36]])
    index = {v: i + 1 for i, v in enumerate(VOCAB)}  # after the one OOV index, 0
    expected = np.vectorize(lambda v: index.get(int(v), 0))(data)
    for vocabulary in (str(path), path):  # a str, as Keras 2 documents, or a pathlib.Path
        forward = IL(vocabulary=vocabulary)
        assert forward.get_vocabulary() == [-1, *VOCAB]
        np.testing.assert_array_equal(forward(data), expected)
    inverse = IL(vocabulary=str(path), mask_token=0, invert=True)
    ids = np.array([0, 1, 2, 5, 6])
    np.testing.assert_array_equal(inverse(ids), _inverse_oracle(ids, [0, -1, *VOCAB]))
    layer = IL()
    layer.set_vocabulary(str(path))
    assert layer.get_vocabulary() == [-1, *VOCAB]


def test_a_bad_vocabulary_file_or_an_empty_vocabulary_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        IL(vocabulary=str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="line 2 is 'x'"):
        IL(vocabulary=str(_write(tmp_path, [3, "x"])))
    with pytest.raises(ValueError, match="empty vocabulary"):
        IL(vocabulary=[])
    layer = IL(vocabulary=VOCAB)
    with pytest.raises(ValueError, match="empty vocabulary"):
        layer.set_vocabulary(np.zeros((0,), np.int64))
    assert layer.get_vocabulary() == [-1, *VOCAB]  # refused before any change
