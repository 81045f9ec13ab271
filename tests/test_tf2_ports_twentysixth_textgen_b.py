"""The twenty-sixth round, text generation (see test_tf2_ports_twentysixth_textgen.py, whose
corpus, MyModel and OneStep these share): the tutorial's advanced "Customized training"
section as written, imports changed, and its "[UNK]" prediction mask checked on an
untrained model, whose near-uniform draws would otherwise pick "[UNK]".

What changed: sizes (embedding 32, 64 GRU units), as in the first part. Oracles: the
manual loop's tf.keras.metrics.Mean equals NumPy's mean of the step losses it was fed,
the loss falls far below log(vocab_size), the checkpoints the loop writes restore its
weights, and 300 masked draws never give "[UNK]" where the unmasked ones do.
"""

import os
import time

import numpy as np
import pytest

import xlaflow as tf
from tests.test_tf2_ports_twentysixth_textgen import (  # the tutorial's text and models
    MyModel,
    OneStep,
    _process_the_text,
)


@pytest.fixture(autouse=True)
def _seeded(tmp_path, monkeypatch):
    tf.keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))
    monkeypatch.chdir(tmp_path)


def test_customized_training(capsys):
    (_, _, ids_from_chars, _, _, _, _, dataset) = _process_the_text()
    embedding_dim = 32  # 256 in TF
    rnn_units = 64  # 1024 in TF
    checkpoint_prefix = os.path.join('./training_checkpoints', "ckpt_{epoch}")

    class CustomTraining(MyModel):
      @tf.function
      def train_step(self, inputs):
          inputs, labels = inputs
          with tf.GradientTape() as tape:
              predictions = self(inputs, training=True)
              loss = self.loss(labels, predictions)
          grads = tape.gradient(loss, model.trainable_variables)
          self.optimizer.apply_gradients(zip(grads, model.trainable_variables))

          return {'loss': loss}

    model = CustomTraining(
        vocab_size=len(ids_from_chars.get_vocabulary()),
        embedding_dim=embedding_dim,
        rnn_units=rnn_units)
    model.compile(optimizer = tf.keras.optimizers.Adam(),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(dataset, epochs=1)
    log_vocab = np.log(len(ids_from_chars.get_vocabulary()))
    assert history.history['loss'][0] < log_vocab  # the user's train_step trained it

    EPOCHS = 10

    mean = tf.metrics.Mean()

    capsys.readouterr()
    epoch_means = []
    for epoch in range(EPOCHS):
        start = time.time()

        mean.reset_states()
        fed = []
        for (batch_n, (inp, target)) in enumerate(dataset):
            logs = model.train_step([inp, target])
            mean.update_state(logs['loss'])
            fed.append(float(logs['loss']))

            if batch_n % 50 == 0:
                template = f"Epoch {epoch+1} Batch {batch_n} Loss {logs['loss']:.4f}"
                print(template)

        # saving (checkpoint) the model every 5 epochs
        if (epoch + 1) % 5 == 0:
            model.save_weights(checkpoint_prefix.format(epoch=epoch))

        print()
        print(f'Epoch {epoch+1} Loss: {mean.result().numpy():.4f}')
        print(f'Time taken for 1 epoch {time.time() - start:.2f} sec')
        print("_"*80)
        np.testing.assert_allclose(mean.result().numpy(), np.mean(fed), rtol=1e-5)
        epoch_means.append(float(mean.result()))

    model.save_weights(checkpoint_prefix.format(epoch=epoch))
    out = capsys.readouterr().out
    assert out.count("Batch 0 Loss") == EPOCHS and f"Epoch {EPOCHS} Loss: " in out
    assert epoch_means[-1] < 0.5 * log_vocab and epoch_means[-1] < epoch_means[0]
    assert sorted(os.listdir('./training_checkpoints')) == ['checkpoint', 'ckpt_4', 'ckpt_9']

    restored = MyModel(len(ids_from_chars.get_vocabulary()), embedding_dim, rnn_units)
    restored.load_weights(checkpoint_prefix.format(epoch=EPOCHS - 1))
    inp = next(iter(dataset))[0]
    np.testing.assert_allclose(restored(inp), model(inp), rtol=1e-5, atol=1e-5)


def _draws(one_step_model, steps=60):
    states = None
    next_char = tf.constant(['the ', 'the ', 'the ', 'the ', 'the '])
    result = [next_char]
    for n in range(steps):
      next_char, states = one_step_model.generate_one_step(next_char, states=states)
      result.append(next_char)
    return [c for step in result[1:] for c in np.asarray(step).tolist()]


def test_the_prediction_mask_keeps_unk_out_of_untrained_draws():
    (_, vocab, ids_from_chars, chars_from_ids, _, _, _, _) = _process_the_text()
    model = MyModel(len(ids_from_chars.get_vocabulary()), 32, 64)
    # untrained logits are near zero: each draw picks "[UNK]" with odds about 1/29
    drawn = _draws(OneStep(model, chars_from_ids, ids_from_chars))
    assert len(drawn) == 300 and '[UNK]' not in drawn and set(drawn) <= set(vocab)
    assert len(set(drawn)) > 20  # the draws spread over the vocabulary

    unmasked = OneStep(model, chars_from_ids, ids_from_chars)
    unmasked.prediction_mask = tf.zeros_like(unmasked.prediction_mask)
    # (28/29) ** 300 < 3e-5: unmasked, "[UNK]" comes up
    assert '[UNK]' in _draws(unmasked)
