"""TF's distributed-training tutorials (TF 2.12 era) as whole programs, imports changed.

"Distributed training with Keras", "Custom training with tf.distribute.Strategy" and the
tf.distribute guide's small examples, run on the two host CPU devices tests/conftest.py
forces. Each program runs once under MirroredStrategy and once on one device (the default
strategy, or OneDeviceStrategy) from the same seed: data parallelism over the global batch
must give the one-device numbers; losses are checked against NumPy where they have closed
forms. MNIST and Fashion-MNIST are replaced by scikit-learn's 8x8 digits (offline, fast).
"""

import os

import numpy as np
import pytest

import xlaflow as tf

pytestmark = pytest.mark.two_devices


def _digits():
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = (digits.images[..., None] * (255.0 / 16.0)).round().astype(np.uint8)
    labels = digits.target.astype(np.int64)
    # 1,024 training and 256 test examples: every batch below is full
    return (images[:1024], labels[:1024]), (images[1024:1280], labels[1024:1280])


def _keras_tutorial(strategy, workdir, capsys, BATCH_SIZE_PER_REPLICA):
    """"Distributed training with Keras", its cells in order (tfds -> NumPy digits);
    the per-replica batch is an argument so both runs share one global batch size."""
    tf.keras.utils.set_random_seed(0)
    (train_x, train_y), (test_x, test_y) = _digits()
    mnist_train = tf.data.Dataset.from_tensor_slices((train_x, train_y))
    mnist_test = tf.data.Dataset.from_tensor_slices((test_x, test_y))

    print(f'Number of devices: {strategy.num_replicas_in_sync}')
    BUFFER_SIZE = 10000
    BATCH_SIZE = BATCH_SIZE_PER_REPLICA * strategy.num_replicas_in_sync

    def scale(image, label):
        image = tf.cast(image, tf.float32)
        image /= 255
        return image, label

    train_dataset = mnist_train.map(scale).cache().shuffle(BUFFER_SIZE, seed=1) \
        .batch(BATCH_SIZE)
    eval_dataset = mnist_test.map(scale).batch(BATCH_SIZE)

    with strategy.scope():
        model = tf.keras.Sequential([
            tf.keras.layers.Conv2D(8, 3, activation='relu', input_shape=(8, 8, 1)),
            tf.keras.layers.MaxPooling2D(),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(32, activation='relu'),
            tf.keras.layers.Dense(10)
        ])
        model.compile(loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      optimizer=tf.keras.optimizers.Adam(),
                      metrics=['accuracy'])

    checkpoint_dir = os.path.join(workdir, 'training_checkpoints')
    checkpoint_prefix = os.path.join(checkpoint_dir, "ckpt_{epoch}")

    def decay(epoch):
        if epoch < 3:
            return 1e-2
        elif epoch >= 3 and epoch < 5:
            return 1e-3
        else:
            return 1e-4

    class PrintLR(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(f'\nLearning rate for epoch {epoch + 1} is {model.optimizer.lr.numpy()}')

    callbacks = [
        tf.keras.callbacks.TensorBoard(log_dir=os.path.join(workdir, 'logs')),
        tf.keras.callbacks.ModelCheckpoint(filepath=checkpoint_prefix,
                                           save_weights_only=True),
        tf.keras.callbacks.LearningRateScheduler(decay),
        PrintLR()
    ]

    EPOCHS = 6
    history = model.fit(train_dataset, epochs=EPOCHS, callbacks=callbacks, verbose=0)
    printed = capsys.readouterr().out

    latest = tf.train.latest_checkpoint(checkpoint_dir)
    final_weights = model.get_weights()
    model.set_weights([np.zeros_like(w) for w in final_weights])
    model.load_weights(latest)
    eval_loss, eval_acc = model.evaluate(eval_dataset, verbose=0)

    path = os.path.join(workdir, 'saved_model/')
    model.save(path, save_format='tf')

    unreplicated_model = tf.keras.models.load_model(path)
    unreplicated_model.compile(
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=tf.keras.optimizers.Adam(), metrics=['accuracy'])
    unreplicated = unreplicated_model.evaluate(eval_dataset, verbose=0)

    with strategy.scope():
        replicated_model = tf.keras.models.load_model(path)
        replicated_model.compile(
            loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            optimizer=tf.keras.optimizers.Adam(), metrics=['accuracy'])
        replicated = replicated_model.evaluate(eval_dataset, verbose=0)
    return dict(printed=printed, history=history.history, latest=latest,
                checkpoints=sorted(os.listdir(checkpoint_dir)), final=final_weights,
                restored=model.get_weights(), eval=(eval_loss, eval_acc),
                unreplicated=unreplicated, replicated=replicated,
                logs=os.listdir(os.path.join(workdir, 'logs')), test=(test_x, test_y),
                predict=model.predict(eval_dataset, verbose=0))


def test_distributed_training_with_keras_tutorial(tmp_path, capsys):
    strategy = tf.distribute.MirroredStrategy()
    assert strategy.num_replicas_in_sync == 2
    mirrored = _keras_tutorial(strategy, str(tmp_path / "mirrored"), capsys, 32)
    single = _keras_tutorial(tf.distribute.get_strategy(), str(tmp_path / "single"),
                             capsys, 64)

    # the callbacks: the scheduler's rates, as PrintLR saw them after each epoch
    expected = [1e-2] * 3 + [1e-3] * 2 + [1e-4]
    for run in (mirrored, single):
        lines = [line for line in run["printed"].splitlines() if "Learning rate" in line]
        assert len(lines) == 6
        for epoch, (line, lr) in enumerate(zip(lines, expected)):
            assert line.startswith(f"Learning rate for epoch {epoch + 1} is ")
            assert float(line.rsplit(" ", 1)[1]) == pytest.approx(lr, rel=1e-6)
        np.testing.assert_allclose(run["history"]["lr"], expected, rtol=1e-6)
        # ModelCheckpoint wrote one checkpoint per epoch; the latest is epoch 6's, and
        # loading it brings back the weights fit ended with
        assert run["latest"].endswith("ckpt_6")
        for a, b in zip(run["restored"], run["final"]):
            np.testing.assert_array_equal(a, b)
        assert run["logs"]  # TensorBoard wrote its train/ directory
        # evaluate's numbers against NumPy on the restored model's logits
        logits = run["predict"].astype(np.float64)
        labels = run["test"][1]
        log_softmax = logits - logits.max(1, keepdims=True)
        log_softmax -= np.log(np.exp(log_softmax).sum(1, keepdims=True))
        loss = -log_softmax[np.arange(len(labels)), labels].mean()
        acc = (logits.argmax(1) == labels).mean()
        assert run["eval"][0] == pytest.approx(loss, rel=1e-4)
        assert run["eval"][1] == pytest.approx(acc, abs=1e-6)
        assert acc > 0.85  # digits are easy: training really happened
        # the saved model evaluates the same with and without the strategy
        np.testing.assert_allclose(run["unreplicated"], run["eval"], rtol=1e-5)
        np.testing.assert_allclose(run["replicated"], run["eval"], rtol=1e-5)

    # data parallelism over the global batch = one device on the global batch
    np.testing.assert_allclose(mirrored["history"]["loss"], single["history"]["loss"],
                               rtol=2e-4)
    for a, b in zip(mirrored["final"], single["final"]):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4)


def test_latest_checkpoint_finds_save_weights_directories(tmp_path):
    # TF's save_weights (TF format) names its prefix in the directory's `checkpoint` file,
    # so latest_checkpoint returns the newest ModelCheckpoint `ckpt_{epoch}` weights (it
    # used to return `<dir>/6`, orbax's reading of "ckpt_6" as step 6, which does not exist)
    model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
    for epoch in (1, 2, 10, 3):  # the newest write wins, not the largest number
        model.save_weights(str(tmp_path / f"ckpt_{epoch}"))
    assert tf.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "ckpt_3")
    # weights named `checkpoint` leave the state file's name alone
    model.save_weights(str(tmp_path / "more" / "checkpoint"))
    assert os.path.isdir(tmp_path / "more" / "checkpoint")
