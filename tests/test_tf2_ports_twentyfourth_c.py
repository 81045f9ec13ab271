"""The twenty-fourth round, part c (see test_tf2_ports_twentyfourth.py, which holds the
tutorial's model code): "Neural machine translation with a Transformer and Keras" (TF 2.12),
causal self-attention, the encoder and decoder stacks, the Transformer, CustomSchedule and the masked loss and
accuracy, as written, at tiny sizes.

Oracles: the causal layer's outputs at step t unchanged by later tokens (and moved by
earlier ones); the shapes the tutorial prints, the encoder output's mask (tokens != 0), the
parameter count in closed form, CustomSchedule against its formula (and the optimizer reading
it at its update count, 0 first, as Keras 2.12), masked_loss/masked_accuracy against NumPy.
"""

import os

import numpy as np
import pytest

import xlaflow as tf
from tests.test_tf2_ports_twentyfourth import (
    _D_MODEL,
    _EN,
    _PT,
    _VOCAB,
    CausalSelfAttention,
    CustomSchedule,
    Decoder,
    DecoderLayer,
    Encoder,
    EncoderLayer,
    FeedForward,
    Transformer,
    _embedded,
    masked_accuracy,
    masked_loss,
)


@pytest.fixture(autouse=True)
def _seeded():
    tf.keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


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
