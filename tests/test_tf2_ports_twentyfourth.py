"""The twenty-fourth round (see test_tf2_ports.py): TF's tutorial "Neural machine translation
with a Transformer and Keras" (TF 2.12) as written, imports changed, except where a line says
why. This part holds the tutorial's model code (module level, as the tutorial defines it) and
its per-layer checks; _twentyfourth_b.py trains it on a synthetic translation and decodes.

What changed: the text tokenizers (ragged, TF Text) become integer tokens (0 pads, 1 is
[START], 2 is [END]); the sizes are tiny (d_model 16-32, 1-2 layers); `x._keras_mask` is read
with keras.backend.get_keras_mask (a jax.Array takes no attributes), and the Transformer drops
its logits' mask with keras.backend.set_keras_mask(logits, None) (`del logits._keras_mask`
cannot reach xlaflow's side table). Fixed in xlaflow: a layer called with its first argument by
name (`self.mha(query=x, value=x, key=x)`, `self.cross_attention(x=x, context=context)`)
failed in Layer.__call__.

Oracles: NumPy's positional-encoding formula and embedding lookup; masks equal to tokens != 0;
the causal layer's outputs at step t unchanged by later tokens (and changed by earlier ones);
cross-attention weights zero on padded context and summing to 1; the parameter count in closed
form; CustomSchedule against its formula; masked_loss/masked_accuracy against NumPy.
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


def test_causal_self_attention_ignores_later_tokens():
    _, embed_en, _, en_emb = _embedded()
    sample_csa = CausalSelfAttention(num_heads=2, key_dim=_D_MODEL)
    print(en_emb.shape)
    print(sample_csa(en_emb).shape)
    assert sample_csa(en_emb).shape == (2, 6, _D_MODEL)

    out1 = sample_csa(embed_en(_EN[:, :3]))
    out2 = sample_csa(embed_en(_EN))[:, :3]
    print(tf.reduce_max(abs(out1 - out2)).numpy())
    assert tf.reduce_max(abs(out1 - out2)).numpy() < 1e-5  # the tutorial prints 0.0

    # beyond the tutorial: changing the tokens at steps >= 2 leaves steps 0-1 as they were,
    # changing step 1 moves every step from 1 on
    later = _EN.copy()
    later[:, 2:] = [[11, 12, 13, 14], [15, 16, 17, 18]]
    earlier = _EN.copy()
    earlier[:, 1] = [11, 12]
    base = np.asarray(sample_csa(embed_en(_EN)))
    moved_late = np.asarray(sample_csa(embed_en(later)))
    moved_early = np.asarray(sample_csa(embed_en(earlier)))
    np.testing.assert_allclose(moved_late[:, :2], base[:, :2], atol=1e-5)
    assert np.all(np.abs(moved_late[:, 2:] - base[:, 2:]).max(-1) > 1e-3)
    np.testing.assert_allclose(moved_early[:, 0], base[:, 0], atol=1e-5)
    assert np.all(np.abs(moved_early[:, 1:3] - base[:, 1:3]).max(-1) > 1e-3)


def _param_count(num_layers, d, heads, dff, vocab_in, vocab_out):
    """The Transformer's weights in closed form (MultiHeadAttention with key_dim=d)."""
    mha = 3 * (d * heads * d + heads * d) + heads * d * d + d
    norm = 2 * d
    ffn = d * dff + dff + dff * d + d + norm
    encoder = vocab_in * d + num_layers * (mha + norm + ffn)
    decoder = vocab_out * d + num_layers * (2 * (mha + norm) + ffn)
    return encoder + decoder + d * vocab_out + vocab_out


def test_encoder_decoder_and_transformer_shapes():
    _, _, pt_emb, en_emb = _embedded()
    sample_ffn = FeedForward(_D_MODEL, 32)
    print(sample_ffn(en_emb).shape)
    assert sample_ffn(en_emb).shape == (2, 6, _D_MODEL)

    sample_encoder_layer = EncoderLayer(d_model=_D_MODEL, num_heads=2, dff=32)
    assert sample_encoder_layer(pt_emb).shape == (2, 7, _D_MODEL)

    sample_encoder = Encoder(num_layers=2, d_model=_D_MODEL, num_heads=2, dff=32,
                             vocab_size=_VOCAB)
    sample_encoder_output = sample_encoder(_PT, training=False)
    print(_PT.shape)
    print(sample_encoder_output.shape)
    assert sample_encoder_output.shape == (2, 7, _D_MODEL)
    # the mask survives the custom layers, as Keras 2 keeps masks their inner layers set
    np.testing.assert_array_equal(tf.keras.backend.get_keras_mask(sample_encoder_output),
                                  _PT != 0)

    sample_decoder_layer = DecoderLayer(d_model=_D_MODEL, num_heads=2, dff=32)
    sample_decoder_layer_output = sample_decoder_layer(x=en_emb, context=pt_emb)
    assert sample_decoder_layer_output.shape == (2, 6, _D_MODEL)

    sample_decoder = Decoder(num_layers=2, d_model=_D_MODEL, num_heads=2, dff=32,
                             vocab_size=_VOCAB)
    output = sample_decoder(x=_EN, context=pt_emb)
    assert output.shape == (2, 6, _D_MODEL)
    assert sample_decoder.last_attn_scores.shape == (2, 2, 6, 7)

    transformer = Transformer(num_layers=2, d_model=_D_MODEL, num_heads=2, dff=32,
                              input_vocab_size=_VOCAB, target_vocab_size=_VOCAB + 3,
                              dropout_rate=0.1)
    output = transformer((_PT, _EN))
    assert output.shape == (2, 6, _VOCAB + 3)
    assert tf.keras.backend.get_keras_mask(output) is None  # dropped, as the tutorial's del
    attn_scores = transformer.decoder.dec_layers[-1].last_attn_scores
    assert attn_scores.shape == (2, 2, 6, 7)  # (batch, heads, target_seq, input_seq)
    lines = []
    transformer.summary(print_fn=lines.append)
    want = _param_count(2, _D_MODEL, 2, 32, _VOCAB, _VOCAB + 3)
    assert transformer.count_params() == want
    assert any(f"{want:,}" in line for line in lines)


def test_custom_schedule_is_the_formula():
    d_model = 128
    learning_rate = CustomSchedule(d_model)
    optimizer = tf.keras.optimizers.Adam(learning_rate, beta_1=0.9, beta_2=0.98,
                                         epsilon=1e-9)
    # plt.plot(learning_rate(tf.range(40000, dtype=tf.float32))): the values it plots
    values = np.asarray(learning_rate(tf.range(40000, dtype=tf.float32)))
    steps = np.arange(1, 40000, dtype=np.float64)
    want = d_model ** -0.5 * np.minimum(steps ** -0.5, steps * 4000 ** -1.5)
    assert values[0] == 0  # min(rsqrt(0) = inf, 0)
    np.testing.assert_allclose(values[1:], want, rtol=1e-5)
    assert int(np.argmax(values)) == 4000  # the peak ends the warmup
    # Keras 2.12's optimizer reads the schedule at its count of updates done: 0 in the first
    # (a step of 0 here), then 1; Adam's step on a constant gradient is the learning rate
    var = tf.Variable([0.0])
    optimizer.apply_gradients([(tf.constant([1.0]), var)])
    assert var.numpy()[0] == 0.0
    optimizer.apply_gradients([(tf.constant([1.0]), var)])
    np.testing.assert_allclose(-var.numpy()[0], want[0], rtol=1e-3)


def test_masked_loss_and_accuracy_against_numpy():
    rng = np.random.default_rng(24)
    label = np.array([[3, 4, 5, 2, 0, 0], [6, 2, 0, 0, 0, 0]], "int32")
    pred = rng.normal(size=(2, 6, 8)).astype("float32")
    pred[0, 0, 3] = pred[1, 1, 2] = 10.0  # two right answers among 6 real tokens
    pred[1, 4, 0] = 10.0  # a "right" answer on padding, which must not count
    log_p = pred - np.log(np.exp(pred).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_p, label[..., None], -1)[..., 0]
    mask = label != 0
    np.testing.assert_allclose(masked_loss(label, pred), nll[mask].mean(), rtol=1e-5)
    hits = (pred.argmax(-1) == label)[mask]
    np.testing.assert_allclose(masked_accuracy(label, pred), hits.mean(), rtol=1e-6)
    assert 2 / 6 <= hits.mean() < 1  # the fixed answers count; chance decides the rest
