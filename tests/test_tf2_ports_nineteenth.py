"""The nineteenth round of whole TF2 programs (see test_tf2_ports.py): the Keras 2 (TF 2.12)
guide "Writing your own callbacks", its programs as written on synthetic MNIST-shaped data
(784 features, digit labels as regression targets) since the tests download nothing.

Oracles: the guide's printed transcript (hook order, batch indices, logs' keys), evaluate's
running loss as the NumPy MSE of the samples seen so far, the early-stopping rule replayed
on the recorded epoch losses, and RMSprop's update solved for the learning rate it used.
The guide's str.format and % prints are f-strings here (the lint gate's UP031/UP032).
"""

import os
import re

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


# Define the Keras model to add callbacks to
def get_model():
    model = keras.Sequential()
    model.add(keras.layers.Dense(1, input_dim=784))
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
        loss="mean_squared_error",
        metrics=["mean_absolute_error"],
    )
    return model


def _mnist_like():
    """The guide's first 1000 train and test samples, flattened and scaled to [0, 1]; here
    noise images whose label is a linear function of them (learnable as the guide's are)."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(2000, 784)).astype("float32")
    y = np.clip(np.round((x[:, :10].mean(1) / 255.0) * 9.0), 0, 9).astype("uint8")
    x_train = x[:1000].reshape(-1, 784).astype("float32") / 255.0
    x_test = x[1000:].reshape(-1, 784).astype("float32") / 255.0
    return x_train, y[:1000], x_test, y[1000:]


class CustomCallback(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        keys = list(logs.keys())
        print(f"Starting training; got log keys: {keys}")

    def on_train_end(self, logs=None):
        keys = list(logs.keys())
        print(f"Stop training; got log keys: {keys}")

    def on_epoch_begin(self, epoch, logs=None):
        keys = list(logs.keys())
        print(f"Start epoch {epoch} of training; got log keys: {keys}")

    def on_epoch_end(self, epoch, logs=None):
        keys = list(logs.keys())
        print(f"End epoch {epoch} of training; got log keys: {keys}")

    def on_test_begin(self, logs=None):
        keys = list(logs.keys())
        print(f"Start testing; got log keys: {keys}")

    def on_test_end(self, logs=None):
        keys = list(logs.keys())
        print(f"Stop testing; got log keys: {keys}")

    def on_predict_begin(self, logs=None):
        keys = list(logs.keys())
        print(f"Start predicting; got log keys: {keys}")

    def on_predict_end(self, logs=None):
        keys = list(logs.keys())
        print(f"Stop predicting; got log keys: {keys}")

    def on_train_batch_begin(self, batch, logs=None):
        keys = list(logs.keys())
        print(f"...Training: start of batch {batch}; got log keys: {keys}")

    def on_train_batch_end(self, batch, logs=None):
        keys = list(logs.keys())
        print(f"...Training: end of batch {batch}; got log keys: {keys}")

    def on_test_batch_begin(self, batch, logs=None):
        keys = list(logs.keys())
        print(f"...Evaluating: start of batch {batch}; got log keys: {keys}")

    def on_test_batch_end(self, batch, logs=None):
        keys = list(logs.keys())
        print(f"...Evaluating: end of batch {batch}; got log keys: {keys}")

    def on_predict_batch_begin(self, batch, logs=None):
        keys = list(logs.keys())
        print(f"...Predicting: start of batch {batch}; got log keys: {keys}")

    def on_predict_batch_end(self, batch, logs=None):
        keys = list(logs.keys())
        print(f"...Predicting: end of batch {batch}; got log keys: {keys}")


def _guide_transcript(train_batches, val_batches, test_batches, predict_batches):
    """The lines the guide prints (TF 2.12's output), rebuilt from its batch counts."""
    metrics = "['loss', 'mean_absolute_error']"
    both = "['loss', 'mean_absolute_error', 'val_loss', 'val_mean_absolute_error']"

    def batches(kind, n, end_keys):
        return [line for b in range(n) for line in (
            f"...{kind}: start of batch {b}; got log keys: []",
            f"...{kind}: end of batch {b}; got log keys: {end_keys}")]

    def testing(n):
        return ["Start testing; got log keys: []", *batches("Evaluating", n, metrics),
                f"Stop testing; got log keys: {metrics}"]

    fit = ["Starting training; got log keys: []", "Start epoch 0 of training; got log keys: []",
           *batches("Training", train_batches, metrics), *testing(val_batches),
           f"End epoch 0 of training; got log keys: {both}",
           f"Stop training; got log keys: {both}"]
    predict = ["Start predicting; got log keys: []",
               *batches("Predicting", predict_batches, "['outputs']"),
               "Stop predicting; got log keys: []"]
    return fit + testing(test_batches) + predict


def test_callbacks_guide_every_hook_in_order_with_its_logs_keys(capsys):
    x_train, y_train, x_test, y_test = _mnist_like()
    model = get_model()
    model.fit(
        x_train,
        y_train,
        batch_size=128,
        epochs=1,
        verbose=0,
        validation_split=0.5,
        callbacks=[CustomCallback()],
    )

    res = model.evaluate(
        x_test, y_test, batch_size=128, verbose=0, callbacks=[CustomCallback()]
    )

    res = model.predict(x_test, batch_size=128, callbacks=[CustomCallback()])
    # 500 training and 500 validation samples in batches of 128: 4 each; 1000 test: 8
    printed = [line for line in capsys.readouterr().out.splitlines()
               if "got log keys" in line]  # predict's progress bar prints too (verbose=1)
    assert printed == _guide_transcript(4, 4, 8, 8)
    assert res.shape == (1000, 1)


class LossAndErrorPrintingCallback(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        print(
            "Up to batch {}, the average loss is {:7.2f}.".format(batch, logs["loss"])
        )

    def on_test_batch_end(self, batch, logs=None):
        print(
            "Up to batch {}, the average loss is {:7.2f}.".format(batch, logs["loss"])
        )

    def on_epoch_end(self, epoch, logs=None):
        print(
            "The average loss for epoch {} is {:7.2f} "
            "and mean absolute error is {:7.2f}.".format(
                epoch, logs["loss"], logs["mean_absolute_error"]
            )
        )


def _printed_numbers(text, pattern):
    return [tuple(float(g) for g in m.groups()) for m in re.finditer(pattern, text)]


def test_callbacks_guide_loss_and_error_printing_running_averages(capsys):
    x_train, y_train, x_test, y_test = _mnist_like()
    model = get_model()
    model.fit(
        x_train,
        y_train,
        batch_size=128,
        epochs=2,
        verbose=0,
        callbacks=[LossAndErrorPrintingCallback()],
    )
    fit_out = capsys.readouterr().out
    res = model.evaluate(
        x_test,
        y_test,
        batch_size=128,
        verbose=0,
        callbacks=[LossAndErrorPrintingCallback()],
    )
    eval_out = capsys.readouterr().out

    # fit: 8 batches (1000 / 128) an epoch; an epoch's loss is its last batch's running one
    batches = _printed_numbers(fit_out, r"Up to batch (\d+), the average loss is +(\S+)\.")
    epochs = _printed_numbers(
        fit_out, r"epoch (\d) is +(\S+) and mean absolute error is +(\S+)\.")
    assert [int(b) for b, _ in batches] == list(range(8)) * 2
    assert [int(e) for e, _, _ in epochs] == [0, 1]
    assert [loss for _, loss in batches[7::8]] == [loss for _, loss, _ in epochs]

    # evaluate, weights fixed: "up to batch b" is the MSE over the first 128 (b + 1) samples
    kernel, bias = model.layers[0].get_weights()
    errors = (x_test.astype(np.float64) @ kernel + bias)[:, 0] - y_test
    expected = [np.mean(errors[:128 * (b + 1)] ** 2) for b in range(8)]
    printed = _printed_numbers(eval_out, r"Up to batch (\d+), the average loss is +(\S+)\.")
    assert [int(b) for b, _ in printed] == list(range(8))
    np.testing.assert_allclose([loss for _, loss in printed], expected, atol=0.0051)
    assert res[0] == pytest.approx(expected[-1], rel=1e-4)
    assert res[1] == pytest.approx(np.mean(np.abs(errors)), rel=1e-4)


class EarlyStoppingAtMinLoss(keras.callbacks.Callback):
    """Stop training when the loss is at its min, i.e. the loss stops decreasing.

  Arguments:
      patience: Number of epochs to wait after min has been hit. After this
      number of no improvement, training stops.
  """

    def __init__(self, patience=0):
        super().__init__()
        self.patience = patience
        # best_weights to store the weights at which the minimum loss occurs.
        self.best_weights = None

    def on_train_begin(self, logs=None):
        # The number of epoch it has waited when loss is no longer minimum.
        self.wait = 0
        # The epoch the training stops at.
        self.stopped_epoch = 0
        # Initialize the best as infinity.
        self.best = np.inf  # the guide's np.Inf: NumPy 2 keeps only this spelling

    def on_epoch_end(self, epoch, logs=None):
        current = logs.get("loss")
        if np.less(current, self.best):
            self.best = current
            self.wait = 0
            # Record the best weights if current results is better (less).
            self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
                print("Restoring model weights from the end of the best epoch.")
                self.model.set_weights(self.best_weights)

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0:
            print(f"Epoch {self.stopped_epoch + 1:05d}: early stopping")


class EpochRecorder(keras.callbacks.Callback):
    """Not in the guide: each epoch's loss and weights, read before the early stopper's."""

    def on_train_begin(self, logs=None):
        self.losses, self.weights = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.losses.append(logs["loss"])
        self.weights.append(self.model.get_weights())


def test_callbacks_guide_early_stopping_restores_the_best_weights(capsys):
    x_train, y_train, _, _ = _mnist_like()
    recorder = EpochRecorder()
    model = get_model()
    history = model.fit(
        x_train,
        y_train,
        batch_size=64,
        steps_per_epoch=5,
        epochs=30,
        verbose=0,
        callbacks=[LossAndErrorPrintingCallback(), recorder, EarlyStoppingAtMinLoss()],
    )
    out = capsys.readouterr().out

    # patience=0: training stops after the first epoch whose loss is not a new minimum
    losses = recorder.losses
    first_worse = next(e for e in range(1, len(losses)) if losses[e] >= min(losses[:e]))
    assert len(losses) == first_worse + 1 < 30  # this data stops it (RMSprop at lr 0.1)
    assert history.epoch == list(range(first_worse + 1))
    assert "Restoring model weights from the end of the best epoch." in out
    assert f"Epoch {first_worse + 1:05d}: early stopping" in out

    # set_weights inside on_epoch_end is what the model keeps after fit
    best = recorder.weights[int(np.argmin(losses))]
    for kept, wanted in zip(model.get_weights(), best):
        np.testing.assert_array_equal(kept, wanted)
    kernel, bias = best
    np.testing.assert_allclose(model.predict(x_train[:5], verbose=0),
                               x_train[:5] @ kernel + bias, rtol=1e-5, atol=1e-5)


class CustomLearningRateScheduler(keras.callbacks.Callback):
    """Learning rate scheduler which sets the learning rate according to schedule.

  Arguments:
      schedule: a function that takes an epoch index
          (integer, indexed from 0) and current learning rate
          as inputs and returns a new learning rate as output (float).
  """

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self.model.optimizer, "lr"):
            raise ValueError('Optimizer must have a "lr" attribute.')
        # Get the current learning rate from model's optimizer.
        lr = float(tf.keras.backend.get_value(self.model.optimizer.learning_rate))
        # Call schedule function to get the scheduled learning rate.
        scheduled_lr = self.schedule(epoch, lr)
        # Set the value back to the optimizer before this epoch starts
        tf.keras.backend.set_value(self.model.optimizer.lr, scheduled_lr)
        print(f"\nEpoch {epoch:05d}: Learning rate is {scheduled_lr:6.4f}.")


LR_SCHEDULE = [
    # (epoch to start, learning rate) tuples
    (3, 0.05),
    (6, 0.01),
    (9, 0.005),
    (12, 0.001),
]


def lr_schedule(epoch, lr):
    """Helper function to retrieve the scheduled learning rate based on epoch."""
    if epoch < LR_SCHEDULE[0][0] or epoch > LR_SCHEDULE[-1][0]:
        return lr
    for i in range(len(LR_SCHEDULE)):
        if epoch == LR_SCHEDULE[i][0]:
            return LR_SCHEDULE[i][1]
    return lr


class FirstStepOfEachEpoch(keras.callbacks.Callback):
    """Not in the guide: the weights and their RMSprop velocities (flattened, float64)
    around each epoch's first step."""

    def on_train_begin(self, logs=None):
        self.steps = []

    def _state(self):
        weights = [np.asarray(w, np.float64).ravel() for w in self.model.get_weights()]
        slots = {tuple(v.shape): np.asarray(v.numpy(), np.float64).ravel()
                 for v in self.model.optimizer.variables if v.shape in ((784, 1), (1,))}
        # none before the first step builds them: Keras' slots start at zero
        velocity = [slots.get(shape, np.zeros(int(np.prod(shape))))
                    for shape in ((784, 1), (1,))]
        return np.concatenate(weights), np.concatenate(velocity)

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self._before = self._state()

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            self.steps.append((self._before, self._state()))


def test_callbacks_guide_custom_learning_rate_scheduler_reaches_the_update():
    x_train, y_train, _, _ = _mnist_like()
    steps = FirstStepOfEachEpoch()
    model = get_model()
    model.fit(
        x_train,
        y_train,
        batch_size=64,
        steps_per_epoch=5,
        epochs=15,
        verbose=0,
        callbacks=[
            LossAndErrorPrintingCallback(),
            CustomLearningRateScheduler(lr_schedule),
            steps,
        ],
    )
    scheduled = [0.1] * 3 + [0.05] * 3 + [0.01] * 3 + [0.005] * 3 + [0.001] * 3
    assert float(keras.backend.get_value(model.optimizer.learning_rate)) == \
        pytest.approx(0.001)
    # Keras' RMSprop: v' = rho v + (1 - rho) g^2 and b' = b - lr g / sqrt(v' + eps), so the
    # rate a step used is |b' - b| sqrt(v' + eps) / |g|, with |g| = sqrt((v' - rho v) / 0.1)
    # (read where g^2 dominates v', so float32's rounding of v' hardly matters)
    used = []
    for (w0, v0), (w1, v1) in steps.steps:
        i = np.argmax((v1 - 0.9 * v0) / (v1 + 1e-30))
        g = np.sqrt((v1[i] - 0.9 * v0[i]) / 0.1)
        used.append(abs(w1[i] - w0[i]) * np.sqrt(v1[i] + 1e-7) / g)
    np.testing.assert_allclose(used, scheduled, rtol=2e-3)


def test_input_dim_is_keras_2s_alias_of_a_one_axis_input_shape():
    # the guide's Dense(1, input_dim=784): Keras 2's base Layer reads input_dim=n as
    # input_shape=(n,), so the Sequential is built at once; an explicit input_shape wins
    model = keras.Sequential([keras.layers.Dense(2, input_dim=3)])
    assert [tuple(w.shape) for w in model.weights] == [(3, 2), (2,)]
    assert model.layers[0].input_shape == (None, 3)
    layer = keras.layers.Dense(2, input_shape=(5,), input_dim=3)
    assert keras.Sequential([layer]).layers[0].kernel.shape == (5, 2)
