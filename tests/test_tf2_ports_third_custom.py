"""The third round of whole TF2 programs, continued: programs built on user-defined layers
and models (a Transformer block, a subclassed model with add_weight and constraints) and on
AutoGraph loops, written as TF2 tutorials write them with only the imports changed.

Each asserts an outcome known without xlaflow: accuracy above a baseline computed from the
data, values equal to Python's own loop, reloaded predictions equal to the originals.
"""

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras
from xlaflow.keras import layers

pytestmark = pytest.mark.usefixtures("port_seed")


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
