"""Fixes from a review of layers, losses, metrics and initializers against Keras 2.

Oracles: the values Keras' own documentation prints for its examples (which pass Python
lists), and NumPy recomputations of the same quantities.
"""

import jax
import numpy as np
import pytest

from xlaflow.keras import initializers, layers, losses, metrics

# -- losses and metrics take Python lists ------------------------------------------------------
# (loss or metric, y_true, y_pred, the value Keras' documentation gives for this example)
DOC_EXAMPLES = {
    "BinaryCrossentropy": (losses.BinaryCrossentropy, [[0., 1.], [0., 0.]],
                           [[.6, .4], [.4, .6]], 0.815),
    "CategoricalCrossentropy": (losses.CategoricalCrossentropy, [[0, 1, 0], [0, 0, 1]],
                                [[.05, .95, 0], [.1, .8, .1]], 1.177),
    "SparseCategoricalCrossentropy": (losses.SparseCategoricalCrossentropy, [1, 2],
                                      [[.05, .95, 0], [.1, .8, .1]], 1.177),
    "MeanSquaredError": (losses.MeanSquaredError, [[0., 1.], [0., 0.]], [[1., 1.], [1., 0.]],
                         0.5),
    "Huber": (losses.Huber, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 0.155),
    "BinaryAccuracy": (metrics.BinaryAccuracy, [[1], [1], [0], [0]],
                       [[0.98], [1], [0], [0.6]], 0.75),
    "SparseCategoricalAccuracy": (metrics.SparseCategoricalAccuracy, [[2], [1]],
                                  [[0.1, 0.6, 0.3], [0.05, 0.95, 0]], 0.5),
    "CategoricalAccuracy": (metrics.CategoricalAccuracy, [[0, 0, 1], [0, 1, 0]],
                            [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], 0.5),
    "Accuracy": (metrics.Accuracy, [[1], [2], [3], [4]], [[0], [2], [3], [4]], 0.75),
    "Precision": (metrics.Precision, [0, 1, 1, 1], [1, 0, 1, 1], 2 / 3),
    "Recall": (metrics.Recall, [0, 1, 1, 1], [1, 0, 1, 1], 2 / 3),
    "MeanSquaredErrorMetric": (metrics.MeanSquaredError, [[0, 1], [0, 0]], [[1, 1], [0, 0]],
                               0.25),
}


@pytest.mark.parametrize("name", sorted(DOC_EXAMPLES))
def test_loss_and_metric_accept_python_lists_with_keras_documented_value(name):
    cls, y_true, y_pred, expected = DOC_EXAMPLES[name]
    np.testing.assert_allclose(float(cls()(y_true, y_pred)), expected, atol=1e-3)


def test_loss_functions_on_lists_match_numpy():
    y_true, y_pred = [[0., 1.], [0., 0.]], [[.6, .4], [.4, .6]]
    t, p = np.array(y_true), np.array(y_pred)
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(-1)
    np.testing.assert_allclose(losses.binary_crossentropy(y_true, y_pred), bce, rtol=1e-5)
    np.testing.assert_allclose(losses.mean_squared_error(y_true, y_pred),
                               ((p - t) ** 2).mean(-1), rtol=1e-6)
    soft = [[.05, .95, 0], [.1, .8, .1]]
    expected = -np.log(np.clip(np.array(soft), 1e-7, 1))[[0, 1], [1, 2]]
    np.testing.assert_allclose(losses.categorical_crossentropy([[0, 1, 0], [0, 0, 1]], soft),
                               expected, rtol=1e-5)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy([1, 2], soft), expected,
                               rtol=1e-5)


def test_integer_predictions_are_computed_in_float():
    # [[0, 3]] vs [[2, 0]]: squared errors 4 and 9, mean 6.5 (an integer mean would give 6)
    assert float(losses.MeanSquaredError()([[0, 3]], [[2, 0]])) == 6.5


# -- convolutions of integer inputs compute in float ------------------------------------------
def _numpy_conv2d_valid(x, kernel):
    """Cross-correlation, 'valid' padding, stride 1: (n, h, w, c) * (kh, kw, c, f)."""
    kh, kw = kernel.shape[:2]
    n, h, w, _ = x.shape
    out = np.zeros((n, h - kh + 1, w - kw + 1, kernel.shape[-1]))
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            out[:, i, j] = np.tensordot(x[:, i:i + kh, j:j + kw], kernel, axes=3)
    return out


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.bool_])
def test_conv2d_of_integer_image_matches_numpy_in_float(dtype):
    x = np.random.default_rng(0).integers(0, 256, (2, 5, 5, 3)).astype(dtype)
    conv = layers.Conv2D(2, 3, bias_initializer="ones")
    out = conv(x)
    assert out.dtype == np.float32
    kernel, bias = conv.get_weights()
    np.testing.assert_allclose(out, _numpy_conv2d_valid(x.astype(np.float64), kernel) + bias,
                               rtol=1e-4, atol=1e-3)


def test_conv2d_uint8_with_ones_kernel_does_not_wrap():
    out = layers.Conv2D(2, 3, kernel_initializer="ones", use_bias=False)(
        np.full((1, 4, 4, 1), 100, np.uint8))
    np.testing.assert_array_equal(out, np.full((1, 2, 2, 2), 900.0))  # 9 * 100, not 900 % 256


def test_conv1d_and_lstm_of_integer_sequences_equal_the_float_ones():
    x = np.random.default_rng(1).integers(0, 50, (2, 4, 3))
    for layer in (layers.Conv1D(2, 2), layers.LSTM(2), layers.GRU(2)):
        np.testing.assert_allclose(layer(x), layer(x.astype(np.float32)), rtol=1e-6)


# -- recurrent initial_state -------------------------------------------------------------------
def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _numpy_gru(x, h, kernel, recurrent, bias):
    """Keras' GRU (reset_after=True), step by step in float64."""
    for t in range(x.shape[1]):
        xz, xr, xh = np.split(x[:, t] @ kernel + bias[0], 3, axis=-1)
        hz, hr, hh = np.split(h @ recurrent + bias[1], 3, axis=-1)
        z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
        h = z * h + (1 - z) * np.tanh(xh + r * hh)
    return h


def test_gru_takes_a_bare_initial_state_array():
    rng = np.random.default_rng(2)
    x, h0 = rng.normal(size=(2, 3, 5)), rng.normal(size=(2, 4))
    gru = layers.GRU(4, bias_initializer="random_normal")
    out = gru(x.astype(np.float32), initial_state=h0)  # a float64 NumPy state
    expected = _numpy_gru(x, h0, *(w.astype(np.float64) for w in gru.get_weights()))
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(gru(x.astype(np.float32), initial_state=[h0]), out)


def test_lstm_initial_state_of_the_wrong_count_or_shape_is_named():
    x = np.zeros((2, 3, 5), np.float32)
    lstm = layers.LSTM(4)
    with pytest.raises(ValueError, match=r"initial_state must hold 2 state\(s\), \[h, c\].*"
                                         r"received 1"):
        lstm(x, initial_state=np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"\(2, 4\); received \(2, 3\)"):
        lstm(x, initial_state=[np.zeros((2, 3)), np.zeros((2, 3))])
    state = [np.ones((2, 4)), np.ones((2, 4))]
    _, h, c = layers.LSTM(4, return_state=True)(x, initial_state=state)
    assert h.shape == c.shape == (2, 4)


# -- MultiHeadAttention's scores -----------------------------------------------------------
def test_attention_scores_are_the_softmax_before_dropout():
    rng = np.random.default_rng(3)
    query, value = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4))
    query, value = query.astype(np.float32), value.astype(np.float32)
    mha = layers.MultiHeadAttention(2, 3, dropout=0.5, seed=1)
    _, scores = mha(query, value, return_attention_scores=True, training=True)
    weights = {w.name.split("/", 1)[1]: np.asarray(w, np.float64) for w in mha.weights}
    q = np.einsum("bqd,dhk->bqhk", query, weights["query/kernel"]) + weights["query/bias"]
    k = np.einsum("bsd,dhk->bshk", value, weights["key/kernel"]) + weights["key/bias"]
    logits = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(3)
    softmax = np.exp(logits - logits.max(-1, keepdims=True))
    softmax /= softmax.sum(-1, keepdims=True)
    np.testing.assert_allclose(scores, softmax, rtol=1e-4, atol=1e-6)


# -- Precision/Recall thresholds=None -------------------------------------------------------
@pytest.mark.parametrize("cls", [metrics.Precision, metrics.Recall])
def test_precision_recall_thresholds_none_is_keras_default_half(cls):
    rng = np.random.default_rng(4)
    y_true, y_pred = rng.integers(0, 2, 50), rng.uniform(size=50).astype(np.float32)
    metric = cls(thresholds=None)
    predicted = y_pred > 0.5
    tp = np.sum(predicted & (y_true == 1))
    other = np.sum(predicted) if cls is metrics.Precision else np.sum(y_true == 1)
    np.testing.assert_allclose(metric(y_true, y_pred), tp / other, rtol=1e-6)
    assert metric.get_config()["thresholds"] is None  # as Keras' get_config
    clone = cls.from_config(metric.get_config())
    np.testing.assert_allclose(clone(y_true, y_pred), tp / other, rtol=1e-6)


# -- regularizer/constraint arguments: None accepted, values kept in get_config -----------
_DENSE_LIKE = ("kernel_regularizer", "bias_regularizer", "activity_regularizer",
               "kernel_constraint", "bias_constraint")
_NORMALIZATION = ("beta_regularizer", "gamma_regularizer", "beta_constraint",
                  "gamma_constraint")
# (constructor, the regularizer/constraint keys of Keras 2's get_config for that layer)
PENALTY_LAYERS = {
    "Dense": (lambda **kw: layers.Dense(2, **kw), _DENSE_LIKE),
    "Conv1D": (lambda **kw: layers.Conv1D(2, 3, **kw), _DENSE_LIKE),
    "Conv2D": (lambda **kw: layers.Conv2D(2, 3, **kw), _DENSE_LIKE),
    "MultiHeadAttention": (lambda **kw: layers.MultiHeadAttention(2, 3, **kw), _DENSE_LIKE),
    "Embedding": (lambda **kw: layers.Embedding(10, 2, **kw),
                  ("embeddings_regularizer", "activity_regularizer", "embeddings_constraint")),
    "LSTM": (lambda **kw: layers.LSTM(2, **kw),
             ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
              "activity_regularizer", "kernel_constraint", "recurrent_constraint",
              "bias_constraint")),
    "GRU": (lambda **kw: layers.GRU(2, **kw),
            ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
             "activity_regularizer", "kernel_constraint", "recurrent_constraint",
             "bias_constraint")),
    "BatchNormalization": (lambda **kw: layers.BatchNormalization(**kw), _NORMALIZATION),
    "LayerNormalization": (lambda **kw: layers.LayerNormalization(**kw), _NORMALIZATION),
}


@pytest.mark.parametrize("name", sorted(PENALTY_LAYERS))
def test_regularizer_and_constraint_arguments_accept_none(name):
    make, keys = PENALTY_LAYERS[name]
    layer = make(**dict.fromkeys(keys))
    config = layer.get_config()
    assert {key: config[key] for key in keys} == dict.fromkeys(keys)
    assert type(layer).from_config(config).get_config() == config


@pytest.mark.parametrize("name", sorted(PENALTY_LAYERS))
def test_regularizer_and_constraint_values_are_kept_in_the_config(name):
    make, keys = PENALTY_LAYERS[name]
    for key in keys:
        value, kind = ("max_norm", "MaxNorm") if key.endswith("_constraint") else ("l2", "L2")
        config = make(**{key: value}).get_config()
        assert config[key]["class_name"] == kind
        assert type(make()).from_config(config).get_config()[key] == config[key]


def test_every_layer_takes_activity_regularizer_as_keras_base_layer():
    assert layers.Flatten(activity_regularizer=None).get_config()["name"].startswith("flatten")
    config = layers.Flatten(activity_regularizer="l1").get_config()
    assert config["activity_regularizer"] == {"class_name": "L1", "config": {"l1": 0.01}}


# -- Embedding indices out of range --------------------------------------------------------
def test_embedding_concrete_out_of_range_indices_raise_naming_layer_and_values():
    layer = layers.Embedding(10, 2, name="words")
    indices = np.array([[3, 9, 0]])
    np.testing.assert_array_equal(layer(indices), layer.get_weights()[0][indices])
    with pytest.raises(ValueError, match=r"words: .*input_dim=10.*\[-1, 12\]"):
        layer(np.array([[12, -1, 3]]))
    with pytest.raises(ValueError, match=r"\[4294967296\]"):  # not wrapped to 0 by int32
        layer(np.array([2 ** 32], np.int64))


def test_embedding_traced_out_of_range_indices_give_nan_rows_negative_ones_included():
    layer = layers.Embedding(10, 2)
    out = jax.jit(layer)(np.array([[12, -1, 3]]))
    table = layer.get_weights()[0]
    assert np.isnan(out[0, :2]).all()  # -1 is not the last row
    np.testing.assert_array_equal(out[0, 2], table[3])


def test_embedding_input_length_is_no_contract_on_direct_calls():
    # Keras 2 checks no input shape on an Embedding's own calls: word2vec's
    # Embedding(input_length=1) looks up [batch] targets (this raised a ValueError)
    layer = layers.Embedding(10, 3, input_length=1)
    ids = np.array([4, 0, 7])
    np.testing.assert_array_equal(layer(ids), layer.get_weights()[0][ids])
    again = layers.Embedding.from_config(layer.get_config())
    assert again(np.array([[1, 2], [3, 4]])).shape == (2, 2, 3)
    # an input_shape declared apart from input_length is still checked
    with pytest.raises(ValueError, match=r"declared with input shape \(None, 4\)"):
        layers.Embedding(10, 3, input_shape=(4,))(ids)


# -- get() by class name, by class, and Keras 2's aliases ------------------------------------
def test_initializers_get_takes_class_names_classes_and_keras2_aliases():
    for identifier in ("GlorotUniform", initializers.GlorotUniform, "glorot_uniform"):
        assert type(initializers.get(identifier)) is initializers.GlorotUniform
    assert type(initializers.get(initializers.HeNormal)) is initializers.HeNormal
    uniform, normal = initializers.get("uniform"), initializers.get("normal")
    assert type(uniform) is initializers.RandomUniform
    assert (uniform.minval, uniform.maxval) == (-0.05, 0.05)  # Keras 2's defaults
    assert type(normal) is initializers.RandomNormal
    assert (normal.mean, normal.stddev) == (0.0, 0.05)
    values = np.asarray(uniform((1000,), np.float32, jax.random.PRNGKey(0)))
    assert -0.05 <= values.min() and values.max() <= 0.05 and values.std() > 0.02
    with pytest.raises(ValueError, match="'nope'"):
        initializers.get("nope")


def test_metrics_and_losses_get_take_keras_class_names():
    for name, cls, default_name in (("AUC", metrics.AUC, "auc"),
                                    ("Precision", metrics.Precision, "precision"),
                                    ("Recall", metrics.Recall, "recall"),
                                    ("BinaryAccuracy", metrics.BinaryAccuracy,
                                     "binary_accuracy")):
        metric = metrics.get(name)
        assert type(metric) is cls and metric.name == default_name
    assert metrics.get("auc").name == "auc"  # snake-case names still log as given
    assert type(losses.get("BinaryCrossentropy")) is losses.BinaryCrossentropy
    with pytest.raises(ValueError, match="'MeanMetricWrapper'"):
        metrics.get("MeanMetricWrapper")  # needs its function: not made from a name


def test_average_pooling_of_a_uint8_image_averages_in_float():
    image = np.full((1, 4, 4, 1), 200, np.uint8)
    image[0, 0, 0, 0] = 100
    out = np.asarray(layers.AveragePooling2D(2)(image))
    np.testing.assert_allclose(out[0, :, :, 0], [[175.0, 200.0], [200.0, 200.0]])


def test_keras_2_config_keys_at_their_defaults_are_accepted():
    # Keras 2 writes these into every RNN/conv config; other values name the alternative.
    layers.LSTM(2, dropout=0.0, recurrent_dropout=0.0, stateful=False, unroll=False,
                time_major=False)
    layers.Conv2D(2, 3, groups=1)
    with pytest.raises(ValueError, match=r"GRU: dropout must be a float in \[0, 1\); "
                       r"received 1.5"):
        layers.GRU(2, dropout=1.5)
    layers.Conv1D(4, 3, groups=2)  # a grouped convolution (test_conv_groups)
    with pytest.raises(NotImplementedError, match=r"Conv1DTranspose: groups=2"):
        layers.Conv1DTranspose(4, 3, groups=2)
