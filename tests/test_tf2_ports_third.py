"""A third round of whole TF2 programs, written as TF2 tutorials and Keras 2 guides write
them, with only the imports changed (`import xlaflow as tf`, `from xlaflow import keras`).

Each asserts an outcome known without xlaflow: a reconstruction or forecast error below a
baseline computed from the data, a closed-form gradient or Hessian, values equal to Python's
own loop, reloaded predictions equal to the originals.
"""

import os

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras
from xlaflow.keras import layers


@pytest.fixture(autouse=True)
def _seeded():
    # seeded (xlaflow's, NumPy's and Python's streams: fit shuffles with NumPy's), a run
    # does not depend on the tests before it in the worker (XF_PORT_SEED chooses the seed)
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


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
    train_ds = keras.utils.timeseries_dataset_from_array(
        features[:-window], features[window:, 0], sequence_length=window,
        end_index=800, batch_size=64, shuffle=True, seed=0)
    val_ds = keras.utils.timeseries_dataset_from_array(
        features[:-window], features[window:, 0], sequence_length=window,
        start_index=800, batch_size=64)
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
    val = features[800:, 0]
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
    # TF's guide runs these tapes eagerly; xlaflow records a tape by converting its block,
    # so they run in a tf.function (eager tapes are refused, naming this form)
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


class TransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim, self.num_heads, self.ff_dim, self.rate = embed_dim, num_heads, ff_dim, rate
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential(
            [layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs, training=None, mask=None):
        attention_mask = None
        if mask is not None:  # padded keys get no attention
            attention_mask = tf.cast(mask[:, tf.newaxis, :], tf.int32)
        attn_output = self.att(inputs, inputs, attention_mask=attention_mask)
        attn_output = self.dropout1(attn_output, training=training)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output, training=training)
        return self.layernorm2(out1 + ffn_output)

    def get_config(self):
        config = super().get_config()
        config.update({"embed_dim": self.embed_dim, "num_heads": self.num_heads,
                       "ff_dim": self.ff_dim, "rate": self.rate})
        return config


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim,
                                          mask_zero=True)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = tf.shape(x)[-1]
        positions = tf.range(start=0, limit=maxlen, delta=1)
        positions = self.pos_emb(positions)
        x = self.token_emb(x)
        return x + positions

    def compute_mask(self, inputs, mask=None):
        return self.token_emb.compute_mask(inputs)


class CustomSchedule(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, d_model, warmup_steps=4000):
        super().__init__()
        self.d_model = d_model
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = tf.cast(step, dtype=tf.float32)
        arg1 = tf.math.rsqrt(step)
        arg2 = step * (self.warmup_steps ** -1.5)
        return tf.math.rsqrt(tf.cast(self.d_model, tf.float32)) * tf.math.minimum(arg1, arg2)

    def get_config(self):
        return {"d_model": self.d_model, "warmup_steps": self.warmup_steps}


def test_transformer_block_text_classifier_with_warmup_schedule_and_padding_mask():
    # label: does token 5 come before token 9 in the (padded) sequence? order needs attention
    rng = np.random.default_rng(4)
    vocab_size, maxlen, embed_dim = 12, 10, 16
    n = 768
    lengths = rng.integers(4, maxlen + 1, n)
    x = np.zeros((n, maxlen), "int32")
    y = np.zeros(n, "int32")
    for i, length in enumerate(lengths):
        seq = rng.integers(1, vocab_size, length)
        seq[seq == 5] = 1
        seq[seq == 9] = 2
        a, b = rng.choice(length, 2, replace=False)
        seq[a], seq[b] = 5, 9
        x[i, :length] = seq
        y[i] = int(a < b)

    # the schedule's d_model sets the peak rate: 256 (not this model's 16) keeps it near
    # 6e-3, which a 16-wide block trains at (16 gives 3e-2, where it does not learn)
    schedule = CustomSchedule(256, warmup_steps=100)
    steps = np.array([1.0, 50.0, 100.0, 300.0], "float32")
    expected = 256 ** -0.5 * np.minimum(steps ** -0.5, steps * 100 ** -1.5)
    np.testing.assert_allclose([float(schedule(s)) for s in steps], expected, rtol=1e-6)
    assert CustomSchedule(**schedule.get_config()).warmup_steps == 100

    tf.random.set_seed(4)
    inputs = layers.Input(shape=(maxlen,))
    embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
    h = embedding_layer(inputs)
    transformer_block = TransformerBlock(embed_dim, num_heads=2, ff_dim=32)
    h = transformer_block(h)
    h = layers.GlobalAveragePooling1D()(h)
    h = layers.Dropout(0.1)(h)
    h = layers.Dense(16, activation="relu")(h)
    outputs = layers.Dense(2, activation="softmax")(h)
    model = keras.Model(inputs=inputs, outputs=outputs)
    optimizer = keras.optimizers.Adam(schedule, beta_1=0.9, beta_2=0.98, epsilon=1e-9)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x[:640], y[:640], batch_size=32, epochs=12, verbose=0)
    assert history.history["accuracy"][-1] > 0.85
    held_out = model.evaluate(x[640:], y[640:], verbose=0, return_dict=True)
    assert held_out["accuracy"] > 0.85  # chance is 0.5
    assert float(optimizer.learning_rate) == pytest.approx(
        float(schedule(int(optimizer.iterations))), rel=1e-6)

    # padded keys get no attention: garbage at padded positions changes no other output
    probe = x[640:648]
    block = embedding_layer(tf.constant(probe))
    mask = embedding_layer.compute_mask(tf.constant(probe))
    out = transformer_block(block, mask=mask)
    changed = np.asarray(block).copy()
    changed[~np.asarray(mask)] = 100.0  # garbage at padded positions
    out_changed = transformer_block(tf.constant(changed), mask=mask)
    keep = np.asarray(mask)
    np.testing.assert_allclose(np.asarray(out_changed)[keep], np.asarray(out)[keep],
                               rtol=1e-4, atol=1e-5)

    config = transformer_block.get_config()
    clone = TransformerBlock.from_config(config)
    assert (clone.embed_dim, clone.num_heads, clone.ff_dim) == (embed_dim, 2, 32)


def test_autograph_loops_break_tensor_array_cond_while_loop_print_and_asserts(capsys):
    @tf.function
    def collatz_steps(n):
        steps = tf.constant(0)
        while n != 1:
            if n % 2 == 0:
                n = n // 2
            else:
                n = 3 * n + 1
            steps += 1
        return steps

    def python_collatz(n):
        steps = 0
        while n != 1:
            n = n // 2 if n % 2 == 0 else 3 * n + 1
            steps += 1
        return steps

    for n in (1, 6, 7, 27):
        assert int(collatz_steps(tf.constant(n))) == python_collatz(n)
    assert collatz_steps.experimental_get_tracing_count() == 1

    @tf.function
    def first_above(x, threshold):
        found = tf.constant(-1)
        for i in tf.range(tf.shape(x)[0]):
            if x[i] > threshold:
                found = i
                break
        return found

    x = np.array([0.5, 1.5, 3.0, 0.1], "float32")
    assert [int(first_above(x, tf.constant(t))) for t in (1.0, 2.0, 5.0)] == [1, 2, -1]

    @tf.function
    def fibonacci(n):
        ta = tf.TensorArray(tf.int32, size=10, element_shape=())
        a, b = tf.constant(0), tf.constant(1)
        for i in tf.range(10):
            ta = ta.write(i, a)
            a, b = b, a + b
        tf.print("first:", ta.read(0), "last:", ta.read(n - 1))
        return ta.stack()

    np.testing.assert_array_equal(fibonacci(tf.constant(10)), [0, 1, 1, 2, 3, 5, 8, 13, 21, 34])
    assert "first: 0 last: 34" in capsys.readouterr().err  # TF prints to stderr

    @tf.function
    def explicit(x):
        y = tf.cond(tf.reduce_sum(x) > 0, lambda: x * 2.0, lambda: -x)
        i, acc = tf.while_loop(lambda i, acc: i < 4, lambda i, acc: (i + 1, acc * 2.0),
                               (tf.constant(0), y))
        tf.debugging.assert_equal(i, 4)
        tf.debugging.assert_positive(acc, message="acc must be positive")
        return acc

    np.testing.assert_allclose(explicit(np.array([1.0, 2.0], "float32")), [32.0, 64.0])
    np.testing.assert_allclose(explicit(np.array([-1.0, -2.0], "float32")), [16.0, 32.0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="acc must be positive"):
        explicit(np.array([3.0, -1.0], "float32"))  # sum > 0, but 2 * -1 < 0

    @tf.function
    def clipped_mean(values):
        tf.debugging.assert_rank(values, 1)
        total = tf.constant(0.0)
        count = 0  # a Python int, counted at trace time: the loop over a list unrolls
        for v in [values[0], values[1], values[2]]:
            total += tf.minimum(v, 1.0)
            count += 1
        return total / count

    assert float(clipped_mean(np.array([0.5, 2.0, 0.5], "float32"))) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="rank 1"):
        clipped_mean(np.zeros((3, 1), "float32"))


class ScaledDense(keras.layers.Layer):
    def __init__(self, units, l2=1e-3, max_norm=2.0, **kwargs):
        super().__init__(**kwargs)
        self.units, self.l2, self.max_norm = units, l2, max_norm

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=(input_shape[-1], self.units), initializer="glorot_uniform",
            regularizer=keras.regularizers.l2(self.l2),
            constraint=keras.constraints.MaxNorm(self.max_norm, axis=0), trainable=True)
        self.scale = self.add_weight(name="scale", shape=(self.units,), initializer="ones",
                                     constraint=keras.constraints.NonNeg(), trainable=True)
        self.calls = self.add_weight(name="calls", shape=(), initializer="zeros",
                                     trainable=False)
        super().build(input_shape)

    def call(self, inputs, training=None):
        if training:
            self.calls.assign_add(1.0)
        return tf.matmul(inputs, self.kernel) * self.scale

    def get_config(self):
        return {**super().get_config(), "units": self.units, "l2": self.l2,
                "max_norm": self.max_norm}


class TwoLayerNet(keras.Model):
    def __init__(self, hidden=16, **kwargs):
        super().__init__(**kwargs)
        self.hidden = hidden
        self.block = ScaledDense(hidden, name="scaled")
        self.out = layers.Dense(1, kernel_regularizer="l1", name="head")

    def call(self, inputs, training=None):
        return self.out(tf.nn.relu(self.block(inputs, training=training)))

    def get_config(self):
        return {"hidden": self.hidden}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def test_subclassed_model_build_add_weight_constraints_config_and_keras_file(tmp_path, capsys):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (np.sin(x[:, :1]) + x[:, 1:2] ** 2 * 0.5).astype("float32")
    tf.random.set_seed(5)
    model = TwoLayerNet(hidden=16)
    model.build((None, 4))
    model.summary()
    printed = capsys.readouterr().out
    # kernel 4*16 + scale 16 + calls 1; head 16 + 1
    assert "Total params: 98" in printed and "Non-trainable params: 1" in printed
    assert "scaled (ScaledDense)" in printed

    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    history = model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.25 * float(np.var(y))
    block = model.block
    assert float(block.calls.numpy()) == 20 * 8  # one per training batch
    assert np.all(np.linalg.norm(block.kernel.numpy(), axis=0) <= 2.0 + 1e-5)
    assert np.all(block.scale.numpy() >= 0)
    # the regularization losses are the closed forms of the current weights
    l2_term = 1e-3 * np.sum(block.kernel.numpy() ** 2)
    l1_term = 0.01 * np.sum(np.abs(model.out.kernel.numpy()))
    np.testing.assert_allclose(sorted(float(v) for v in model.losses),
                               sorted([l2_term, l1_term]), rtol=1e-5)

    clone = ScaledDense.from_config(block.get_config())
    assert (clone.units, clone.l2, clone.max_norm, clone.name) == (16, 1e-3, 2.0, "scaled")

    path = str(tmp_path / "net.keras")
    model.save(path)
    reloaded = keras.models.load_model(
        path, custom_objects={"TwoLayerNet": TwoLayerNet, "ScaledDense": ScaledDense})
    assert isinstance(reloaded, TwoLayerNet) and reloaded.hidden == 16
    np.testing.assert_array_equal(reloaded.predict(x[:32], verbose=0),
                                  model.predict(x[:32], verbose=0))
    assert float(reloaded.block.calls.numpy()) == 160  # non-trainable state is saved too
