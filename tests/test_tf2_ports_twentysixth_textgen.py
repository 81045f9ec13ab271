"""The twenty-sixth round (see test_tf2_ports.py): TF 2.12's tutorial "Text generation with
an RNN" (tensorflow.org/text/tutorials/text_generation) as written, imports changed, on a
corpus file written here in place of shakespeare.txt: a pangram repeated, so that every
letter is in the vocabulary and a trained model's next characters are checkable. The
advanced "customized training" section: test_tf2_ports_twentysixth_textgen_b.py.

What changed, each line saying why: the download is a file the test writes; the sizes are
small (seq_length 50, batch 32, embedding 32, 128 GRU units) and generation runs
100 steps, for the test's time. xlaflow has no RaggedTensor (XLA needs fixed shapes), so
the batch form of unicode_split splits one string at a time, and OneStep pads its rows as
`.to_tensor()` would. An xf.function takes numbers only (XLA holds no strings), so
OneStep's compiled step is `generate_one_step_ids` (ids in, ids out: the model, the mask,
the sampling) and `generate_one_step` does the text around it on the host; the reloaded
object, which restores compiled functions only, is driven the same way.

Oracles: the vocabulary and ids are those of sorted(set(text)); the untrained loss is
log(vocab_size) (logits near zero); the trained model's loss is far below it and its
greedy next character is the pattern's at a rate no frequency guess reaches; generated
text continues the pattern; the reloaded step draws what the original draws.
"""

import os
import time

import numpy as np
import pytest

import xlaflow as tf

PATTERN = "the quick brown fox jumps over the lazy dog. "


@pytest.fixture(autouse=True)
def _seeded(tmp_path, monkeypatch):
    tf.keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))
    monkeypatch.chdir(tmp_path)  # the tutorial's relative paths land in tmp_path


def _get_file():
    # tf.keras.utils.get_file('shakespeare.txt', 'https://storage.googleapis.com/...')
    with open("shakespeare.txt", "w", encoding="utf-8") as f:
        f.write(PATTERN * 600)
    return os.path.abspath("shakespeare.txt")


def _following(text):
    """Whether each character of `text` continues the pattern from the 8 before it (a
    random string over the vocabulary does so with odds below 1e-10)."""
    cyclic = PATTERN * 3
    return [text[i - 8:i + 1] in cyclic for i in range(8, len(text))]


class MyModel(tf.keras.Model):
  def __init__(self, vocab_size, embedding_dim, rnn_units):
    super().__init__(self)
    self.embedding = tf.keras.layers.Embedding(vocab_size, embedding_dim)
    self.gru = tf.keras.layers.GRU(rnn_units,
                                   return_sequences=True,
                                   return_state=True)
    self.dense = tf.keras.layers.Dense(vocab_size)

  def call(self, inputs, states=None, return_state=False, training=False):
    x = inputs
    x = self.embedding(x, training=training)
    if states is None:
      states = self.gru.get_initial_state(x)
    x, states = self.gru(x, initial_state=states, training=training)
    x = self.dense(x, training=training)

    if return_state:
      return x, states
    else:
      return x


def _padded_chars(inputs):
    # xlaflow: unicode_split of a batch is ragged in TF: one string at a time, padded with
    # b'' (StringLookup gives it id 0, [UNK], as RaggedTensor.to_tensor()'s default 0)
    rows = [tf.strings.unicode_split(s, 'UTF-8').numpy() for s in np.asarray(inputs)]
    width = max(len(r) for r in rows)
    return [list(r) + [b''] * (width - len(r)) for r in rows]


class OneStep(tf.keras.Model):
  def __init__(self, model, chars_from_ids, ids_from_chars, temperature=1.0):
    super().__init__()
    self.temperature = temperature
    self.model = model
    self.chars_from_ids = chars_from_ids
    self.ids_from_chars = ids_from_chars

    # Create a mask to prevent "[UNK]" from being generated.
    skip_ids = self.ids_from_chars(['[UNK]'])[:, None]
    sparse_mask = tf.SparseTensor(
        # Put a -inf at each bad index.
        values=[-float('inf')]*len(skip_ids),
        indices=skip_ids,
        # Match the shape to the vocabulary
        dense_shape=[len(ids_from_chars.get_vocabulary())])
    self.prediction_mask = tf.sparse.to_dense(sparse_mask)

  def generate_one_step(self, inputs, states=None):
    # Convert strings to token IDs (on the host: xlaflow's compiled code holds no text)
    input_ids = self.ids_from_chars(_padded_chars(inputs))
    predicted_ids, states = self.generate_one_step_ids(input_ids, states)
    # Convert from token ids to characters
    predicted_chars = self.chars_from_ids(predicted_ids)

    # Return the characters and model state.
    return predicted_chars, states

  @tf.function
  def generate_one_step_ids(self, input_ids, states=None):
    # Run the model.
    # predicted_logits.shape is [batch, char, next_char_logits]
    predicted_logits, states = self.model(inputs=input_ids, states=states,
                                          return_state=True)
    # Only use the last prediction.
    predicted_logits = predicted_logits[:, -1, :]
    predicted_logits = predicted_logits/self.temperature
    # Apply the prediction mask: prevent "[UNK]" from being generated.
    predicted_logits = predicted_logits + self.prediction_mask

    # Sample the output logits to generate token IDs.
    predicted_ids = tf.random.categorical(predicted_logits, num_samples=1)
    predicted_ids = tf.squeeze(predicted_ids, axis=-1)
    return predicted_ids, states


def _process_the_text():
    """The tutorial's "Download" to "Create training batches", line for line."""
    path_to_file = _get_file()
    # Read, then decode for py2 compat.
    # (closed by `with`: the suite makes the ResourceWarning of a leaked handle an error)
    with open(path_to_file, 'rb') as f:
        text = f.read().decode(encoding='utf-8')
    # length of text is the number of characters in it
    print(f'Length of text: {len(text)} characters')
    print(text[:250])
    # The unique characters in the file
    vocab = sorted(set(text))
    print(f'{len(vocab)} unique characters')

    ids_from_chars = tf.keras.layers.StringLookup(
        vocabulary=list(vocab), mask_token=None)
    chars_from_ids = tf.keras.layers.StringLookup(
        vocabulary=ids_from_chars.get_vocabulary(), invert=True, mask_token=None)

    def text_from_ids(ids):
      return tf.strings.reduce_join(chars_from_ids(ids), axis=-1)

    all_ids = ids_from_chars(tf.strings.unicode_split(text, 'UTF-8'))
    ids_dataset = tf.data.Dataset.from_tensor_slices(all_ids)
    seq_length = 50  # 100 in TF
    sequences = ids_dataset.batch(seq_length+1, drop_remainder=True)

    def split_input_target(sequence):
        input_text = sequence[:-1]
        target_text = sequence[1:]
        return input_text, target_text

    dataset = sequences.map(split_input_target)
    # Batch size
    BATCH_SIZE = 32  # 64 in TF
    BUFFER_SIZE = 10000
    dataset = (
        dataset
        .shuffle(BUFFER_SIZE)
        .batch(BATCH_SIZE, drop_remainder=True)
        .prefetch(tf.data.experimental.AUTOTUNE))
    return (text, vocab, ids_from_chars, chars_from_ids, text_from_ids, all_ids,
            split_input_target, dataset)


def test_process_the_text():
    (text, vocab, ids_from_chars, chars_from_ids, text_from_ids, all_ids,
     split_input_target, dataset) = _process_the_text()
    assert vocab == sorted(set(PATTERN)) and len(vocab) == 28  # a to z, space, period

    example_texts = ['abcdefg', 'xyz']
    chars = tf.strings.unicode_split(example_texts, input_encoding='UTF-8')
    assert chars.to_list() == [[c.encode() for c in t] for t in example_texts]
    ids = ids_from_chars(chars)  # a RaggedTensor of ids, the rows kept (TF's)
    # ids are 1 + the place in sorted(set(text)) (0 is [UNK])
    assert ids.to_list() == [[vocab.index(c) + 1 for c in t] for t in example_texts]
    chars = chars_from_ids(ids)
    joined = tf.strings.reduce_join(chars, axis=-1).numpy().tolist()
    assert joined == [b'abcdefg', b'xyz']  # TF's array([b'abcdefg', b'xyz'])
    assert ids_from_chars.get_vocabulary() == ['[UNK]'] + vocab

    expected_ids = np.array([vocab.index(c) + 1 for c in text])
    np.testing.assert_array_equal(all_ids, expected_ids)
    ids_dataset = tf.data.Dataset.from_tensor_slices(all_ids)
    first = [chars_from_ids(ids).numpy().decode('utf-8') for ids in ids_dataset.take(10)]
    assert "".join(first) == text[:10]
    sequences = ids_dataset.batch(51, drop_remainder=True)
    for i, seq in enumerate(sequences.take(5)):
        assert text_from_ids(seq).numpy() == text[51 * i:51 * (i + 1)].encode()

    assert split_input_target(list("Tensorflow")) == (
        list("Tensorflo"), list("ensorflow"))  # the tutorial's printed pair
    batches = list(dataset)
    assert len(batches) == len(text) // 51 // 32  # drop_remainder twice
    windows = {tuple(expected_ids[51 * i:51 * (i + 1)]) for i in range(len(text) // 51)}
    for input_example_batch, target_example_batch in batches:
        assert input_example_batch.shape == target_example_batch.shape == (32, 50)
        inputs, targets = np.asarray(input_example_batch), np.asarray(target_example_batch)
        np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])
        assert all(tuple(i) + (t[-1],) in windows for i, t in zip(inputs, targets))


@pytest.mark.slow  # trains for 320 steps: about 15 s on two CPU cores
def test_build_train_and_generate(capsys):
    (text, vocab, ids_from_chars, chars_from_ids, text_from_ids, all_ids,
     _split_input_target, dataset) = _process_the_text()
    # Length of the vocabulary in StringLookup Layer
    vocab_size = len(ids_from_chars.get_vocabulary())
    embedding_dim = 32  # 256 in TF
    rnn_units = 128  # 1024 in TF

    model = MyModel(
        vocab_size=vocab_size,
        embedding_dim=embedding_dim,
        rnn_units=rnn_units)

    for input_example_batch, target_example_batch in dataset.take(1):
        example_batch_predictions = model(input_example_batch)
        print(example_batch_predictions.shape, "# (batch_size, sequence_length, vocab_size)")
    assert example_batch_predictions.shape == (32, 50, vocab_size)

    capsys.readouterr()
    model.summary()
    summary = capsys.readouterr().out
    gru_params = 3 * (embedding_dim * rnn_units + rnn_units * rnn_units + 2 * rnn_units)
    total = vocab_size * embedding_dim + gru_params + rnn_units * vocab_size + vocab_size
    # Keras 2.12 prints a row's count plain (62208) and the totals with commas
    assert f" {gru_params} " in summary and f"Total params: {total:,}" in summary

    sampled_indices = tf.random.categorical(example_batch_predictions[0], num_samples=1)
    sampled_indices = tf.squeeze(sampled_indices, axis=-1).numpy()
    assert sampled_indices.shape == (50,) and ((0 <= sampled_indices)
                                               & (sampled_indices < vocab_size)).all()
    print("Input:\n", text_from_ids(input_example_batch[0]).numpy())
    print()
    print("Next Char Predictions:\n", text_from_ids(sampled_indices).numpy())

    loss = tf.losses.SparseCategoricalCrossentropy(from_logits=True)
    example_batch_mean_loss = loss(target_example_batch, example_batch_predictions)
    print("Prediction shape: ", example_batch_predictions.shape,
          " # (batch_size, sequence_length, vocab_size)")
    print("Mean loss:        ", example_batch_mean_loss)
    # "a newly initialized model shouldn't be too sure of itself": exp(loss) ~ vocab_size
    assert abs(float(example_batch_mean_loss) - np.log(vocab_size)) < 0.05
    assert abs(tf.exp(example_batch_mean_loss).numpy() - vocab_size) < 0.05 * vocab_size

    model.compile(optimizer='adam', loss=loss)
    # Directory where the checkpoints will be saved
    checkpoint_dir = './training_checkpoints'
    # Name of the checkpoint files
    checkpoint_prefix = os.path.join(checkpoint_dir, "ckpt_{epoch}")

    checkpoint_callback = tf.keras.callbacks.ModelCheckpoint(
        filepath=checkpoint_prefix,
        save_weights_only=True)
    EPOCHS = 20
    history = model.fit(dataset, epochs=EPOCHS, callbacks=[checkpoint_callback], verbose=0)
    losses = history.history['loss']
    assert losses[-1] < 0.25 * np.log(vocab_size) and losses[-1] < losses[0]
    assert os.path.exists(checkpoint_prefix.format(epoch=EPOCHS))
    # the last checkpoint holds the trained weights
    restored = MyModel(vocab_size, embedding_dim, rnn_units)
    restored.load_weights(checkpoint_prefix.format(epoch=EPOCHS))
    np.testing.assert_allclose(restored(input_example_batch), model(input_example_batch),
                               rtol=1e-5, atol=1e-5)

    # greedy next characters on windows of the text: the pattern's, past a little context
    # (32 windows of 50 inputs, the training batches' shape: the eager call above compiled it)
    starts = np.random.default_rng(1).integers(0, len(text) - 60, size=32)
    windows = np.stack([np.asarray(all_ids)[s:s + 51] for s in starts])
    greedy = np.argmax(model(windows[:, :-1]), axis=-1)[:, 12:]
    accuracy = np.mean(greedy == windows[:, 13:])
    assert accuracy > 0.95, accuracy  # the commonest character, ' ', is 9/45 of the text

    one_step_model = OneStep(model, chars_from_ids, ids_from_chars)
    np.testing.assert_array_equal(one_step_model.prediction_mask,
                                  [-np.inf] + [0.0] * (vocab_size - 1))

    start = time.time()
    states = None
    next_char = tf.constant(['the lazy'])
    result = [next_char]

    for n in range(100):  # 1000 in TF
      next_char, states = one_step_model.generate_one_step(next_char, states=states)
      result.append(next_char)

    result = tf.strings.join(result)
    end = time.time()
    print(result[0].numpy().decode('utf-8'), '\n\n' + '_'*80)
    print('\nRun time:', end - start)
    generated = result[0].numpy().decode('utf-8')
    assert len(generated) == len('the lazy') + 100 and set(generated) <= set(vocab)
    assert np.mean(_following(generated)) > 0.75  # the pattern, sampled at temperature 1

    start = time.time()
    states = None
    next_char = tf.constant(['the lazy', 'the lazy', 'the lazy', 'the lazy', 'the lazy'])
    result = [next_char]

    for n in range(100):  # 1000 in TF
      next_char, states = one_step_model.generate_one_step(next_char, states=states)
      result.append(next_char)

    result = tf.strings.join(result)
    end = time.time()
    print(result, '\n\n' + '_'*80)
    print('\nRun time:', end - start)
    rows = [r.decode('utf-8') for r in result.numpy()]
    assert len(rows) == 5 and all(np.mean(_following(r)) > 0.75 for r in rows)

    # (xlaflow: seeded here, the export holds the global generator's state as it is, so
    # the reloaded step draws what the original draws from the same seed)
    tf.random.set_seed(11)
    tf.saved_model.save(one_step_model, 'one_step')
    one_step_reloaded = tf.saved_model.load('one_step')

    outputs = []
    for generator in (one_step_reloaded, one_step_model):
      tf.random.set_seed(11)
      states = None
      next_char = tf.constant(['the lazy'])
      result = [next_char]

      for n in range(100):
        # xlaflow: the restored object has the compiled step; the text is done here
        ids, states = generator.generate_one_step_ids(
            ids_from_chars(_padded_chars(next_char)), states)
        next_char = chars_from_ids(ids)
        result.append(next_char)

      print(tf.strings.join(result)[0].numpy().decode("utf-8"))
      outputs.append(tf.strings.join(result)[0].numpy().decode("utf-8"))
    assert outputs[0] == outputs[1] and np.mean(_following(outputs[0])) > 0.75
