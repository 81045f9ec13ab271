"""Every built-in object's config round-trips through JSON exactly (what model.save relies on).

The oracle: `json.loads(json.dumps(config)) == config`, `from_config` of it gives the same
config back, and the rebuilt object (weights copied) computes the same values, bit for bit.
A signature check makes a constructor argument that get_config forgets fail here.
"""

import inspect
import json

import jax
import numpy as np
import optax
import pytest

import xlaflow.layers
import xlaflow.metrics
from tests.keras.test_layers_conv_rnn_models import CONFIG_CASES as CONV_RNN_CASES
from xlaflow.keras import activations, initializers, layers, losses, metrics, optimizers
from xlaflow.optimizers import ExponentialDecay, PiecewiseConstantDecay

RNG = np.random.default_rng(0)


def _json(config):
    """The config after a JSON round trip, which must not change it (no tuples, no arrays)."""
    restored = json.loads(json.dumps(config, allow_nan=False))
    assert restored == config
    return restored


def _arguments(cls):
    """The named arguments a constructor of `cls` takes: its own `__init__`'s, and its
    bases' for as long as an `__init__` forwards `**kwargs` up the MRO."""
    names = set()
    for klass in cls.__mro__[:-1]:  # object's __init__ takes nothing of its own
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters.values()
        names |= {p.name for p in params if p.name != "self" and p.kind not in (
            p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return names


def _floats(shape):
    return RNG.normal(size=shape).astype(np.float32)


# -- layers -----------------------------------------------------------------------------------
# (constructor with non-default arguments, inputs, keyword arguments of the compared call).
# Most cases share the (2, 4, 3) shape in and out: the eager ops then compile once for all.
SEQ, IMAGE = (2, 4, 3), (2, 4, 4, 3)
LAYERS = {
    "InputLayer": (lambda: layers.InputLayer(shape=SEQ[1:], batch_size=2, name="in"),
                   lambda: [_floats(SEQ)], {}),
    "Dense": (lambda: layers.Dense(
        3, activation="tanh", trainable=False, input_shape=SEQ[1:],
        kernel_initializer=initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=3),
        bias_initializer=initializers.RandomNormal(0.5, 0.1, seed=1)),
        lambda: [_floats(SEQ)], {}),
    "Flatten": (lambda: layers.Flatten(dtype="float16"), lambda: [_floats(SEQ)], {}),
    "Reshape": (lambda: layers.Reshape((3, -1)), lambda: [_floats(SEQ)], {}),
    "Activation": (lambda: layers.Activation("gelu"), lambda: [_floats(SEQ)], {}),
    "Dropout": (lambda: layers.Dropout(0.4, noise_shape=(None, 1, 3), seed=7),
                lambda: [_floats(SEQ)], {"training": True}),
    "Conv1D": (lambda: layers.Conv1D(
        3, 3, dilation_rate=2, padding="same", activation="relu", use_bias=False,
        kernel_initializer=initializers.HeUniform(seed=2)), lambda: [_floats(SEQ)], {}),
    "Conv2D": (lambda: layers.Conv2D(
        3, (3, 2), strides=(1, 2), padding="same", activation="elu",
        data_format="channels_last", bias_initializer=initializers.Constant(np.float32(0.1))),
        lambda: [_floats(IMAGE)], {}),
    "MaxPooling2D": (lambda: layers.MaxPooling2D((3, 2), strides=(1, 2), padding="same"),
                     lambda: [_floats(IMAGE)], {}),
    "AveragePooling2D": (lambda: layers.AveragePooling2D(3, strides=2, padding="same"),
                         lambda: [_floats(IMAGE)], {}),
    "GlobalAveragePooling2D": (lambda: layers.GlobalAveragePooling2D(keepdims=True),
                               lambda: [_floats(IMAGE)], {}),
    "BatchNormalization": (lambda: layers.BatchNormalization(
        axis=1, momentum=0.5, epsilon=0.01, center=False,
        gamma_initializer=initializers.RandomUniform(0.5, 1.5, seed=2),
        moving_variance_initializer=initializers.Constant(2.0)),
        lambda: [_floats(SEQ)], {"training": True}),
    "LayerNormalization": (lambda: layers.LayerNormalization(
        axis=(1, 2), epsilon=1e-4, scale=False,
        beta_initializer=initializers.TruncatedNormal(0.1, 0.2, seed=4)),
        lambda: [_floats(SEQ)], {}),
    "Embedding": (lambda: layers.Embedding(
        10, 3, embeddings_initializer=initializers.GlorotNormal(seed=5)),
        lambda: [RNG.integers(0, 10, SEQ[:2])], {}),
    "Add": (lambda: layers.Add(), lambda: [[_floats(SEQ), _floats(SEQ)]], {}),
    "Concatenate": (lambda: layers.Concatenate(axis=1),
                    lambda: [[_floats(SEQ), _floats(SEQ)]], {}),
    "LSTM": (lambda: layers.LSTM(
        3, activation="softsign", recurrent_activation="relu6", unit_forget_bias=False,
        kernel_initializer=initializers.LecunNormal(seed=1),
        recurrent_initializer=initializers.Orthogonal(gain=0.5, seed=2),
        bias_initializer="ones", return_sequences=True, return_state=True, go_backwards=True),
        lambda: [_floats(SEQ)], {}),
    "GRU": (lambda: layers.GRU(
        3, activation="selu", return_sequences=True,
        recurrent_initializer=initializers.Orthogonal(gain=2.0, seed=3),
        bias_initializer=initializers.RandomNormal(seed=6)), lambda: [_floats(SEQ)], {}),
    "MultiHeadAttention": (lambda: layers.MultiHeadAttention(
        2, 3, value_dim=4, dropout=0.5, use_bias=False, output_shape=3, seed=9,
        kernel_initializer=initializers.HeNormal(seed=1)),
        lambda: [_floats(SEQ), _floats(SEQ)], {"training": True}),
}
# Reshaping, 1-D/global pooling, activation, noise, preprocessing and merging layers.
from tests.keras.added_layer_cases import ADDED_LAYERS

LAYERS.update(ADDED_LAYERS)
LAYERS.update(CONV_RNN_CASES)  # Conv*Transpose, Conv3D, separable, SimpleRNN, wrappers
LAYERS["Masking"] = (lambda: layers.Masking(mask_value=-1.0), lambda: [_floats(SEQ)], {})
LAYERS["RNN"] = (lambda: layers.RNN(
    layers.SimpleRNNCell(3, activation="relu", recurrent_initializer="glorot_uniform"),
    return_sequences=True, return_state=True, go_backwards=True), lambda: [_floats(SEQ)], {})
LAYERS["SimpleRNNCell"] = (lambda: layers.SimpleRNNCell(4, use_bias=False),
                           lambda: [_floats((2, 3)), [_floats((2, 4))]], {})
LAYERS["LSTMCell"] = (lambda: layers.LSTMCell(4, unit_forget_bias=False,
                                              recurrent_activation="softsign"),
                      lambda: [_floats((2, 3)), [_floats((2, 4)), _floats((2, 4))]], {})
LAYERS["GRUCell"] = (lambda: layers.GRUCell(4, bias_initializer="ones"),
                     lambda: [_floats((2, 3)), [_floats((2, 4))]], {})
LAYERS["StackedRNNCells"] = (
    lambda: layers.StackedRNNCells([layers.LSTMCell(4), layers.GRUCell(3)]),
    lambda: [_floats((2, 3)), [[_floats((2, 4)), _floats((2, 4))], _floats((2, 3))]], {})
LAYERS["Normalization"] = (lambda: layers.Normalization(
    axis=-1, mean=[0.5, -1.0, 2.0], variance=[4.0, 1.0, 0.25], invert=True),
    lambda: [_floats(SEQ)], {})
LAYERS["RandomFlip"] = (lambda: layers.RandomFlip("vertical", seed=4),
                        lambda: [_floats(IMAGE)], {"training": True})
LAYERS["RandomRotation"] = (lambda: layers.RandomRotation(
    (-0.2, 0.1), fill_mode="constant", interpolation="nearest", seed=5, fill_value=0.5),
    lambda: [_floats(IMAGE)], {"training": True})
LAYERS["RandomZoom"] = (lambda: layers.RandomZoom(
    (-0.3, 0.2), 0.4, fill_mode="wrap", interpolation="nearest", seed=6, fill_value=1.0),
    lambda: [_floats(IMAGE)], {"training": True})
LAYERS["RandomTranslation"] = (lambda: layers.RandomTranslation(
    0.3, (-0.2, 0.1), fill_mode="constant", seed=7, fill_value=-1.0),
    lambda: [_floats(IMAGE)], {"training": True})
LAYERS["RandomContrast"] = (lambda: layers.RandomContrast((0.2, 0.5), seed=8),
                            lambda: [_floats(IMAGE)], {"training": True})
LAYERS["RandomBrightness"] = (lambda: layers.RandomBrightness(
    (-0.1, 0.3), value_range=(-1, 1), seed=9), lambda: [_floats(IMAGE)], {"training": True})
LAYERS["RandomCrop"] = (lambda: layers.RandomCrop(3, 2, seed=10), lambda: [_floats(IMAGE)],
                        {"training": True})
LAYERS["CenterCrop"] = (lambda: layers.CenterCrop(3, 2), lambda: [_floats(IMAGE)], {})
LAYERS["StringLookup"] = (lambda: layers.StringLookup(
    vocabulary=["b", "a"], mask_token="", output_mode="count"),
    lambda: [np.array([["a", "", "z", "a"]])], {})
LAYERS["IntegerLookup"] = (lambda: layers.IntegerLookup(
    vocabulary=[7, 5], mask_token=0, output_mode="count"),
    lambda: [np.array([[5, 0, 9, 5]])], {})
LAYERS["TextVectorization"] = (lambda: layers.TextVectorization(
    vocabulary=["b", "a", "a b"], ngrams=2, output_sequence_length=5),
    lambda: [np.array(["A b!", "b c a"])], {})
LAYERS["Hashing"] = (lambda: layers.Hashing(
    5, mask_value="", salt=[3, 9], output_mode="count"),
    lambda: [np.array([["a", "", "z", "a"]])], {})
LAYERS["Discretization"] = (lambda: layers.Discretization([-0.5, 0.0, 0.5]),
                            lambda: [_floats(SEQ)], {})
LAYERS["CategoryEncoding"] = (lambda: layers.CategoryEncoding(10, "count"),
                              lambda: [RNG.integers(0, 10, SEQ[:2])], {})
LAYERS["Resizing"] = (lambda: layers.Resizing(2, 3, interpolation="nearest",
                                              crop_to_aspect_ratio=True),
                      lambda: [_floats(IMAGE)], {})
# Arguments whose value is kept under another config key (or only one value is supported).
RENAMED = {"input_shape", "shape", "batch_size"}  # all kept as batch_input_shape


def test_every_exported_layer_is_covered():
    exported = {name for name, obj in vars(xlaflow.layers).items()
                if isinstance(obj, type) and issubclass(obj, layers.Layer)}
    assert exported - {"Layer"} == set(LAYERS)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_config_round_trips_and_rebuilds_the_same_layer(name):
    make, inputs, call_kwargs = LAYERS[name]
    layer, args = make(), inputs()
    layer(*args)  # build (inference: consumes no random keys)
    config = layer.get_config()
    missing = _arguments(type(layer)) - RENAMED - set(config)
    assert not missing, f"{name}.get_config() lacks constructor arguments {sorted(missing)}"
    clone = type(layer).from_config(_json(config))
    assert type(clone) is type(layer) and clone.get_config() == config
    clone(*args)
    clone.set_weights(layer.get_weights())
    expected, actual = layer(*args, **call_kwargs), clone(*args, **call_kwargs)
    jax.tree_util.tree_map(np.testing.assert_array_equal, actual, expected)


def test_base_layer_config_round_trips():
    layer = layers.Layer(name="plain", trainable=False, dtype="bfloat16", input_shape=(3, 2))
    config = layer.get_config()
    assert layers.Layer.from_config(_json(config)).get_config() == config
    assert config["batch_input_shape"] == [None, 3, 2]


def test_normalization_axis_tuple_comes_back_equal_after_json():
    for layer in (layers.BatchNormalization(axis=(1, 2)), layers.LayerNormalization(axis=(1,))):
        config = layer.get_config()
        assert type(layer).from_config(_json(config)).get_config() == config


def test_layer_with_a_user_activation_saves_its_name_and_loads_only_when_told_the_function():
    # Keras 2: the config names the function; from_config needs it registered, in
    # custom_objects or in a scope, and otherwise names it in the error
    def my_activation(x):
        return x

    config = layers.Dense(2, activation=my_activation).get_config()
    assert config["activation"] == "my_activation"
    with pytest.raises(ValueError, match="Unknown activation 'my_activation'"):
        layers.Dense.from_config(config)
    with xlaflow.keras.utils.custom_object_scope({"my_activation": my_activation}):
        assert layers.Dense.from_config(config).activation is my_activation


# -- initializers and activations -------------------------------------------------------------
INITIALIZERS = [
    initializers.Zeros(), initializers.Ones(), initializers.Constant(np.float32(2.5)),
    initializers.RandomNormal(mean=1.0, stddev=0.3, seed=4),
    initializers.RandomUniform(minval=-1.0, maxval=2.0, seed=5),
    initializers.TruncatedNormal(mean=0.5, stddev=2.0, seed=6),
    initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="uniform", seed=3),
    initializers.VarianceScaling(0.5, "fan_avg", "untruncated_normal"),
    initializers.GlorotUniform(seed=1), initializers.GlorotNormal(seed=2),
    initializers.HeNormal(seed=3), initializers.HeUniform(), initializers.LecunNormal(seed=4),
    initializers.LecunUniform(seed=5),
    initializers.Orthogonal(gain=1.5, seed=7),
    initializers.Identity(gain=2.0),
]


def test_every_initializer_is_covered():
    assert {type(i) for i in INITIALIZERS} == set(xlaflow.initializers._BY_NAME.values())


@pytest.mark.parametrize("init", INITIALIZERS, ids=lambda i: type(i).__name__)
def test_initializer_round_trip(init):
    config = initializers.serialize(init)
    assert config["class_name"] == type(init).__name__
    assert not _arguments(type(init)) - set(config["config"])
    clone = initializers.get(_json(config))
    assert type(clone) is type(init) and initializers.serialize(clone) == config
    key = jax.random.PRNGKey(0)
    np.testing.assert_array_equal(clone((4, 3), np.float32, key), init((4, 3), np.float32, key))


def test_initializer_snake_case_class_names_still_load():
    init = initializers.deserialize({"class_name": "he_uniform", "config": {"seed": 3}})
    assert type(init) is initializers.HeUniform and init.seed == 3
    with pytest.raises(ValueError, match="NoSuchInit"):
        initializers.deserialize({"class_name": "NoSuchInit", "config": {}})


@pytest.mark.parametrize("name", sorted(xlaflow.activations._BY_NAME))
def test_activation_round_trip(name):
    fn = activations.get(name)
    restored = activations.deserialize(_json({"a": activations.serialize(fn)})["a"])
    assert restored is fn  # the very function: same outputs without computing any


def test_user_activation_is_refused_by_name():
    with pytest.raises(ValueError, match="lambda"):
        activations.serialize(lambda x: x)
    with pytest.raises(ValueError, match="'nope'"):
        activations.deserialize("nope")


# -- optimizers -------------------------------------------------------------------------------
OPTIMIZERS = {
    "sgd_nesterov": lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True, clipnorm=0.5),
    "adam_amsgrad": lambda: optimizers.Adam(0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-5,
                                            amsgrad=True, clipvalue=0.1),
    "adamw": lambda: optimizers.AdamW(0.02, weight_decay=0.1, beta_1=0.5,
                                      global_clipnorm=1.0),
    "rmsprop": lambda: optimizers.RMSprop(0.05, rho=0.8, momentum=0.5, epsilon=1e-4,
                                          centered=True, weight_decay=0.01),
    "adagrad": lambda: optimizers.Adagrad(0.3, initial_accumulator_value=0.5, epsilon=1e-3,
                                          name="ada"),
    "sgd_exponential_decay": lambda: optimizers.SGD(
        ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5, staircase=True), momentum=0.5),
    "adam_piecewise": lambda: optimizers.Adam(
        PiecewiseConstantDecay(boundaries=[1, 2], values=[0.1, 0.05, 0.01])),
    "adamax": lambda: optimizers.Adamax(0.02, beta_1=0.8, beta_2=0.99, epsilon=1e-5),
    "nadam": lambda: optimizers.Nadam(0.02, beta_1=0.8, beta_2=0.99, epsilon=1e-5,
                                      clipnorm=1.0),
    "adadelta": lambda: optimizers.Adadelta(1.0, rho=0.9, epsilon=1e-5),
    "ftrl": lambda: optimizers.Ftrl(0.1, learning_rate_power=-0.7, initial_accumulator_value=0.2,
                                    l1_regularization_strength=0.01,
                                    l2_regularization_strength=0.02,
                                    l2_shrinkage_regularization_strength=0.03, beta=0.1),
    "lion": lambda: optimizers.Lion(0.01, beta_1=0.8, beta_2=0.95, weight_decay=0.01),
    "adafactor": lambda: optimizers.Adafactor(0.05, beta_2_decay=-0.6, epsilon_2=1e-2,
                                              clip_threshold=0.5, relative_step=False),
}


def test_every_optimizer_is_covered():
    covered = {type(make()) for make in OPTIMIZERS.values()}
    assert covered == set(xlaflow.optimizers._BY_NAME.values())


def _train(opt, steps=3):
    weights = xlaflow.Variable(np.arange(6, dtype=np.float32).reshape(2, 3) / 4)
    bias = xlaflow.Variable(np.ones(3, np.float32))
    rng = np.random.default_rng(1)
    for _ in range(steps):
        opt.apply_gradients([(rng.normal(size=(2, 3)).astype(np.float32), weights),
                             (rng.normal(size=3).astype(np.float32), bias)])
    return weights.numpy(), bias.numpy(), float(opt.learning_rate)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_round_trip_applies_the_same_updates(name):
    opt = OPTIMIZERS[name]()
    config = optimizers.serialize(opt)
    assert config["class_name"] == type(opt).__name__
    assert not _arguments(type(opt)) - set(config["config"])
    clone = optimizers.get(_json(config))
    assert type(clone) is type(opt) and optimizers.serialize(clone) == config
    assert type(opt).from_config(opt.get_config()).get_config() == opt.get_config()
    for expected, actual in zip(_train(opt), _train(clone), strict=True):
        np.testing.assert_array_equal(actual, expected)


def test_optimizer_class_name_is_case_insensitive_and_unknown_is_clear():
    assert type(optimizers.deserialize({"class_name": "rmsprop", "config": {}})) is \
        optimizers.RMSprop
    with pytest.raises(ValueError, match="Unknown optimizer in config.*'Yogi'"):
        optimizers.get({"class_name": "Yogi", "config": {}})


def test_unserializable_schedule_is_named():
    def my_schedule(step):
        return 0.1

    for schedule in (my_schedule, optax.schedules.exponential_decay(1.0, 1, 0.5)):
        with pytest.raises(ValueError, match="learning_rate schedule .*cannot be serialized"):
            optimizers.SGD(schedule).get_config()
    with pytest.raises(ValueError, match="my_schedule"):
        optimizers.serialize(optimizers.SGD(my_schedule))


def test_piecewise_constant_matches_keras_boundaries():
    schedule = PiecewiseConstantDecay([1, 3], [1.0, 0.5, 0.25])
    assert [float(schedule(s)) for s in range(5)] == [1.0, 1.0, 0.5, 0.5, 0.25]
    with pytest.raises(ValueError, match="values"):
        PiecewiseConstantDecay([1], [1.0])


# -- losses and metrics -----------------------------------------------------------------------
def _targets(kind):
    """(y_true, y_pred) for a loss or metric of `kind`."""
    probs = np.asarray(jax.nn.softmax(_floats((6, 4))))
    if kind == "sparse":
        return RNG.integers(0, 4, 6), probs
    if kind == "categorical":
        return np.eye(4, dtype=np.float32)[RNG.integers(0, 4, 6)], probs
    if kind == "binary":
        return (RNG.integers(0, 2, (6, 1)).astype(np.float32),
                RNG.uniform(size=(6, 1)).astype(np.float32))
    return _floats((6, 2)), _floats((6, 2))


LOSSES = {
    "scce": (lambda: losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum"),
             "sparse"),
    "cce": (lambda: losses.CategoricalCrossentropy(label_smoothing=0.2, name="cce"),
            "categorical"),
    "bce": (lambda: losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1,
                                              reduction="none"), "binary"),
    "mse": (lambda: losses.get("mse"), "regression"),
    "mae": (lambda: losses.get(losses.mean_absolute_error), "regression"),
    "huber": (lambda: losses.Huber(delta=0.3, name="h"), "regression"),
    "kld": (lambda: losses.get("kld"), "categorical"),
    "cosine": (lambda: losses.CosineSimilarity(axis=0, reduction="sum"), "regression"),
    "hinge": (lambda: losses.Hinge(), "binary"),
    "squared_hinge": (lambda: losses.SquaredHinge(name="sq"), "binary"),
    "categorical_hinge": (lambda: losses.CategoricalHinge(), "categorical"),
    "poisson": (lambda: losses.Poisson(), "binary"),
    "logcosh": (lambda: losses.get("logcosh"), "regression"),
    "msle": (lambda: losses.MeanSquaredLogarithmicError(), "binary"),
    "mape": (lambda: losses.get("mape"), "regression"),
}


def test_every_loss_is_covered():
    covered = {type(make()) for make, _ in LOSSES.values()}
    assert covered == set(xlaflow.losses._BY_NAME.values())


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_round_trip(name):
    make, kind = LOSSES[name]
    loss = make()
    config = losses.serialize(loss)
    assert config["class_name"] == type(loss).__name__
    assert not _arguments(type(loss)) - set(config["config"])
    clone = losses.get(_json(config))
    assert type(clone) is type(loss) and losses.serialize(clone) == config
    y_true, y_pred = _targets(kind)
    np.testing.assert_array_equal(clone(y_true, y_pred), loss(y_true, y_pred))


def test_loss_names_and_functions_serialize_as_their_class():
    assert losses.serialize("huber_loss")["class_name"] == "Huber"
    assert losses.serialize(losses.binary_crossentropy)["class_name"] == "BinaryCrossentropy"


def test_user_loss_function_is_refused_by_name():
    def my_loss(y_true, y_pred):
        return y_pred

    with pytest.raises(ValueError, match="my_loss"):
        losses.serialize(losses.get(my_loss))


METRICS = {
    "mean": (lambda: metrics.Mean(name="m"), "values"),
    "sum": (lambda: metrics.Sum(name="s"), "values"),
    "wrapper": (lambda: metrics.MeanMetricWrapper(losses.huber, name="h", delta=0.5),
                "regression"),
    "sparse_acc": (lambda: metrics.SparseCategoricalAccuracy(name="sca"), "sparse"),
    "categorical_acc": (lambda: metrics.CategoricalAccuracy(), "categorical"),
    "binary_acc": (lambda: metrics.BinaryAccuracy(threshold=0.7), "binary"),
    "accuracy": (lambda: metrics.Accuracy(name="exact"), "regression"),
    "accuracy_for_loss": (lambda: metrics.get("accuracy", losses.BinaryCrossentropy()),
                          "binary"),
    "accuracy_by_shape": (lambda: metrics.get("accuracy", losses.MeanSquaredError()),
                          "sparse"),
    "mse": (lambda: metrics.get("mse"), "regression"),
    "mae": (lambda: metrics.MeanAbsoluteError(name="err"), "regression"),
    "rmse": (lambda: metrics.RootMeanSquaredError(name="rmse"), "regression"),
    "precision": (lambda: metrics.Precision(thresholds=0.3), "binary"),
    "recall": (lambda: metrics.Recall(thresholds=0.6, name="r"), "binary"),
    "auc": (lambda: metrics.AUC(num_thresholds=17), "binary"),
    "auc_pr": (lambda: metrics.AUC(thresholds=[0.2, 0.7], curve="PR", name="prc"), "binary"),
    "precision_top_k": (lambda: metrics.Precision(top_k=2, class_id=1), "categorical"),
    "tp": (lambda: metrics.TruePositives(thresholds=[0.3, 0.6], name="tp"), "binary"),
    "fp": (lambda: metrics.FalsePositives(), "binary"),
    "tn": (lambda: metrics.TrueNegatives(thresholds=0.4), "binary"),
    "fn": (lambda: metrics.FalseNegatives(name="fn"), "binary"),
    "top_k": (lambda: metrics.TopKCategoricalAccuracy(k=2), "categorical"),
    "sparse_top_k": (lambda: metrics.get("sparse_top_k_categorical_accuracy"), "sparse"),
    "cosine": (lambda: metrics.CosineSimilarity(axis=0), "regression"),
    "cce": (lambda: metrics.CategoricalCrossentropy(label_smoothing=0.1), "categorical"),
    "bce": (lambda: metrics.BinaryCrossentropy(from_logits=True), "binary"),
    "scce": (lambda: metrics.SparseCategoricalCrossentropy(name="s"), "sparse"),
    "kld": (lambda: metrics.get("kld"), "categorical"),
    "hinge": (lambda: metrics.Hinge(), "binary"),
    "squared_hinge": (lambda: metrics.SquaredHinge(), "binary"),
    "categorical_hinge": (lambda: metrics.CategoricalHinge(), "categorical"),
    "poisson": (lambda: metrics.Poisson(), "binary"),
    "logcosh": (lambda: metrics.LogCoshError(), "regression"),
    "msle": (lambda: metrics.MeanSquaredLogarithmicError(), "binary"),
    "mape": (lambda: metrics.get("mape"), "regression"),
    "mean_iou": (lambda: metrics.MeanIoU(4, ignore_class=3, sparse_y_pred=False, name="iou"),
                 "sparse"),
    "one_hot_mean_iou": (lambda: metrics.OneHotMeanIoU(4, axis=-1), "categorical"),
    "fbeta": (lambda: metrics.FBetaScore("weighted", beta=0.5, threshold=0.4, name="fb"),
              "categorical"),
    "f1": (lambda: metrics.F1Score(average="micro"), "binary"),
}


def test_every_metric_is_covered():
    covered = {type(make()) for make, _ in METRICS.values()}
    assert covered == set(xlaflow.metrics._BY_CLASS_NAME.values())


@pytest.mark.parametrize("name", sorted(METRICS))
def test_metric_round_trip(name):
    make, kind = METRICS[name]
    metric = make()
    config = metrics.serialize(metric)
    assert config["class_name"] == type(metric).__name__
    assert not _arguments(type(metric)) - set(config["config"])
    clone = metrics.get(_json(config))
    assert type(clone) is type(metric) and metrics.serialize(clone) == config
    data = [_floats(6)] if kind == "values" else list(_targets(kind))
    for m in (metric, clone):
        m.update_state(*data)
    np.testing.assert_array_equal(clone.result(), metric.result())


def test_user_metric_function_is_refused_by_name():
    def my_metric(y_true, y_pred):
        return y_pred

    with pytest.raises(ValueError, match="my_metric"):
        metrics.serialize(metrics.get(my_metric))
    with pytest.raises(ValueError, match="'nope'"):
        metrics.MeanMetricWrapper.from_config({"fn": "nope"})


def test_layers_serialize_and_deserialize_as_keras_2():
    dense = layers.Dense(3, activation="relu", name="d")
    config = layers.serialize(dense)
    assert config["class_name"] == "Dense" and config["config"]["units"] == 3
    back = layers.deserialize(config)
    assert type(back) is layers.Dense and back.get_config() == dense.get_config()
    # Keras 2.11 writes only class_name and config
    lstm = layers.deserialize({"class_name": "LSTM",
                                     "config": {"units": 4, "return_sequences": True}})
    assert type(lstm) is layers.LSTM and lstm.units == 4 and lstm.return_sequences
    out = lstm(np.ones((2, 5, 3), np.float32))
    assert out.shape == (2, 5, 4)
    with pytest.raises(ValueError, match="not known here"):
        layers.deserialize({"class_name": "NoSuchLayer", "config": {}})
