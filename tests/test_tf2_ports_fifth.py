"""The fourth round of whole TF2 programs, continued (see test_tf2_ports_fourth.py): a
REINFORCE policy gradient, the Keras callbacks, a generator-fed tf.data pipeline and a
seq2seq encoder-decoder, with only the imports changed.

Each asserts an outcome known without xlaflow: the optimal return of a corridor in closed
form, a CSV log equal to the History, disjoint train/validation splits, sequences reversed.
"""

import csv
import os

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras
from xlaflow.keras import layers


@pytest.fixture(autouse=True)
def _seeded():
    # xlaflow's, NumPy's and Python's streams (fit shuffles with NumPy's): a run does not
    # depend on the tests before it in the worker; XF_PORT_SEED chooses another seed
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


class Corridor:
    """Cells 0..4, start at 1; action 1 steps right, 0 left; reaching cell 4 pays 1 and
    ends the episode, cell 0 ends it with nothing; at most 12 steps."""

    n_states, n_actions, goal, max_steps = 5, 2, 4, 12

    def reset(self):
        self.state, self.steps = 1, 0
        return self.state

    def step(self, action):
        self.state += 1 if action == 1 else -1
        self.steps += 1
        reward = 1.0 if self.state == self.goal else 0.0
        done = self.state in (0, self.goal) or self.steps >= self.max_steps
        return self.state, reward, done


def test_reinforce_policy_gradient_on_a_numpy_environment():
    env, gamma = Corridor(), 0.9
    tf.random.set_seed(5)
    policy = keras.Sequential([keras.Input((env.n_states,)), layers.Dense(16, activation="relu"),
                               layers.Dense(env.n_actions)])
    optimizer = keras.optimizers.Adam(learning_rate=0.02)

    def one_hot(state):
        return np.eye(env.n_states, dtype="float32")[state]

    def run_episode():
        states, actions, rewards = [], [], []
        state, done = env.reset(), False
        while not done:
            logits = policy(one_hot(state)[None])
            action = int(tf.random.categorical(logits, 1)[0, 0])
            states.append(state)
            actions.append(action)
            state, reward, done = env.step(action)
            rewards.append(reward)
        return states, actions, rewards

    def discounted_returns(rewards):
        returns, running = [], 0.0
        for r in reversed(rewards):
            running = r + gamma * running
            returns.append(running)
        return np.asarray(returns[::-1], "float32")

    @tf.function(reduce_retracing=True)
    def train_step(states, actions, returns):
        with tf.GradientTape() as tape:
            logits = policy(states)
            log_probs = tf.math.log(tf.nn.softmax(logits) + 1e-8)
            chosen = tf.reduce_sum(log_probs * tf.one_hot(actions, env.n_actions), axis=1)
            loss = -tf.reduce_sum(chosen * returns)
        grads = tape.gradient(loss, policy.trainable_variables)
        optimizer.apply_gradients(zip(grads, policy.trainable_variables))
        return loss

    episode_returns = []
    for _ in range(150):
        states, actions, rewards = run_episode()
        returns = discounted_returns(rewards)
        episode_returns.append(returns[0])
        train_step(one_hot(np.asarray(states)), np.asarray(actions, "int32"), returns)

    # the optimal policy walks right: 3 steps, return gamma ** 2 from the start
    probs_right = np.asarray(tf.nn.softmax(policy(np.eye(env.n_states, dtype="float32"))))[:, 1]
    assert np.all(probs_right[1:4] > 0.9)
    assert np.mean(episode_returns[-20:]) > 0.9 * gamma ** 2
    assert np.mean(episode_returns[-20:]) > np.mean(episode_returns[:20]) + 0.2


def test_callbacks_zoo_lambda_csv_lr_scheduler_custom_stop_and_history(tmp_path):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(400, 4)).astype("float32")
    labels = np.argmax(x[:, :3] + 0.1 * rng.normal(size=(400, 3)), axis=1)
    y = keras.utils.to_categorical(labels, num_classes=3)
    tf.random.set_seed(6)
    model = keras.Sequential([keras.Input((4,)), layers.Dense(16, activation="relu"),
                              layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="categorical_crossentropy",
                  metrics=["accuracy"])

    def scheduler(epoch, lr):
        if epoch < 3:
            return lr
        return lr * 0.5

    epoch_ends, batch_losses = [], []
    print_epochs = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: epoch_ends.append((epoch, logs["val_loss"])))

    class StopAtAccuracy(keras.callbacks.Callback):
        def __init__(self, target):
            super().__init__()
            self.target = target
            self.stopped_epoch = None

        def on_train_batch_end(self, batch, logs=None):
            batch_losses.append(logs["loss"])

        def on_epoch_end(self, epoch, logs=None):
            if logs.get("val_accuracy") >= self.target:
                self.stopped_epoch = epoch
                self.model.stop_training = True

    stopper = StopAtAccuracy(0.9)
    csv_path = str(tmp_path / "training.log")
    history = model.fit(
        x, y, batch_size=32, epochs=30, initial_epoch=1, validation_split=0.2, verbose=0,
        callbacks=[print_epochs, keras.callbacks.CSVLogger(csv_path),
                   keras.callbacks.LearningRateScheduler(scheduler), stopper])

    assert stopper.stopped_epoch is not None and stopper.stopped_epoch < 29
    assert history.epoch == list(range(1, stopper.stopped_epoch + 1))
    assert history.history["val_accuracy"][-1] >= 0.9
    assert all(a < 0.9 for a in history.history["val_accuracy"][:-1])
    assert history.params["epochs"] == 30 and history.params["steps"] == 10  # 320 / 32
    assert [e for e, _ in epoch_ends] == history.epoch
    assert [v for _, v in epoch_ends] == pytest.approx(history.history["val_loss"])
    assert len(batch_losses) == 10 * len(history.epoch)
    # epochs 1 and 2 at 0.02, then halved from epoch 3 on
    expected_lr = [0.02 * 0.5 ** max(0, e - 2) for e in history.epoch]
    assert history.history["lr"] == pytest.approx(expected_lr, rel=1e-6)
    assert float(model.optimizer.learning_rate) == pytest.approx(expected_lr[-1], rel=1e-6)

    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == history.epoch
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose([float(r[key]) for r in rows], history.history[key],
                                   rtol=1e-5)


def test_dataset_from_generator_split_with_take_skip_and_fit_with_steps_per_epoch():
    rng = np.random.default_rng(7)
    features = rng.normal(size=(500, 6)).astype("float32")
    targets = (features @ rng.normal(size=(6,)) > 0).astype("int32")

    def gen():
        for i in range(len(features)):
            yield i, features[i], targets[i]

    ds = tf.data.Dataset.from_generator(gen, output_signature=(
        tf.TensorSpec(shape=(), dtype=tf.int32),
        tf.TensorSpec(shape=(6,), dtype=tf.float32),
        tf.TensorSpec(shape=(), dtype=tf.int32)))
    assert int(ds.cardinality()) == tf.data.UNKNOWN_CARDINALITY

    def scale(index, x, y):
        return index, x * 2.0, y

    ds = ds.map(scale, num_parallel_calls=tf.data.AUTOTUNE)
    # shuffled once, the same order on every pass: the split stays a split
    ds = ds.shuffle(500, seed=7, reshuffle_each_iteration=False)
    val_size = 100
    val_ds = ds.take(val_size)
    train_ds = ds.skip(val_size)
    train_ids = [int(i) for i, _, _ in train_ds]
    val_ids = [int(i) for i, _, _ in val_ds]
    assert len(val_ids) == val_size and len(train_ids) == 400
    assert sorted(train_ids + val_ids) == list(range(500))
    assert [int(i) for i, _, _ in val_ds] == val_ids  # a second pass: the same order

    def drop_index(index, x, y):
        return x, y

    # batches of 25 divide both splits: fit and evaluate each compile one step (a last
    # partial batch would compile its own); 12 steps an epoch cross the passes' boundaries
    train = train_ds.map(drop_index).shuffle(400, reshuffle_each_iteration=True) \
        .batch(25).repeat()
    reshuffled = train_ds.shuffle(400, seed=1)  # reshuffle_each_iteration=True by default
    first, second = ([int(i) for i, _, _ in reshuffled] for _ in range(2))
    assert first != second and sorted(first) == sorted(second) == sorted(train_ids)
    val = val_ds.map(drop_index).batch(25).prefetch(tf.data.AUTOTUNE)
    assert int(train.cardinality()) == tf.data.INFINITE_CARDINALITY

    tf.random.set_seed(7)
    model = keras.Sequential([keras.Input((6,)), layers.Dense(16, activation="relu"),
                              layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(train, epochs=8, steps_per_epoch=12, validation_data=val,
                        verbose=0)
    assert history.params["steps"] == 12 and len(history.history["loss"]) == 8
    loss, accuracy = model.evaluate(val, verbose=0)
    assert accuracy > 0.9  # a linear boundary; the majority class is ~0.5
    assert loss == pytest.approx(history.history["val_loss"][-1], rel=1e-5)
    # evaluate(ds) is the mean over the same examples as NumPy computes it
    x_val = np.stack([features[i] * 2.0 for i in val_ids])
    y_val = targets[val_ids]
    p = model.predict(x_val, batch_size=25, verbose=0).ravel()
    assert accuracy == pytest.approx(np.mean((p > 0.5) == y_val), abs=1e-6)


def test_seq2seq_bidirectional_encoder_teacher_forcing_and_greedy_decoding():
    # reverse a sequence of 4 digits 1..6; 0 is the start token of the decoder
    rng = np.random.default_rng(8)
    n, length, vocab, units = 1536, 4, 7, 32
    source = rng.integers(1, vocab, (n, length)).astype("int32")
    target = source[:, ::-1]
    decoder_input = np.concatenate([np.zeros((n, 1), "int32"), target[:, :-1]], axis=1)

    tf.random.set_seed(8)
    encoder_inputs = keras.Input(shape=(None,), dtype="int32")
    enc_emb = layers.Embedding(vocab, 16)(encoder_inputs)
    encoder = layers.Bidirectional(layers.LSTM(units // 2, return_state=True))
    _, forward_h, forward_c, backward_h, backward_c = encoder(enc_emb)
    state_h = layers.Concatenate()([forward_h, backward_h])
    state_c = layers.Concatenate()([forward_c, backward_c])
    encoder_states = [state_h, state_c]

    decoder_inputs = keras.Input(shape=(None,), dtype="int32")
    dec_embedding = layers.Embedding(vocab, 16)
    decoder_lstm = layers.LSTM(units, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(dec_embedding(decoder_inputs),
                                         initial_state=encoder_states)
    decoder_dense = layers.TimeDistributed(layers.Dense(vocab, activation="softmax"))
    decoder_outputs = decoder_dense(decoder_outputs)
    model = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit([source[:1280], decoder_input[:1280]], target[:1280], batch_size=64,
                        epochs=12, verbose=0)
    assert history.history["accuracy"][-1] > 0.95  # teacher forced; chance is 1/6

    # inference models from the same layers, as keras.io's lstm_seq2seq builds them
    encoder_model = keras.Model(encoder_inputs, encoder_states)
    state_input_h, state_input_c = keras.Input((units,)), keras.Input((units,))
    out, h, c = decoder_lstm(dec_embedding(decoder_inputs),
                             initial_state=[state_input_h, state_input_c])
    decoder_model = keras.Model([decoder_inputs, state_input_h, state_input_c],
                                [decoder_dense(out), h, c])

    test_source = source[1280:]
    states = encoder_model.predict(test_source, verbose=0)
    token = np.zeros((len(test_source), 1), "int32")
    decoded = []
    for _ in range(length):  # greedy: feed back the most likely token, one step at a time
        probs, h, c = decoder_model.predict([token, *states], verbose=0)
        token = np.argmax(probs[:, -1], axis=-1).astype("int32")[:, None]
        decoded.append(token[:, 0])
        states = [h, c]
    decoded = np.stack(decoded, axis=1)
    assert np.mean(np.all(decoded == target[1280:], axis=1)) > 0.8  # whole sequences

    # a GRU's returned state is its last output (closed form of return_state)
    gru = layers.GRU(5, return_sequences=True, return_state=True)
    whole, last = gru(tf.random.normal([3, 6, 2]))
    assert whole.shape == (3, 6, 5) and last.shape == (3, 5)
    np.testing.assert_allclose(whole[:, -1], last, rtol=1e-6)
