"""Whole TF2 programs, written as TF2 tutorials and Keras guides write them, with only the
imports changed (`import xlaflow as tf`, `from xlaflow import keras`).

Each asserts an outcome known without xlaflow: a loss below a bound the data allows, the
weights a linear target implies, restored values equal to saved ones, an export's output
equal to a NumPy forward pass. Where a TF idiom has no xlaflow form the program uses the
documented alternative and says so (see test_tf2_port_gaps.py for those refusals).
"""

import os

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras
from xlaflow.keras import layers


@pytest.fixture(autouse=True)
def _seeded():
    # NumPy's and Python's streams too (fit shuffles with NumPy's): a run does not depend
    # on the tests before it in the worker; the programs seed xlaflow's themselves, as TF's
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def test_advanced_quickstart_subclassed_model_with_tape_and_metrics():
    # 4 classes: which quadrant of an 8x8 noise image was brightened
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=384).astype("int32")
    images = rng.random((384, 2, 4, 2, 4)).astype("float32")
    images[np.arange(384), labels // 2, :, labels % 2, :] += 0.3
    images = images.reshape(384, 8, 8)
    images = images[..., tf.newaxis]
    x_train, y_train, x_test, y_test = images[:320], labels[:320], images[320:], labels[320:]
    train_ds = tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(
        10000, seed=1).batch(32)
    test_ds = tf.data.Dataset.from_tensor_slices((x_test, y_test)).batch(32)

    class MyModel(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv1 = layers.Conv2D(8, 3, activation="relu", padding="same")
            self.flatten = layers.Flatten()
            self.d1 = layers.Dense(32, activation="relu")
            self.d2 = layers.Dense(4)

        def call(self, x):
            return self.d2(self.d1(self.flatten(self.conv1(x))))

    tf.random.set_seed(0)
    model = MyModel()
    loss_object = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = keras.optimizers.Adam(3e-3)
    train_loss = keras.metrics.Mean(name="train_loss")
    train_accuracy = keras.metrics.SparseCategoricalAccuracy(name="train_accuracy")
    test_loss = keras.metrics.Mean(name="test_loss")
    test_accuracy = keras.metrics.SparseCategoricalAccuracy(name="test_accuracy")

    @tf.function
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            predictions = model(images, training=True)
            loss = loss_object(labels, predictions)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        train_loss(loss)
        train_accuracy(labels, predictions)

    @tf.function
    def test_step(images, labels):
        predictions = model(images, training=False)
        test_loss(loss_object(labels, predictions))
        test_accuracy(labels, predictions)

    losses = []
    for _ in range(8):
        for metric in (train_loss, train_accuracy, test_loss, test_accuracy):
            metric.reset_state()
        for images, labels in train_ds:
            train_step(images, labels)
        for images, labels in test_ds:
            test_step(images, labels)
        losses.append(float(train_loss.result()))
    assert train_step.tracing_count == 1  # 320 = 10 full batches: one shape
    assert losses[-1] < 0.75 * losses[0]
    assert float(test_accuracy.result()) > 0.8  # chance is 0.25


def test_sequential_and_functional_fit_with_callbacks_save_and_reload(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 10)).astype("float32")
    y = (x @ rng.normal(size=(10, 1)) + 0.1 * rng.normal(size=(512, 1))).astype("float32")
    tf.random.set_seed(1)
    model = keras.Sequential([
        keras.Input(shape=(10,)),
        layers.Dense(32, activation="relu", name="hidden"),
        layers.Dropout(0.1),
        layers.Dense(1, name="out"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2), loss="mse",
                  metrics=["mae"])
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=3,
                                      restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(filepath=str(tmp_path / "ckpt_{epoch:02d}"),
                                        save_best_only=True, monitor="val_loss",
                                        save_weights_only=True),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2,
                                          min_lr=1e-4),
    ]
    # a quarter held out: 384 and 128 examples, full batches of 32 (a fifth would leave
    # partial last batches, each compiling another train or test step)
    history = model.fit(x, y, batch_size=32, epochs=15, validation_split=0.25,
                        callbacks=callbacks, verbose=0)
    assert {"loss", "mae", "val_loss", "val_mae", "lr"} <= set(history.history)
    assert list(tmp_path.glob("ckpt_01*"))  # the first epoch is always the best so far
    loss, _ = model.evaluate(x, y, verbose=0)
    assert loss < 0.05 * float(np.var(y))  # noise variance is 0.01 of a ~10 variance
    model.save(tmp_path / "saved")
    reloaded = keras.models.load_model(tmp_path / "saved")
    np.testing.assert_array_equal(reloaded.predict(x[:16], verbose=0),
                                  model.predict(x[:16], verbose=0))

    inputs = keras.Input(shape=(10,), name="features")
    h = layers.BatchNormalization()(layers.Dense(16, activation="relu")(inputs))
    functional = keras.Model(inputs=inputs, outputs=layers.Dense(1)(h))
    functional.compile(optimizer=keras.optimizers.Adam(1e-2), loss=keras.losses.MeanSquaredError(),
                       metrics=[keras.metrics.RootMeanSquaredError()])
    functional.fit(x, y, epochs=5, batch_size=64, verbose=0, validation_data=(x[:64], y[:64]))
    logs = functional.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["root_mean_squared_error"] == pytest.approx(np.sqrt(logs["loss"]), rel=1e-4)
    functional.save(tmp_path / "func")
    np.testing.assert_array_equal(keras.models.load_model(tmp_path / "func")(x[:8]),
                                  functional(x[:8]))


@keras.utils.register_keras_serializable(package="ports")
class Linear(keras.layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(name="w", shape=(input_shape[-1], self.units),
                                 initializer="random_normal", trainable=True)
        self.b = self.add_weight(name="b", shape=(self.units,), initializer="zeros",
                                 trainable=True)

    def call(self, inputs):
        return tf.matmul(inputs, self.w) + self.b

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


@keras.utils.register_keras_serializable(package="ports")
class HuberLike(keras.losses.Loss):
    def __init__(self, delta=1.0, name="huber_like", **kwargs):
        super().__init__(name=name, **kwargs)
        self.delta = delta

    def call(self, y_true, y_pred):
        err = tf.abs(y_true - y_pred)
        return tf.reduce_mean(tf.where(err <= self.delta, 0.5 * tf.square(err),
                                       self.delta * (err - 0.5 * self.delta)), axis=-1)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


@keras.utils.register_keras_serializable(package="ports")
class CountAbove(keras.metrics.Metric):
    def __init__(self, threshold=0.5, name="count_above", **kwargs):
        super().__init__(name=name, **kwargs)
        self.threshold = threshold
        self.count = self.add_weight(name="count", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.count.assign_add(tf.reduce_sum(
            tf.cast(tf.abs(y_true - y_pred) > self.threshold, tf.float32)))

    def result(self):
        return self.count

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


def test_custom_layer_loss_and_metric_train_save_and_reload(tmp_path):
    clone = Linear.from_config(Linear(4, name="lin").get_config())
    assert clone.units == 4 and clone.name == "lin"
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 3)).astype("float32")
    y = (x.sum(axis=1, keepdims=True) * 2.0).astype("float32")  # w = [2, 2, 2], b = 0
    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, Linear(1)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss=HuberLike(1.0),
                  metrics=[CountAbove(0.5)])
    history = model.fit(x, y, epochs=12, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 1e-3
    assert history.history["count_above"][0] > 100 and history.history["count_above"][-1] == 0
    np.testing.assert_allclose(model.layers[-1].w.numpy().ravel(), [2, 2, 2], atol=0.02)
    model.save(tmp_path / "m")
    loaded = keras.models.load_model(tmp_path / "m")  # registered: no custom_objects
    assert isinstance(loaded.loss, HuberLike) and loaded.loss.delta == 1.0
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_checkpoint_manager_custom_loop_restores_and_continues(tmp_path):
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.l1 = layers.Dense(5)

        def call(self, x):
            return self.l1(x)

    def toy_dataset():
        inputs = tf.range(10.)[:, None]
        labels = inputs * 5. + tf.range(5.)[None, :]
        return tf.data.Dataset.from_tensor_slices(dict(x=inputs, y=labels)).repeat().batch(2)

    @tf.function
    def train_step(net, example, optimizer):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.abs(net(example["x"]) - example["y"]))
        variables = net.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    net, opt = Net(), keras.optimizers.Adam(0.1)
    iterator = iter(toy_dataset())  # TF also tracks the iterator; xlaflow refuses that
    ckpt = tf.train.Checkpoint(step=tf.Variable(1), optimizer=opt, net=net)
    manager = tf.train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=3)
    assert manager.latest_checkpoint is None
    saved = {}
    losses = []
    for _ in range(50):
        losses.append(float(train_step(net, next(iterator), opt)))
        ckpt.step.assign_add(1)
        if int(ckpt.step) % 10 == 0:
            manager.save()
            saved[int(ckpt.step)] = (net.l1.kernel.numpy().copy(),
                                     int(opt.iterations.numpy()))
    assert len(manager.checkpoints) == 3
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])

    net2, opt2 = Net(), keras.optimizers.Adam(0.1)
    net2(tf.zeros((1, 1)))  # built first: xlaflow restores into existing variables only
    ckpt2 = tf.train.Checkpoint(step=tf.Variable(1), optimizer=opt2, net=net2)
    manager2 = tf.train.CheckpointManager(ckpt2, str(tmp_path), max_to_keep=3)
    ckpt2.restore(manager2.latest_checkpoint).assert_existing_objects_matched()
    assert int(ckpt2.step) == 50
    kernel, iterations = saved[50]
    np.testing.assert_array_equal(net2.l1.kernel.numpy(), kernel)
    assert int(opt2.iterations.numpy()) == iterations == 49
    iterator = iter(toy_dataset().skip(49))
    for _ in range(10):
        train_step(net2, next(iterator), opt2)
        ckpt2.step.assign_add(1)
    manager2.save()
    assert int(opt2.iterations.numpy()) == 59
    assert manager2.latest_checkpoint == manager2.checkpoints[-1]


def test_module_with_input_signature_saved_model_round_trip(tmp_path):
    class Dense(tf.Module):
        def __init__(self, in_features, out_features, name=None):
            super().__init__(name=name)
            self.w = tf.Variable(tf.random.normal([in_features, out_features]), name="w")
            self.b = tf.Variable(tf.zeros([out_features]), name="b")

        def __call__(self, x):
            return tf.nn.relu(tf.matmul(x, self.w) + self.b)

    class MySequentialModule(tf.Module):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.dense_1 = Dense(in_features=3, out_features=3)
            self.dense_2 = Dense(in_features=3, out_features=2)

        @tf.function(input_signature=[tf.TensorSpec(shape=[None, 3], dtype=tf.float32)])
        def __call__(self, x):
            return self.dense_2(self.dense_1(x))

        @tf.function(input_signature=[tf.TensorSpec(shape=[None, 3], dtype=tf.float32),
                                      tf.TensorSpec(shape=[], dtype=tf.float32)])
        def scaled(self, x, scale):
            return {"out": self.__call__(x) * scale}

    tf.random.set_seed(4)
    module = MySequentialModule(name="the_model")
    assert len(module.trainable_variables) == 4
    w1, b1, w2, b2 = (np.asarray(v) for v in (module.dense_1.w, module.dense_1.b,
                                              module.dense_2.w, module.dense_2.b))
    x = np.random.default_rng(2).normal(size=(5, 3)).astype("float32")
    expected = np.maximum(np.maximum(x @ w1 + b1, 0) @ w2 + b2, 0)
    np.testing.assert_allclose(module(x), expected, rtol=1e-5, atol=1e-6)

    path = str(tmp_path / "the_saved_model")
    tf.saved_model.save(module, path, signatures={"serving_default": module.__call__,
                                                  "scaled": module.scaled})
    loaded = tf.saved_model.load(path)
    np.testing.assert_allclose(loaded(x), expected, rtol=1e-5, atol=1e-6)  # TF's form
    np.testing.assert_allclose(loaded.scaled(x, 3.0)["out"], 3.0 * expected, rtol=1e-5,
                               atol=1e-6)
    assert sorted(loaded.signatures) == ["scaled", "serving_default"]
    (out,) = loaded.signatures["serving_default"](x=x).values()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    scaled = loaded.signatures["scaled"](x=x[:2], scale=np.float32(3.0))
    np.testing.assert_allclose(scaled["out"], 3.0 * expected[:2], rtol=1e-5, atol=1e-6)


def test_embedding_masked_recurrent_text_classifier():
    rng = np.random.default_rng(0)
    vocab, maxlen = 30, 10
    seqs = [rng.integers(1, vocab, size=n).tolist() for n in rng.integers(2, maxlen + 1, 256)]
    labels = np.array([int(3 in s or 7 in s) for s in seqs], dtype="float32")
    x = keras.preprocessing.sequence.pad_sequences(seqs, maxlen=maxlen, padding="post")
    tf.random.set_seed(0)
    model = keras.Sequential([
        keras.Input(shape=(None,), dtype="int32"),  # any length, as Keras text models
        layers.Embedding(vocab, 8, mask_zero=True),
        layers.GRU(16),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(2e-2), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, labels, epochs=8, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(x, labels, verbose=0)
    assert accuracy > 0.9  # the majority class alone is ~0.5
    # masked steps are ignored: trailing zeros do not change a prediction
    short = np.array([[3, 5, 0, 0, 0, 0, 0, 0, 0, 0]], dtype="int32")
    np.testing.assert_allclose(model.predict(short, verbose=0),
                               model.predict(short[:, :2], verbose=0), rtol=1e-5)
    assert float(model.predict(short, verbose=0)[0, 0]) > 0.5


def test_gan_two_optimizers_clip_by_global_norm():
    rng = np.random.default_rng(1)
    real = (rng.normal(size=(1024, 2)) * 0.5 + np.array([2.0, -1.0])).astype("float32")
    batch, noise_dim, clip = 64, 4, 1.0
    dataset = tf.data.Dataset.from_tensor_slices(real).shuffle(1024, seed=2).batch(
        batch, drop_remainder=True)
    tf.random.set_seed(1)
    generator = keras.Sequential([keras.Input(shape=(noise_dim,)), layers.Dense(16),
                                  layers.LeakyReLU(), layers.Dense(2)])
    discriminator = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(16),
                                      layers.LeakyReLU(alpha=0.2), layers.Dense(1)])
    cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
    generator_optimizer = keras.optimizers.Adam(1e-2, beta_1=0.5)
    discriminator_optimizer = keras.optimizers.Adam(1e-2, beta_1=0.5)

    @tf.function
    def train_step(images):
        noise = tf.random.normal([batch, noise_dim])
        # TF's tutorial opens two tapes in one `with`; xlaflow refuses that (see
        # test_tf2_port_gaps.py) and one persistent tape is the equivalent
        with tf.GradientTape(persistent=True) as tape:
            generated = generator(noise, training=True)
            real_output = discriminator(images, training=True)
            fake_output = discriminator(generated, training=True)
            gen_loss = cross_entropy(tf.ones_like(fake_output), fake_output)
            disc_loss = (cross_entropy(tf.ones_like(real_output), real_output)
                         + cross_entropy(tf.zeros_like(fake_output), fake_output))
        gen_grads = tape.gradient(gen_loss, generator.trainable_variables)
        disc_grads = tape.gradient(disc_loss, discriminator.trainable_variables)
        gen_grads, gen_norm = tf.clip_by_global_norm(gen_grads, clip)
        generator_optimizer.apply_gradients(zip(gen_grads, generator.trainable_variables))
        discriminator_optimizer.apply_gradients(
            zip(disc_grads, discriminator.trainable_variables))
        clipped_norm = tf.sqrt(sum(tf.reduce_sum(tf.square(g)) for g in gen_grads))
        return gen_norm, clipped_norm, noise

    def distance_to_real_mean():
        fake = np.asarray(generator(tf.random.normal([2000, noise_dim]), training=False))
        return np.linalg.norm(fake.mean(axis=0) - real.mean(axis=0))

    before = distance_to_real_mean()
    noises = []
    for _ in range(12):
        for images in dataset:
            norm, clipped_norm, noise = train_step(images)
            assert float(clipped_norm) <= clip * (1 + 1e-5)
            assert float(clipped_norm) == pytest.approx(min(float(norm), clip), rel=1e-4)
        noises.append(np.asarray(noise))
    assert train_step.tracing_count == 1
    assert not np.array_equal(noises[0], noises[1])  # tf.random draws anew per call
    assert distance_to_real_mean() < 0.5 * before


def test_data_pipeline_map_cache_prefetch_padded_batch_zip_repeat():
    autotune = tf.data.AUTOTUNE
    squares = tf.data.Dataset.range(10).map(lambda x: x * x, num_parallel_calls=autotune)
    squares = squares.cache().prefetch(autotune)
    assert [int(v) for v in squares] == [n * n for n in range(10)]
    assert [int(v) for v in squares] == [n * n for n in range(10)]  # from the cache

    seqs = tf.data.Dataset.from_generator(
        lambda: ([n] * n for n in range(1, 6)),
        output_signature=tf.TensorSpec(shape=(None,), dtype=tf.int32))
    batches = [np.asarray(b).tolist() for b in
               seqs.padded_batch(2, padded_shapes=[None], padding_values=-1)]
    assert batches == [[[1, -1], [2, 2]], [[3, 3, 3, -1], [4, 4, 4, 4]], [[5, 5, 5, 5, 5]]]

    labels = tf.data.Dataset.from_tensor_slices(np.arange(5, dtype="int32") % 2)
    zipped = tf.data.Dataset.zip((seqs, labels)).repeat(2)
    pairs = [(len(s), int(y)) for s, y in zipped]
    assert pairs == [(n, (n - 1) % 2) for n in range(1, 6)] * 2
    assert int(tf.data.experimental.cardinality(zipped)) == tf.data.UNKNOWN_CARDINALITY

    features = tf.data.Dataset.from_tensor_slices(
        {"a": np.arange(6, dtype="float32"), "b": np.ones(6, "float32")})
    features = features.map(lambda d: {"sum": d["a"] + d["b"]},
                            num_parallel_calls=autotune).batch(4)
    assert [b["sum"].tolist() for b in features] == [[1, 2, 3, 4], [5, 6]]
    assert int(features.cardinality()) == 2
    evens = tf.data.Dataset.range(10).filter(lambda x: x % 2 == 0)
    assert int(evens.reduce(np.int64(0), lambda s, x: s + x)) == 20
    one_epoch = [int(v) for v in tf.data.Dataset.range(20).shuffle(20, seed=3)]
    assert sorted(one_epoch) == list(range(20)) and one_epoch != list(range(20))
