"""The fifth round of whole TF2 programs (see test_tf2_ports.py): a Keras 2.11 custom
optimizer, a keras.utils.Sequence and a generator fed to fit, gradient accumulation in a
custom loop, the Keras 2 model formats (JSON, weights lists, .h5), ResNet blocks with L2
regularization, AdamW with clipping and schedules, and the *_on_batch methods, with only
the imports changed.

Each asserts an outcome known without xlaflow: momentum SGD, Adam and the schedules in
NumPy or closed form, the accumulated gradient equal to the one-big-batch gradient, a
reloaded model equal to the original, a regularization sum from the kernels.
"""

import json
import os

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras
from xlaflow.keras import layers


@pytest.fixture(autouse=True)
def _seeded():
    # xlaflow's, NumPy's and Python's streams (fit shuffles with NumPy's): a run does not
    # depend on the tests before it in the worker; XF_PORT_SEED chooses another seed
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


class MomentumSGD(keras.optimizers.Optimizer):
    """A user's optimizer as the Keras 2.11+ guide writes one."""

    def __init__(self, learning_rate=0.01, momentum=0.9, name="MomentumSGD", **kwargs):
        super().__init__(name=name, **kwargs)
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.momentum = momentum

    def build(self, var_list):
        super().build(var_list)
        if hasattr(self, "_built") and self._built:
            return
        self.momentums = [self.add_variable_from_reference(model_variable=var,
                                                           variable_name="m")
                          for var in var_list]
        self._built = True

    def update_step(self, gradient, variable):
        lr = tf.cast(self.learning_rate, variable.dtype)
        m = self.momentums[self._index_dict[self._var_key(variable)]]
        m.assign(self.momentum * m - lr * gradient)
        variable.assign_add(m)

    def get_config(self):
        config = super().get_config()
        config.update({"learning_rate": self._serialize_hyperparameter(self._learning_rate),
                       "momentum": self.momentum})
        return config


def test_custom_keras_2_11_optimizer_matches_momentum_sgd_in_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = (x @ np.array([[1.5], [-2.0], [0.5]], "float32") + 0.3).astype("float32")
    model = keras.Sequential([keras.Input((3,)), layers.Dense(1)])
    w0, b0 = (np.array(a, np.float64) for a in model.get_weights())
    optimizer = MomentumSGD(learning_rate=0.05, momentum=0.8)
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, batch_size=64, epochs=6, shuffle=False, verbose=0)

    # the same six full-batch steps in NumPy
    w, b, mw, mb = w0, b0, np.zeros_like(w0), np.zeros_like(b0)
    for _ in range(6):
        residual = x @ w + b - y
        gw, gb = 2 * x.T @ residual / len(x), 2 * residual.mean(0)
        mw, mb = 0.8 * mw - 0.05 * gw, 0.8 * mb - 0.05 * gb
        w, b = w + mw, b + mb
    np.testing.assert_allclose(model.get_weights()[0], w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.get_weights()[1], b, rtol=1e-4, atol=1e-5)
    assert int(optimizer.iterations) == 6
    assert len(optimizer.momentums) == 2
    config = optimizer.get_config()
    assert config["momentum"] == 0.8 and config["learning_rate"] == pytest.approx(0.05)
    again = MomentumSGD.from_config(config)
    assert again.momentum == 0.8 and float(again.learning_rate) == pytest.approx(0.05)


class LegacyStyle(keras.optimizers.Optimizer):
    def _resource_apply_dense(self, grad, var, apply_state=None):
        return var.assign_sub(0.1 * grad)


def test_legacy_optimizer_v2_subclass_is_refused_naming_the_modern_form():
    with pytest.raises(NotImplementedError, match="update_step"):
        LegacyStyle(name="legacy")


class BlobSequence(keras.utils.Sequence):
    """Batches of two Gaussian blobs; on_epoch_end reshuffles the rows, as users write it."""

    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.order = np.arange(len(x))
        self.epochs_ended = 0

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, idx):
        rows = self.order[idx * self.batch_size:(idx + 1) * self.batch_size]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self.epochs_ended += 1
        np.random.shuffle(self.order)


def _blobs(n, rng):
    y = rng.integers(0, 2, size=(n, 1)).astype("float32")
    x = (rng.normal(size=(n, 2)) + 3.0 * (2 * y - 1)).astype("float32")
    return x, y


def test_sequence_subclass_and_python_generator_fed_to_fit_evaluate_predict():
    rng = np.random.default_rng(1)
    x, y = _blobs(200, rng)
    train = BlobSequence(x, y, batch_size=32)
    model = keras.Sequential([keras.Input((2,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(train, epochs=4, verbose=0)
    assert train.epochs_ended == 4  # Keras calls on_epoch_end after every epoch
    assert history.history["accuracy"][-1] > 0.95  # blobs 6 sigma apart
    _, accuracy = model.evaluate(BlobSequence(x, y, batch_size=50), verbose=0)
    assert accuracy > 0.95
    predictions = model.predict(BlobSequence(x, y, batch_size=64), verbose=0)
    assert predictions.shape == (200, 1)  # 4 batches, the last one of 8 rows
    np.testing.assert_allclose(predictions, np.asarray(model(x)), rtol=1e-5, atol=1e-6)

    drawn = []

    def batches():
        while True:  # an endless generator: steps_per_epoch says where an epoch ends
            xb, yb = _blobs(16, rng)
            drawn.append(len(xb))
            yield xb, yb

    history = model.fit(batches(), steps_per_epoch=5, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3
    assert len(drawn) == 15  # read lazily, exactly steps_per_epoch * epochs batches
    assert history.history["accuracy"][-1] > 0.95


def test_gradient_accumulation_in_a_custom_loop_equals_one_big_batch():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = rng.integers(0, 3, size=(32,)).astype("int32")

    def make_model():
        return keras.Sequential([keras.Input((4,)), layers.Dense(8, activation="tanh"),
                                 layers.Dense(3)])

    accumulating, big = make_model(), make_model()
    big.set_weights(accumulating.get_weights())
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    opt_acc, opt_big = keras.optimizers.SGD(0.5), keras.optimizers.SGD(0.5)
    accumulators = [tf.Variable(tf.zeros_like(v), trainable=False)
                    for v in accumulating.trainable_variables]
    k = 4

    @tf.function
    def accumulate(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, accumulating(xb, training=True)) / k
        grads = tape.gradient(loss, accumulating.trainable_variables)
        for acc, g in zip(accumulators, grads):
            acc.assign_add(g)
        return loss

    @tf.function
    def apply_accumulated():
        opt_acc.apply_gradients(zip(accumulators, accumulating.trainable_variables))
        for acc in accumulators:
            acc.assign(tf.zeros_like(acc))

    @tf.function
    def big_step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, big(xb, training=True))
        grads = tape.gradient(loss, big.trainable_variables)
        opt_big.apply_gradients(zip(grads, big.trainable_variables))
        return loss

    for _ in range(3):
        total = 0.0
        for i in range(k):
            total += float(accumulate(x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8]))
        apply_accumulated()
        big_loss = float(big_step(x, y))
        assert total == pytest.approx(big_loss, rel=1e-5)  # equal microbatches: equal means
    for a, b in zip(accumulating.get_weights(), big.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert all(float(tf.reduce_sum(tf.abs(acc))) == 0.0 for acc in accumulators)
    assert int(opt_acc.iterations) == int(opt_big.iterations) == 3


def test_model_json_weights_lists_h5_and_the_old_preprocessing_path(tmp_path):
    from xlaflow.keras.layers.experimental import preprocessing
    inputs = keras.Input((6, 6, 1))
    h = preprocessing.Rescaling(1.0 / 255)(inputs)
    h = layers.Conv2D(4, 3, activation="relu", name="conv")(h)
    h = layers.Flatten()(h)
    outputs = layers.Dense(2, activation="softmax", name="head")(h)
    model = keras.Model(inputs, outputs, name="tiny")
    images = np.random.default_rng(3).integers(0, 256, size=(5, 6, 6, 1)).astype("float32")
    expected = model.predict(images, verbose=0)

    text = model.to_json()
    assert json.loads(text)["config"]["name"] == "tiny"
    rebuilt = keras.models.model_from_json(text)
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt.predict(images, verbose=0), expected, rtol=1e-6)
    kernel, bias = model.get_layer("conv").get_weights()
    assert kernel.shape == (3, 3, 1, 4) and bias.shape == (4,)
    rebuilt.get_layer("head").set_weights([np.zeros((64, 2), "float32"),
                                           np.array([0.0, np.log(3.0)], "float32")])
    np.testing.assert_allclose(rebuilt.predict(images, verbose=0),
                               np.tile([[0.25, 0.75]], (5, 1)), rtol=1e-6)

    # Keras 2's two whole-model forms: one HDF5 file ("m.h5") and the directory
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    for path in (str(tmp_path / "m.h5"), str(tmp_path / "m")):
        model.save(path)
        reloaded = keras.models.load_model(path)
        np.testing.assert_allclose(reloaded.predict(images, verbose=0), expected, rtol=1e-6)
        for a, b in zip(reloaded.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(a, b)


def residual_block(x, filters):
    shortcut = x
    h = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                      kernel_regularizer=keras.regularizers.l2(1e-4))(x)
    h = layers.BatchNormalization(momentum=0.9)(h)
    h = layers.Activation("relu")(h)
    h = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                      kernel_regularizer=keras.regularizers.l2(1e-4))(h)
    h = layers.BatchNormalization(momentum=0.9)(h)
    return layers.Activation("relu")(layers.Add()([shortcut, h]))


def test_resnet_blocks_functional_api_with_l2_regularization_losses():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, size=256)
    images = rng.normal(size=(256, 8, 8, 1)).astype("float32") * 0.3
    images[labels == 1, :4] += 1.0  # class 1: a bright top half
    inputs = keras.Input((8, 8, 1))
    h = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    h = residual_block(residual_block(h, 8), 8)
    outputs = layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling2D()(h))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])

    # four regularized kernels: model.losses is 1e-4 * sum of their squares
    regularized = [layer.kernel for layer in model.layers
                   if isinstance(layer, layers.Conv2D) and not layer.use_bias]
    assert len(model.losses) == len(regularized) == 4
    expected = sum(1e-4 * float(np.sum(np.square(k.numpy()))) for k in regularized)
    assert float(tf.add_n(model.losses)) == pytest.approx(expected, rel=1e-5)

    history = model.fit(images, labels, epochs=4, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    _, accuracy = model.evaluate(images, labels, verbose=0)
    assert accuracy > 0.9
    bn = [layer for layer in model.layers if isinstance(layer, layers.BatchNormalization)]
    assert all(layer.momentum == 0.9 for layer in bn)
    assert not np.allclose(bn[0].moving_mean.numpy(), 0.0)  # updated by fit


def test_adamw_clipping_and_learning_rate_schedules_read_back():
    decay = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    piecewise = keras.optimizers.schedules.PiecewiseConstantDecay([3, 6], [1.0, 0.5, 0.1])
    cosine = keras.optimizers.schedules.CosineDecay(1.0, decay_steps=8, alpha=0.1)
    for step in (0, 5, 10, 20):
        assert float(decay(step)) == pytest.approx(0.1 * 0.5 ** (step / 10), rel=1e-6)
        expected = 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(step, 8) / 8))
        assert float(cosine(step)) == pytest.approx(expected, rel=1e-5)
    assert [float(piecewise(s)) for s in (0, 3, 4, 6, 7)] == pytest.approx(
        [1.0, 1.0, 0.5, 0.5, 0.1])

    w = tf.Variable([3.0, -4.0])
    optimizer = keras.optimizers.AdamW(learning_rate=decay, weight_decay=0.1,
                                       global_clipnorm=1.0)
    grads = tf.constant([30.0, -40.0])  # norm 50: clipped to [0.6, -0.8]
    expected = np.array([3.0, -4.0])
    m = v = np.zeros(2)
    for t in range(1, 4):
        lr = 0.1 * 0.5 ** ((t - 1) / 10)  # the schedule at iterations = t - 1
        assert float(optimizer.learning_rate) == pytest.approx(lr, rel=1e-6)
        optimizer.apply_gradients([(grads, w)])
        g = np.array([0.6, -0.8])
        expected = expected - expected * 0.1 * lr  # decoupled decay first
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        alpha = lr * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        expected = expected - alpha * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-5)
    assert int(optimizer.iterations) == 3
    clipped = keras.optimizers.SGD(1.0, clipvalue=0.5)
    u = tf.Variable([0.0, 0.0])
    clipped.apply_gradients([(tf.constant([2.0, -0.25]), u)])
    np.testing.assert_allclose(u.numpy(), [-0.5, 0.25])


def test_train_test_predict_on_batch_metrics_names_and_reset_metrics():
    rng = np.random.default_rng(5)
    x, y = _blobs(64, rng)
    model = keras.Sequential([keras.Input((2,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy",
                  metrics=[keras.metrics.BinaryAccuracy(name="acc")])
    first = model.train_on_batch(x, y, return_dict=True)
    assert set(first) == {"loss", "acc"}
    for _ in range(30):
        logs = model.train_on_batch(x, y, return_dict=True)
    assert logs["loss"] < first["loss"] and logs["acc"] > 0.95
    assert model.metrics_names == ["loss", "acc"]
    probabilities = model.predict_on_batch(x)
    bce = -np.mean(y * np.log(probabilities) + (1 - y) * np.log(1 - probabilities))
    test = model.test_on_batch(x, y, return_dict=True)
    assert test["loss"] == pytest.approx(bce, rel=1e-4)
    assert test["acc"] == pytest.approx(np.mean((probabilities > 0.5) == y))
    # without reset, accumulated over two calls: the second half all wrong -> the mean
    model.test_on_batch(x, y, reset_metrics=True)
    stacked = model.test_on_batch(x, 1 - y, reset_metrics=False, return_dict=True)
    assert stacked["acc"] == pytest.approx(0.5, abs=1e-6)
    model.reset_metrics()
    assert all(float(m.result()) == 0.0 for m in model.metrics)
