"""The twenty-fourth round, part b (see test_tf2_ports_twentyfourth.py, which holds the
tutorial's model code): "Neural machine translation with a Transformer and Keras" (TF 2.12),
its data pipeline, training and Translator, on a synthetic translation: the target sentence
is the source's words reversed, both between [START] (1) and [END] (2), padded with 0.

What changed, each line saying why: the tokenizers (TF Text, ragged) become integer arrays;
sizes are tiny (1 layer, d_model 32, warmup 100 steps). The Translator runs eagerly as written
(a dynamic_size TensorArray grows there). Inside tf.function (the tutorial's
ExportTranslator) it cannot: XLA arrays have fixed shapes, so the array is preallocated with
max_length + 1 rows and each step reads the prediction at its own position (the decoder is
causal: the zeros after it change nothing). Fixed in xlaflow: a one-element tensor condition
(`if predicted_id == end`, shape (1, 1)) is squeezed as TF's cond_v2 does (it was refused), and
a Mean metric given a (batch, time) mask for the scalar a custom metric returns weighs it as
Keras 2 (it failed to broadcast).

Oracles: masked accuracy far above what a model blind to the source can reach (a closed form
from the data); translations equal to the reversed source; the compiled and eager
Translators equal a step-by-step argmax decode done with NumPy on the model's logits.
"""

import os

import numpy as np
import pytest

import xlaflow as tf
from tests.test_tf2_ports_twentyfourth import (
    CustomSchedule,
    Transformer,
    masked_accuracy,
    masked_loss,
)

START, END = 1, 2  # the tokenizers' [START] and [END]; 0 pads
VOCAB = 16  # words are tokens 3..15
MAX_TOKENS = 10


@pytest.fixture(autouse=True)
def _seeded():
    tf.keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def _sentences(n, rng):
    """(pt, en) int32 arrays (n, 8): 2-6 random words between [START] and [END]; en reversed."""
    pt, en = np.zeros((2, n, 8), "int32")
    for i in range(n):
        words = rng.integers(3, VOCAB, rng.integers(2, 7))
        pt[i, :len(words) + 2] = [START, *words, END]
        en[i, :len(words) + 2] = [START, *words[::-1], END]
    return pt, en


def _blind_accuracy_bound(en):
    """The most masked accuracy a model that cannot see the source can expect: it may get
    every [END] right, but a word (uniform over 13) only one time in 13."""
    words = np.sum(en > END)
    ends = np.sum(en == END)
    return (ends + words / (VOCAB - 3)) / (ends + words)


def _greedy_decode_numpy(transformer, sentence, max_length):
    """The Translator's loop by hand: the whole prefix through the model, NumPy's argmax of
    the last step's logits, stop after [END]."""
    output = [START]
    for _ in range(max_length):
        logits = np.asarray(transformer((sentence[None], np.array([output])), training=False))
        output.append(int(np.argmax(logits[0, -1])))
        if output[-1] == END:
            break
    return output


@pytest.mark.slow  # fit (two compiled steps), an eager decode per shape: ~20 s on 2 cores
def test_transformer_tutorial_trains_and_translates():
    rng = np.random.default_rng(24)
    # tfds.load('ted_hrlr_translate/pt_to_en'): synthetic sentences already tokenized
    train_examples = tf.data.Dataset.from_tensor_slices(_sentences(640, rng))
    val_pt, val_en = _sentences(128, rng)
    val_examples = tf.data.Dataset.from_tensor_slices((val_pt, val_en))

    def prepare_batch(pt, en):
        # tokenizers.pt.tokenize(pt) / en: the tokens come tokenized and zero-padded here
        pt = pt[:, :MAX_TOKENS]    # Trim to MAX_TOKENS.
        en = en[:, :(MAX_TOKENS+1)]
        # the ragged en[:, :-1] drops each row's [END]: on zero-padded rows, zero [END] first
        en_inputs = tf.where(en == END, tf.zeros_like(en), en)[:, :-1]  # Drop the [END] tokens
        en_labels = en[:, 1:]   # Drop the [START] tokens
        return (pt, en_inputs), en_labels

    BUFFER_SIZE = 20000
    BATCH_SIZE = 32  # 64 in the tutorial: 640 sentences, not 51,785

    def make_batches(ds):
        return (
            ds
            .shuffle(BUFFER_SIZE)
            .batch(BATCH_SIZE)
            .map(prepare_batch, tf.data.AUTOTUNE)
            .prefetch(buffer_size=tf.data.AUTOTUNE))

    train_batches = make_batches(train_examples)
    val_batches = make_batches(val_examples)
    for (pt, en), en_labels in train_batches.take(1):
        break
    print(pt.shape, en.shape, en_labels.shape)
    assert en.shape == en_labels.shape == (BATCH_SIZE, 7)
    # teacher forcing: the labels are the inputs shifted by one; [END] only in the labels
    np.testing.assert_array_equal(np.asarray(en)[:, 1:][np.asarray(en)[:, 1:] != 0],
                                  np.asarray(en_labels)[:, :-1][np.asarray(en)[:, 1:] != 0])
    assert not np.any(np.asarray(en) == END) and np.all(np.sum(en_labels == END, 1) == 1)

    num_layers = 1  # 4 in the tutorial, and d_model 128, dff 512, num_heads 8: a CPU test
    d_model = 32
    dff = 64
    num_heads = 2
    dropout_rate = 0.1

    transformer = Transformer(
        num_layers=num_layers,
        d_model=d_model,
        num_heads=num_heads,
        dff=dff,
        input_vocab_size=VOCAB,
        target_vocab_size=VOCAB,
        dropout_rate=dropout_rate)
    # transformer((pt, en)) in the tutorial: the first sentence's first 4 and 3 tokens here.
    # An eager call compiles each op of the model for its shapes, and the eager Translator
    # below calls it on (1, 4) and (1, 3) (sentence 0 has 2 words): this call's programs
    # serve it, where the batch's (32, 8) ones (117 compiles) served nothing else
    output = transformer((pt[:1, :4], en[:1, :3]))
    assert output.shape == (1, 3, VOCAB)

    learning_rate = CustomSchedule(d_model, warmup_steps=100)  # 4000: ~20 steps an epoch here
    optimizer = tf.keras.optimizers.Adam(learning_rate, beta_1=0.9, beta_2=0.98,
                                         epsilon=1e-9)
    transformer.compile(
        loss=masked_loss,
        optimizer=optimizer,
        metrics=[masked_accuracy])
    history = transformer.fit(train_batches,
                              epochs=30,  # 20 in the tutorial
                              validation_data=val_batches, verbose=0)

    # the metric is per batch, as TF's once the logits carry no mask; NumPy's oracle on the
    # validation set in one batch (predict: one compiled graph, where an eager call of a
    # new batch size compiles each op of the model)
    val_inputs = (val_pt, np.where(val_en == END, 0, val_en)[:, :-1])
    logits = np.asarray(transformer.predict(val_inputs, batch_size=len(val_pt), verbose=0))
    labels = val_en[:, 1:]
    real = labels != 0
    accuracy = np.mean((logits.argmax(-1) == labels)[real])
    bound = _blind_accuracy_bound(labels)
    print(history.history["val_masked_accuracy"][-1], accuracy, bound)
    assert bound < 0.3 and accuracy > 0.9
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["val_masked_accuracy"][-1] > 0.9

    _translate(transformer, val_pt)


class Translator(tf.Module):
    def __init__(self, tokenizers, transformer):
        self.tokenizers = tokenizers
        self.transformer = transformer

    def __call__(self, sentence, max_length=MAX_TOKENS):
        # The input sentence is Portuguese, hence adding the `[START]` and `[END]` tokens.
        assert isinstance(sentence, tf.Tensor)
        if len(sentence.shape) == 1:  # 0 in the tutorial: a sentence is a string there
            sentence = sentence[tf.newaxis]

        # self.tokenizers.pt.tokenize(sentence).to_tensor(): given as tokens here
        encoder_input = sentence

        # As the output language is English, initialize the output with the
        # English `[START]` token.
        start = tf.constant([START])  # self.tokenizers.en.tokenize([''])[0][0][tf.newaxis]
        end = tf.constant([END])

        # `tf.TensorArray` is required here (instead of a Python list), so that the
        # dynamic-loop can be traced by `tf.function`.
        # tf.int64 in the tutorial: JAX without x64 has no int64 (tf.argmax gives int32)
        output_array = tf.TensorArray(dtype=tf.int32, size=0, dynamic_size=True)
        output_array = output_array.write(0, start)

        for i in tf.range(max_length):
            output = tf.transpose(output_array.stack())
            predictions = self.transformer([encoder_input, output], training=False)

            # Select the last token from the `seq_len` dimension.
            predictions = predictions[:, -1:, :]  # Shape `(batch_size, 1, vocab_size)`.

            predicted_id = tf.argmax(predictions, axis=-1)

            # Concatenate the `predicted_id` to the output which is given to the
            # decoder as its input.
            output_array = output_array.write(i+1, predicted_id[0])

            if predicted_id == end:
                break

        output = tf.transpose(output_array.stack())
        # The output shape is `(1, tokens)`.
        text = output[0]  # tokenizers.en.detokenize(output)[0]: the tokens are the text

        tokens = output[0]  # tokenizers.en.lookup(output)[0]

        # `tf.function` prevents us from using the attention_weights that were
        # calculated on the last iteration of the loop.
        # So, recalculate them outside the loop.
        self.transformer([encoder_input, output[:,:-1]], training=False)
        attention_weights = self.transformer.decoder.last_attn_scores

        return text, tokens, attention_weights


class FixedSizeTranslator(Translator):
    """The Translator's loop as tf.function can run it in xlaflow: in a compiled loop a
    TensorArray cannot grow (XLA arrays have fixed shapes), so it has max_length + 1 rows."""

    def __call__(self, sentence, max_length=MAX_TOKENS):
        if len(sentence.shape) == 1:
            sentence = sentence[tf.newaxis]
        encoder_input = sentence
        start = tf.constant([START])
        end = tf.constant([END])

        # size=0, dynamic_size=True in the tutorial: rows after the last write stay 0 (padding)
        output_array = tf.TensorArray(dtype=tf.int32, size=max_length + 1)
        output_array = output_array.write(0, start)

        for i in tf.range(max_length):
            output = tf.transpose(output_array.stack())
            predictions = self.transformer([encoder_input, output], training=False)

            # predictions[:, -1:, :] in the tutorial: the stack holds every row, so take step
            # i's (the causal decoder's step i ignores the zeros after it)
            predictions = predictions[:, i:i+1, :]

            predicted_id = tf.argmax(predictions, axis=-1)
            output_array = output_array.write(i+1, predicted_id[0])

            if predicted_id == end:
                break

        output = tf.transpose(output_array.stack())
        text = tokens = output[0]  # zeros after [END]: the caller trims them
        self.transformer([encoder_input, output[:,:-1]], training=False)
        attention_weights = self.transformer.decoder.last_attn_scores
        return text, tokens, attention_weights


class ExportTranslator(tf.Module):
    def __init__(self, translator):
        self.translator = translator

    # shape=[] dtype=tf.string in the tutorial: 8 tokens (zero-padded) here; [None] would trace
    # once per length, since PositionalEmbedding's pos_encoding[:, :length] needs a static
    # length and xlaflow's symbolic sizes are no slice bounds
    @tf.function(input_signature=[tf.TensorSpec(shape=[8], dtype=tf.int32)])
    def __call__(self, sentence):
        (result,
         tokens,  # noqa: RUF059 -- as the tutorial writes it
         attention_weights) = self.translator(sentence, max_length=MAX_TOKENS)  # noqa: RUF059

        return result


def _translate(transformer, sentences):
    translator = Translator(None, transformer)
    sentence = tf.constant(sentences[0][sentences[0] != 0])
    translated_text, translated_tokens, attention_weights = translator(sentence)
    np.testing.assert_array_equal(translated_text, translated_tokens)  # the same tokens here
    want = _greedy_decode_numpy(transformer, np.asarray(sentence), MAX_TOKENS)
    np.testing.assert_array_equal(translated_tokens, want)
    words = np.asarray(sentence)[1:-1]
    np.testing.assert_array_equal(translated_tokens, [START, *words[::-1], END])
    # (batch, heads, target_seq, input_seq) of the last decoder layer's cross-attention
    assert attention_weights.shape == (1, 2, len(want) - 1, len(sentence))

    # the tutorial's export wraps this Translator in a tf.function: there the array cannot grow
    with pytest.raises(IndexError, match="dynamic_size array cannot grow"):
        ExportTranslator(translator)(tf.constant(sentences[0]))

    translator = ExportTranslator(FixedSizeTranslator(None, transformer))
    # the decode by hand calls the model eagerly, which compiles each op again for each new
    # sentence length: three sentences of sentence 0's length reuse the ops compiled above
    by_hand = [k for k, padded in enumerate(sentences[:32])
               if np.count_nonzero(padded) == len(sentence)][:3]
    assert len(by_hand) == 3
    right = 0
    for k, padded in enumerate(sentences[:32]):
        tokens = np.asarray(translator(tf.constant(padded)))
        sentence = padded[padded != 0]
        length = list(tokens).index(END) + 1 if END in tokens else len(tokens)
        assert not np.any(tokens[length:])  # rows never written: zeros
        if k in by_hand:
            want = _greedy_decode_numpy(transformer, sentence, MAX_TOKENS)
            np.testing.assert_array_equal(tokens[:length], want)
        right += list(tokens[:length]) == [START, *sentence[1:-1][::-1], END]
    assert right >= 28  # reversed right; a source-blind guess gets a word one time in 13
