"""A third round of whole TF2 programs, written as TF2 tutorials and Keras 2 guides write
them, with only the imports changed (`import xlaflow as tf`, `from xlaflow import keras`).

Each asserts an outcome known without xlaflow: a reconstruction or forecast error below a
baseline computed from the data, a closed-form gradient or Hessian, reloaded predictions
equal to the originals. The round's programs built on user-defined layers and AutoGraph
loops are in test_tf2_ports_third_custom.py.
"""

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras
from xlaflow.keras import layers

pytestmark = pytest.mark.usefixtures("port_seed")


def test_variational_autoencoder_add_loss_and_custom_train_step():
    # 8 features in (0, 1) driven by a 2-d latent: a 2-d code can reconstruct them
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(1024, 2)).astype("float32")
    data = 1 / (1 + np.exp(-(latent @ rng.normal(size=(2, 8)) * 4.0)))
    data = data.astype("float32")
    latent_dim = 2

    class Sampling(layers.Layer):
        """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch = tf.shape(z_mean)[0]
            dim = tf.shape(z_mean)[1]
            epsilon = tf.random.normal(shape=(batch, dim))
            return z_mean + tf.exp(0.5 * z_log_var) * epsilon

    class KLDivergence(layers.Layer):
        def call(self, inputs):
            z_mean, z_log_var = inputs
            kl = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
            self.add_loss(tf.reduce_mean(tf.reduce_sum(kl, axis=1)))
            return inputs

    encoder_inputs = keras.Input(shape=(8,))
    x = layers.Dense(32, activation="relu")(encoder_inputs)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z_mean, z_log_var = KLDivergence()([z_mean, z_log_var])
    z = Sampling()([z_mean, z_log_var])
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")

    latent_inputs = keras.Input(shape=(latent_dim,))
    x = layers.Dense(32, activation="relu")(latent_inputs)
    decoder_outputs = layers.Dense(8, activation="sigmoid")(x)
    decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")

    class VAE(keras.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder = encoder
            self.decoder = decoder
            self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
            self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
            self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

        @property
        def metrics(self):
            return [self.total_loss_tracker, self.reconstruction_loss_tracker,
                    self.kl_loss_tracker]

        def call(self, inputs):
            return self.decoder(self.encoder(inputs)[0])

        def train_step(self, data):
            with tf.GradientTape() as tape:
                _, _, z = self.encoder(data)
                reconstruction = self.decoder(z)
                reconstruction_loss = tf.reduce_mean(tf.reduce_sum(
                    keras.losses.binary_crossentropy(data[..., None], reconstruction[..., None]),
                    axis=1))
                kl_loss = tf.add_n(self.encoder.losses)
                total_loss = reconstruction_loss + kl_loss
            grads = tape.gradient(total_loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            self.total_loss_tracker.update_state(total_loss)
            self.reconstruction_loss_tracker.update_state(reconstruction_loss)
            self.kl_loss_tracker.update_state(kl_loss)
            return {m.name: m.result() for m in self.metrics}

    tf.random.set_seed(0)
    vae = VAE(encoder, decoder)
    vae.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = vae.fit(data, epochs=15, batch_size=64, verbose=0)
    assert set(history.history) == {"total_loss", "reconstruction_loss", "kl_loss"}
    np.testing.assert_allclose(
        history.history["total_loss"],
        np.add(history.history["reconstruction_loss"], history.history["kl_loss"]), rtol=1e-5)

    # the KL term add_loss recorded is the closed form of the encoder's outputs
    mean, log_var, _ = (np.asarray(t) for t in encoder(data[:256]))
    kl = -0.5 * (1 + log_var - mean ** 2 - np.exp(log_var))
    assert len(encoder.losses) == 1
    np.testing.assert_allclose(float(encoder.losses[0]), kl.sum(1).mean(), rtol=1e-4)
    # decoding the mean code beats predicting every feature's mean by far
    reconstructed = np.asarray(vae.predict(data, verbose=0))
    baseline = np.mean((data - data.mean(0)) ** 2)
    assert np.mean((reconstructed - data) ** 2) < 0.5 * baseline  # seed 0: 0.33
    rec = history.history["reconstruction_loss"]
    assert rec[-1] < 0.85 * rec[0]


def test_time_series_forecasting_lstm_with_early_stopping_and_lr_plateau():
    # a noisy sum of two sines; forecast the next step from the last 16
    rng = np.random.default_rng(1)
    t = np.arange(1200, dtype="float32")
    series = np.sin(2 * np.pi * t / 25) + 0.5 * np.sin(2 * np.pi * t / 7)
    series = (series + 0.05 * rng.normal(size=t.shape)).astype("float32")
    features = series[:, None]
    window = 16
    mean, std = features[:800].mean(), features[:800].std()
    features = (features - mean) / std
    # 768 training and 320 validation windows, 12 and 5 full batches of 64: a shorter last
    # batch would compile a second train step and a second test step (~25% of the test)
    train_ds = keras.utils.timeseries_dataset_from_array(
        features[:-window], features[window:, 0], sequence_length=window,
        end_index=783, batch_size=64, shuffle=True, seed=0)
    val_ds = keras.utils.timeseries_dataset_from_array(
        features[:-window], features[window:, 0], sequence_length=window,
        start_index=800, end_index=1135, batch_size=64)
    assert sum(len(y) for _, y in train_ds) == 768 and sum(len(y) for _, y in val_ds) == 320
    for batch in train_ds.take(1):
        inputs, targets = batch
    assert inputs.shape == (64, window, 1) and targets.shape == (64,)

    tf.random.set_seed(1)
    inputs = keras.layers.Input(shape=(window, 1))
    lstm_out = keras.layers.LSTM(24)(inputs)
    outputs = keras.layers.Dense(1)(lstm_out)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2), loss="mse",
                  metrics=[keras.metrics.MeanAbsoluteError()])
    es_callback = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=4,
                                                restore_best_weights=True)
    lr_callback = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5,
                                                    patience=2, verbose=0)
    history = model.fit(train_ds, epochs=12, validation_data=val_ds,
                        callbacks=[es_callback, lr_callback], verbose=0)
    results = model.evaluate(val_ds, verbose=0, return_dict=True)
    assert set(results) == {"loss", "mean_absolute_error"}
    assert len(history.history["lr"]) == len(history.history["loss"])
    # persistence (tomorrow = today) is the baseline a forecaster must beat
    val = features[800:1136, 0]  # the validation windows' inputs and targets
    persistence = np.mean((val[window:] - val[window - 1:-1]) ** 2)
    assert results["loss"] < 0.3 * persistence

    # Keras 2's rules, made to fire: with a min_delta no epoch reaches, only the first
    # epoch improves (on infinity), so training stops after `patience` more and restores
    # the first epoch's weights, and the rate halves after `patience` epochs (each epoch
    # logs the rate it trained with)
    lr_before = float(model.optimizer.learning_rate)
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=1e9, patience=1,
                                            restore_best_weights=True)
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1,
                                                min_delta=1e9)
    more = model.fit(train_ds, epochs=10, validation_data=val_ds,
                     callbacks=[stopper, plateau], verbose=0)
    assert len(more.history["loss"]) == 2 and stopper.stopped_epoch == 1
    assert model.evaluate(val_ds, verbose=0) == pytest.approx(
        [more.history["val_loss"][0], more.history["val_mean_absolute_error"][0]], rel=1e-5)
    assert more.history["lr"] == pytest.approx([lr_before, lr_before])
    assert float(model.optimizer.learning_rate) == pytest.approx(lr_before * 0.5)


def test_multi_input_multi_output_functional_model_with_named_losses():
    num_tags, num_words, num_departments = 6, 50, 3
    title_input = keras.Input(shape=(None,), name="title")
    body_input = keras.Input(shape=(None,), name="body")
    tags_input = keras.Input(shape=(num_tags,), name="tags")
    title_features = layers.Embedding(num_words, 8)(title_input)
    body_features = layers.Embedding(num_words, 8)(body_input)
    title_features = layers.GlobalAveragePooling1D()(title_features)
    body_features = layers.GlobalAveragePooling1D()(body_features)
    x = layers.concatenate([title_features, body_features, tags_input])
    x = layers.Dense(16, activation="relu")(x)
    priority_pred = layers.Dense(1, name="priority")(x)
    department_pred = layers.Dense(num_departments, name="department")(x)
    model = keras.Model(inputs=[title_input, body_input, tags_input],
                        outputs=[priority_pred, department_pred])
    assert model.output_names == ["priority", "department"]

    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-2),
        loss={"priority": keras.losses.BinaryCrossentropy(from_logits=True),
              "department": keras.losses.CategoricalCrossentropy(from_logits=True)},
        loss_weights={"priority": 1.0, "department": 0.2},
        metrics={"department": ["accuracy"]},
    )
    rng = np.random.default_rng(2)
    n = 512
    title_data = rng.integers(0, num_words, size=(n, 5))
    body_data = rng.integers(0, num_words, size=(n, 12))
    tags_data = rng.integers(0, 2, size=(n, num_tags)).astype("float32")
    priority_targets = (tags_data[:, 0] + tags_data[:, 1] >= 1).astype("float32")[:, None]
    department_targets = keras.utils.to_categorical(
        tags_data[:, 2] + tags_data[:, 3] * (1 - tags_data[:, 2]) * 2, num_departments)
    history = model.fit(
        {"title": title_data, "body": body_data, "tags": tags_data},
        {"priority": priority_targets, "department": department_targets},
        epochs=15, batch_size=32, verbose=0)
    assert {"loss", "priority_loss", "department_loss", "department_accuracy"} == set(
        history.history)
    logs = model.evaluate({"title": title_data, "body": body_data, "tags": tags_data},
                          {"priority": priority_targets, "department": department_targets},
                          batch_size=n, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(
        logs["priority_loss"] + 0.2 * logs["department_loss"], rel=1e-5)
    assert logs["department_accuracy"] > 0.9  # the tags decide it; chance is ~1/3

    priority, department = model.predict(
        {"title": title_data[:64], "body": body_data[:64], "tags": tags_data[:64]}, verbose=0)
    assert priority.shape == (64, 1) and department.shape == (64, num_departments)
    assert np.mean((priority[:, 0] > 0) == (priority_targets[:64, 0] > 0.5)) > 0.9
    # the list form of the inputs gives the same predictions
    again = model.predict([title_data[:64], body_data[:64], tags_data[:64]], verbose=0)
    np.testing.assert_allclose(again[1], department, rtol=1e-6)


def test_higher_order_gradients_persistent_tape_and_input_signature():
    # TF's guide runs these tapes eagerly (tests/tape/test_eager_tape.py runs them so);
    # here in a tf.function, with an input_signature
    @tf.function
    def cube_derivatives(x):
        with tf.GradientTape() as t2:
            t2.watch(x)
            with tf.GradientTape() as t1:
                t1.watch(x)
                y = x * x * x
            dy_dx = t1.gradient(y, x)
        d2y_dx2 = t2.gradient(dy_dx, x)
        return dy_dx, d2y_dx2

    dy_dx, d2y_dx2 = cube_derivatives(tf.constant(3.0))
    assert float(dy_dx) == 27.0 and float(d2y_dx2) == 18.0

    @tf.function
    def persistent_gradients(x):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = x * x
            z = y * y
            frozen = tf.stop_gradient(y) * x
        dz_dx = tape.gradient(z, x)
        dy_dx = tape.gradient(y, x)
        dfrozen_dx = tape.gradient(frozen, x)
        del tape
        return dz_dx, dy_dx, dfrozen_dx

    dz_dx, dy_dx, dfrozen_dx = persistent_gradients(tf.constant([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(dz_dx, 4 * np.array([1.0, 8.0, 27.0]))
    np.testing.assert_allclose(dy_dx, [2.0, 4.0, 6.0])
    np.testing.assert_allclose(dfrozen_dx, [1.0, 4.0, 9.0])  # y is a constant to the tape

    # Hessian-vector product of f(w) = sum(tanh(A w)) inside a compiled function
    rng = np.random.default_rng(3)
    a = rng.normal(size=(4, 3)).astype("float32")
    w = tf.Variable(rng.normal(size=(3,)).astype("float32"))

    @tf.function(input_signature=[tf.TensorSpec(shape=[3], dtype=tf.float32)])
    def hvp(v):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                loss = tf.reduce_sum(tf.tanh(tf.linalg.matvec(a, w)))
            grad = inner.gradient(loss, w)
            grad_dot_v = tf.reduce_sum(grad * v)
        return outer.gradient(grad_dot_v, w)

    v = np.array([1.0, -1.0, 0.5], "float32")
    u = np.tanh(a @ w.numpy())
    hessian = a.T @ np.diag(-2 * u * (1 - u ** 2)) @ a  # d/dw of A^T (1 - tanh^2)
    np.testing.assert_allclose(hvp(v), hessian @ v, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(hvp(tf.constant([0.0, 1.0, 0.0])), hessian[:, 1],
                               rtol=1e-4, atol=1e-6)
    assert hvp.experimental_get_tracing_count() == 1
    with pytest.raises((TypeError, ValueError)):
        hvp(tf.constant([1.0, 2.0]))  # the signature fixes the shape


def test_basic_training_loop_module_saved_model_and_checkpoint_write_read(tmp_path):
    TRUE_W, TRUE_B = 3.0, 2.0
    NUM_EXAMPLES = 201
    x = tf.linspace(-2, 2, NUM_EXAMPLES)
    x = tf.cast(x, tf.float32)

    def f(x):
        return x * TRUE_W + TRUE_B

    noise = tf.random.normal(shape=[NUM_EXAMPLES])
    y = f(x) + noise

    class MyModel(tf.Module):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.w = tf.Variable(5.0)
            self.b = tf.Variable(0.0)

        @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.float32)])
        def __call__(self, x):
            return self.w * x + self.b

    def loss(target_y, predicted_y):
        return tf.reduce_mean(tf.square(target_y - predicted_y))

    def train(model, x, y, learning_rate):
        with tf.GradientTape() as t:
            current_loss = loss(y, model(x))
        dw, db = t.gradient(current_loss, [model.w, model.b])
        model.w.assign_sub(learning_rate * dw)
        model.b.assign_sub(learning_rate * db)
        return current_loss

    train = tf.function(train)  # xlaflow records tapes in compiled code
    model = MyModel()
    assert len(model.variables) == 2
    losses = [float(train(model, x, y, learning_rate=0.1)) for _ in range(60)]
    # least squares on the same data is the best any (w, b) can do
    xs, ys = np.asarray(x), np.asarray(y)
    w_ls, b_ls = np.polyfit(xs, ys, 1)
    assert float(model.w) == pytest.approx(w_ls, abs=1e-2)
    assert float(model.b) == pytest.approx(b_ls, abs=1e-2)
    assert losses[-1] == pytest.approx(np.mean((w_ls * xs + b_ls - ys) ** 2), rel=1e-3)
    assert losses[0] > 3 * losses[-1]

    # checkpoint: write, change the variables, read them back
    checkpoint = tf.train.Checkpoint(model=model)
    path = checkpoint.write(str(tmp_path / "ckpt" / "my_checkpoint"))
    trained = (float(model.w), float(model.b))
    model.w.assign(0.0)
    model.b.assign(0.0)
    checkpoint.read(path).assert_consumed()
    assert (float(model.w), float(model.b)) == trained

    new_model = MyModel()
    tf.train.Checkpoint(model=new_model).read(path)
    assert (float(new_model.w), float(new_model.b)) == trained

    # SavedModel: the concrete function of the input signature serves without the class
    tf.saved_model.save(model, str(tmp_path / "saved"))
    reloaded = tf.saved_model.load(str(tmp_path / "saved"))
    serve = reloaded.signatures["serving_default"]
    (out,) = serve(x=xs[:5]).values()
    np.testing.assert_allclose(out, trained[0] * xs[:5] + trained[1], rtol=1e-6)
    concrete = model.__call__.get_concrete_function()
    np.testing.assert_allclose(concrete(x[:5]), out, rtol=1e-6)
