"""The twenty-fourth round (see test_tf2_ports.py): TF's tutorial "Neural machine translation
with a Transformer and Keras" (TF 2.12) as written, imports changed, except where a line says
why. This part holds the tutorial's model code (module level, as the tutorial defines it) and
its per-layer checks (_twentyfourth_c.py: causal attention, the stacks, the schedule, the loss);
_twentyfourth_b.py trains it on a synthetic translation and decodes.

What changed: the text tokenizers (ragged, TF Text) become integer tokens (0 pads, 1 is
[START], 2 is [END]); the sizes are tiny (d_model 16-32, 1-2 layers); `x._keras_mask` is read
with keras.backend.get_keras_mask (a jax.Array takes no attributes), and the Transformer drops
its logits' mask with keras.backend.set_keras_mask(logits, None) (`del logits._keras_mask`
cannot reach xlaflow's side table; set_keras_mask is new). Fixed in xlaflow: a layer called
with its first argument by name (`self.mha(query=x, value=x, key=x)`, `self.cross_attention(
x=x, context=context)`) failed in Layer.__call__.

Oracles here: NumPy's positional-encoding formula and embedding lookup; masks equal to
tokens != 0; cross-attention weights zero on padded context and summing to 1; LayerNorm's
per-position mean 0 and variance 1.
"""

import os

import numpy as np
import pytest

import xlaflow as tf


@pytest.fixture(autouse=True)
def _seeded():
    tf.keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))



def positional_encoding(length, depth):
    depth = depth/2

    positions = np.arange(length)[:, np.newaxis]     # (seq, 1)
    depths = np.arange(depth)[np.newaxis, :]/depth   # (1, depth)

    angle_rates = 1 / (10000**depths)         # (1, depth)
    angle_rads = positions * angle_rates      # (pos, depth)

    pos_encoding = np.concatenate(
        [np.sin(angle_rads), np.cos(angle_rads)],
        axis=-1)

    return tf.cast(pos_encoding, dtype=tf.float32)


class PositionalEmbedding(tf.keras.layers.Layer):
    def __init__(self, vocab_size, d_model):
        super().__init__()
        self.d_model = d_model
        self.embedding = tf.keras.layers.Embedding(vocab_size, d_model, mask_zero=True)
        self.pos_encoding = positional_encoding(length=2048, depth=d_model)

    def compute_mask(self, *args, **kwargs):
        return self.embedding.compute_mask(*args, **kwargs)

    def call(self, x):
        length = tf.shape(x)[1]
        x = self.embedding(x)
        # This factor sets the relative scale of the embedding and positonal_encoding.
        x *= tf.math.sqrt(tf.cast(self.d_model, tf.float32))
        x = x + self.pos_encoding[tf.newaxis, :length, :]
        return x


class BaseAttention(tf.keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__()
        self.mha = tf.keras.layers.MultiHeadAttention(**kwargs)
        self.layernorm = tf.keras.layers.LayerNormalization()
        self.add = tf.keras.layers.Add()


class CrossAttention(BaseAttention):
    def call(self, x, context):
        attn_output, attn_scores = self.mha(
            query=x,
            key=context,
            value=context,
            return_attention_scores=True)

        # Cache the attention scores for plotting later.
        self.last_attn_scores = attn_scores

        x = self.add([x, attn_output])
        x = self.layernorm(x)

        return x


class GlobalSelfAttention(BaseAttention):
    def call(self, x):
        attn_output = self.mha(
            query=x,
            value=x,
            key=x)
        x = self.add([x, attn_output])
        x = self.layernorm(x)
        return x


class CausalSelfAttention(BaseAttention):
    def call(self, x):
        attn_output = self.mha(
            query=x,
            value=x,
            key=x,
            use_causal_mask = True)
        x = self.add([x, attn_output])
        x = self.layernorm(x)
        return x


class FeedForward(tf.keras.layers.Layer):
    def __init__(self, d_model, dff, dropout_rate=0.1):
        super().__init__()
        self.seq = tf.keras.Sequential([
          tf.keras.layers.Dense(dff, activation='relu'),
          tf.keras.layers.Dense(d_model),
          tf.keras.layers.Dropout(dropout_rate)
        ])
        self.add = tf.keras.layers.Add()
        self.layer_norm = tf.keras.layers.LayerNormalization()

    def call(self, x):
        x = self.add([x, self.seq(x)])
        x = self.layer_norm(x)
        return x


class EncoderLayer(tf.keras.layers.Layer):
    def __init__(self,*, d_model, num_heads, dff, dropout_rate=0.1):
        super().__init__()

        self.self_attention = GlobalSelfAttention(
            num_heads=num_heads,
            key_dim=d_model,
            dropout=dropout_rate)

        self.ffn = FeedForward(d_model, dff)

    def call(self, x):
        x = self.self_attention(x)
        x = self.ffn(x)
        return x


class Encoder(tf.keras.layers.Layer):
    def __init__(self, *, num_layers, d_model, num_heads,
                 dff, vocab_size, dropout_rate=0.1):
        super().__init__()

        self.d_model = d_model
        self.num_layers = num_layers

        self.pos_embedding = PositionalEmbedding(
            vocab_size=vocab_size, d_model=d_model)

        self.enc_layers = [
            EncoderLayer(d_model=d_model,
                         num_heads=num_heads,
                         dff=dff,
                         dropout_rate=dropout_rate)
            for _ in range(num_layers)]
        self.dropout = tf.keras.layers.Dropout(dropout_rate)

    def call(self, x):
        # `x` is token-IDs shape: (batch, seq_len)
        x = self.pos_embedding(x)  # Shape `(batch_size, seq_len, d_model)`.

        # Add dropout.
        x = self.dropout(x)

        for i in range(self.num_layers):
            x = self.enc_layers[i](x)

        return x  # Shape `(batch_size, seq_len, d_model)`.


class DecoderLayer(tf.keras.layers.Layer):
    def __init__(self,
                 *,
                 d_model,
                 num_heads,
                 dff,
                 dropout_rate=0.1):
        super(DecoderLayer, self).__init__()  # noqa: UP008 -- as written

        self.causal_self_attention = CausalSelfAttention(
            num_heads=num_heads,
            key_dim=d_model,
            dropout=dropout_rate)

        self.cross_attention = CrossAttention(
            num_heads=num_heads,
            key_dim=d_model,
            dropout=dropout_rate)

        self.ffn = FeedForward(d_model, dff)

    def call(self, x, context):
        x = self.causal_self_attention(x=x)
        x = self.cross_attention(x=x, context=context)

        # Cache the last attention scores for plotting later
        self.last_attn_scores = self.cross_attention.last_attn_scores

        x = self.ffn(x)  # Shape `(batch_size, seq_len, d_model)`.
        return x


class Decoder(tf.keras.layers.Layer):
    def __init__(self, *, num_layers, d_model, num_heads, dff, vocab_size,
                 dropout_rate=0.1):
        super(Decoder, self).__init__()  # noqa: UP008 -- as written

        self.d_model = d_model
        self.num_layers = num_layers

        self.pos_embedding = PositionalEmbedding(vocab_size=vocab_size,
                                                 d_model=d_model)
        self.dropout = tf.keras.layers.Dropout(dropout_rate)
        self.dec_layers = [
            DecoderLayer(d_model=d_model, num_heads=num_heads,
                         dff=dff, dropout_rate=dropout_rate)
            for _ in range(num_layers)]

        self.last_attn_scores = None

    def call(self, x, context):
        # `x` is token-IDs shape (batch, target_seq_len)
        x = self.pos_embedding(x)  # (batch_size, target_seq_len, d_model)

        x = self.dropout(x)

        for i in range(self.num_layers):
            x  = self.dec_layers[i](x, context)

        self.last_attn_scores = self.dec_layers[-1].last_attn_scores

        # The shape of x is (batch_size, target_seq_len, d_model).
        return x


class Transformer(tf.keras.Model):
    def __init__(self, *, num_layers, d_model, num_heads, dff,
                 input_vocab_size, target_vocab_size, dropout_rate=0.1):
        super().__init__()
        self.encoder = Encoder(num_layers=num_layers, d_model=d_model,
                               num_heads=num_heads, dff=dff,
                               vocab_size=input_vocab_size,
                               dropout_rate=dropout_rate)

        self.decoder = Decoder(num_layers=num_layers, d_model=d_model,
                               num_heads=num_heads, dff=dff,
                               vocab_size=target_vocab_size,
                               dropout_rate=dropout_rate)

        self.final_layer = tf.keras.layers.Dense(target_vocab_size)

    def call(self, inputs):
        # To use a Keras model with `.fit` you must pass all your inputs in the
        # first argument.
        context, x  = inputs

        context = self.encoder(context)  # (batch_size, context_len, d_model)

        x = self.decoder(x, context)  # (batch_size, target_len, d_model)

        # Final linear layer output.
        logits = self.final_layer(x)  # (batch_size, target_len, target_vocab_size)

        # Drop the keras mask, so it doesn't scale the losses/metrics.
        # b/250038731
        # The tutorial's `try: del logits._keras_mask / except AttributeError: pass`: a
        # jax.Array takes no attributes (the AttributeError would keep the mask silently)
        tf.keras.backend.set_keras_mask(logits, None)

        # Return the final output and the attention weights.
        return logits


class CustomSchedule(tf.keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, d_model, warmup_steps=4000):
        super().__init__()

        self.d_model = d_model
        self.d_model = tf.cast(self.d_model, tf.float32)

        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = tf.cast(step, dtype=tf.float32)
        arg1 = tf.math.rsqrt(step)
        arg2 = step * (self.warmup_steps ** -1.5)

        return tf.math.rsqrt(self.d_model) * tf.math.minimum(arg1, arg2)


def masked_loss(label, pred):
    mask = label != 0
    loss_object = tf.keras.losses.SparseCategoricalCrossentropy(
      from_logits=True, reduction='none')
    loss = loss_object(label, pred)

    mask = tf.cast(mask, dtype=loss.dtype)
    loss *= mask

    loss = tf.reduce_sum(loss)/tf.reduce_sum(mask)
    return loss


def masked_accuracy(label, pred):
    pred = tf.argmax(pred, axis=2)
    label = tf.cast(label, pred.dtype)
    match = label == pred

    mask = label != 0

    match = match & mask

    match = tf.cast(match, dtype=tf.float32)
    mask = tf.cast(mask, dtype=tf.float32)
    return tf.reduce_sum(match)/tf.reduce_sum(mask)


# -- the tutorial's checks, with oracles (its sizes scaled down) --------------------------------

_PT = np.array([[1, 5, 6, 7, 2, 0, 0], [1, 8, 9, 2, 0, 0, 0]], "int32")  # [START] .. [END] 0s
_EN = np.array([[1, 7, 6, 5, 0, 0], [1, 9, 8, 0, 0, 0]], "int32")
_D_MODEL, _VOCAB = 16, 20


def _positional_encoding_numpy(length, depth):
    """PE[p, i] = sin(p / 10000^(i / (depth/2))), then cos in the second half (the tutorial's
    concatenated layout, not the paper's interleaved one)."""
    half = depth // 2
    angles = np.array([[p / 10000 ** (i / half) for i in range(half)] for p in range(length)])
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def test_positional_encoding_is_the_formula():
    pos_encoding = positional_encoding(length=2048, depth=512)
    print(pos_encoding.shape)
    assert pos_encoding.shape == (2048, 512) and pos_encoding.dtype == np.float32
    np.testing.assert_allclose(pos_encoding[:50], _positional_encoding_numpy(50, 512),
                               atol=1e-6)
    # position 0: sin 0 = 0, cos 0 = 1; the first column is sin(p)
    np.testing.assert_array_equal(pos_encoding[0], [0.0] * 256 + [1.0] * 256)
    np.testing.assert_allclose(pos_encoding[:, 0], np.sin(np.arange(2048)), atol=1e-6)


def test_positional_embedding_scales_adds_and_masks():
    embed_pt = PositionalEmbedding(vocab_size=_VOCAB, d_model=_D_MODEL)
    embed_en = PositionalEmbedding(vocab_size=_VOCAB, d_model=_D_MODEL)
    pt_emb = embed_pt(_PT)
    en_emb = embed_en(_EN)
    # en_emb._keras_mask: a jax.Array takes no attributes (the mask lives beside it)
    np.testing.assert_array_equal(tf.keras.backend.get_keras_mask(en_emb), _EN != 0)
    np.testing.assert_array_equal(tf.keras.backend.get_keras_mask(pt_emb), _PT != 0)
    table = embed_en.embedding.embeddings.numpy()
    want = table[_EN] * np.sqrt(_D_MODEL) + _positional_encoding_numpy(6, _D_MODEL)
    np.testing.assert_allclose(en_emb, want, rtol=1e-5, atol=1e-5)


def _embedded():
    embed_pt = PositionalEmbedding(vocab_size=_VOCAB, d_model=_D_MODEL)
    embed_en = PositionalEmbedding(vocab_size=_VOCAB, d_model=_D_MODEL)
    return embed_pt, embed_en, embed_pt(_PT), embed_en(_EN)


def test_attention_layers_shapes_masks_and_scores():
    _, _, pt_emb, en_emb = _embedded()
    sample_ca = CrossAttention(num_heads=2, key_dim=_D_MODEL)
    print(pt_emb.shape)
    print(en_emb.shape)
    print(sample_ca(en_emb, pt_emb).shape)
    assert sample_ca(en_emb, pt_emb).shape == (2, 6, _D_MODEL)
    scores = np.asarray(sample_ca.last_attn_scores)
    assert scores.shape == (2, 2, 6, 7)  # (batch, heads, target_seq, input_seq)
    # the padding masks (Embedding(mask_zero=True)) reached the attention: a real target
    # token gives a padded source token no weight (a padded target token, all its keys
    # masked, spreads its weight evenly, as Keras'), and each query's weights sum to 1
    padded_key = np.broadcast_to((_PT == 0)[:, None, None, :], scores.shape)
    real_query = np.broadcast_to((_EN != 0)[:, None, :, None], scores.shape)
    assert np.all(scores[padded_key & real_query] == 0)
    assert np.all(scores[padded_key & ~real_query] > 0)
    np.testing.assert_allclose(scores.sum(-1), 1.0, rtol=1e-5)

    sample_gsa = GlobalSelfAttention(num_heads=2, key_dim=_D_MODEL)
    print(sample_gsa(pt_emb).shape)
    out = sample_gsa(pt_emb)
    assert out.shape == (2, 7, _D_MODEL)
    # the Add and LayerNormalization keep the query's mask; LayerNormalization: each
    # position's features have mean 0 and variance 1 (gamma 1, beta 0 untrained)
    np.testing.assert_array_equal(tf.keras.backend.get_keras_mask(out), _PT != 0)
    np.testing.assert_allclose(np.mean(out, -1), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.var(out, -1), 1.0, rtol=1e-2)
