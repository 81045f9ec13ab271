"""The twenty-first round of whole TF2 programs, continued (see test_tf2_ports.py): TF's
"Load NumPy data" tutorial as written, on an .npz the test makes in place of mnist.npz.
Only the imports change, except where a line says why.

Oracles: the arrays the dataset was made from, accuracy far above chance on separable
classes, and evaluate's loss and accuracy recomputed in NumPy from the model's logits.
"""

import os

import numpy as np
import pytest

import xlaflow as tf


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tf.keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def _write_mnist_like(path, rng):
    # mnist.npz's keys and dtypes (uint8 28x28 images, uint8 labels): class k is a faintly
    # brighter band over rows 2k+4..2k+8 of a noisy image, so the classes separate
    def split(n):
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        images = rng.integers(0, 170, size=(n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(labels):
            images[i, 2 * k + 4:2 * k + 9] += 80
        return images, labels

    (x_train, y_train), (x_test, y_test) = split(1200), split(300)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return x_train, y_train, x_test, y_test


def test_load_numpy_data():
    path = "mnist.npz"  # tf.keras.utils.get_file('mnist.npz', DATA_URL) offline
    x_train, y_train, x_test, y_test = _write_mnist_like(path, np.random.default_rng(1))
    with np.load(path) as data:
        train_examples = data['x_train']
        train_labels = data['y_train']
        test_examples = data['x_test']
        test_labels = data['y_test']

    train_dataset = tf.data.Dataset.from_tensor_slices((train_examples, train_labels))
    test_dataset = tf.data.Dataset.from_tensor_slices((test_examples, test_labels))
    # oracle: the dataset's elements are the arrays' rows, dtypes kept
    elements = list(test_dataset.as_numpy_iterator())
    assert len(elements) == len(x_test)
    for (image, label), want_image, want_label in zip(elements, x_test, y_test):
        assert image.dtype == np.uint8 and image.shape == (28, 28)
        np.testing.assert_array_equal(image, want_image)
        assert label == want_label

    BATCH_SIZE = 64
    SHUFFLE_BUFFER_SIZE = 100

    train_dataset = train_dataset.shuffle(SHUFFLE_BUFFER_SIZE).batch(BATCH_SIZE)
    test_dataset = test_dataset.batch(BATCH_SIZE)
    # a shuffle keeps every example once; batching keeps the order of the test set
    seen = sorted((int(y), x.tobytes()) for xb, yb in train_dataset.as_numpy_iterator()
                  for x, y in zip(xb, yb))
    assert seen == sorted((int(y), x.tobytes()) for x, y in zip(x_train, y_train))
    batches = list(test_dataset.as_numpy_iterator())
    assert [len(y) for _, y in batches] == [64] * 4 + [300 - 256]
    np.testing.assert_array_equal(np.concatenate([x for x, _ in batches]), x_test)

    model = tf.keras.Sequential([
        tf.keras.layers.Flatten(input_shape=(28, 28)),
        tf.keras.layers.Dense(128, activation='relu'),
        tf.keras.layers.Dense(10)
    ])

    model.compile(optimizer=tf.keras.optimizers.RMSprop(),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=['sparse_categorical_accuracy'])

    history = model.fit(train_dataset, epochs=10, verbose=0)
    # chance is 0.1; raw 0-255 pixels (the tutorial does not scale them) make the epochs
    # uneven, as with MNIST
    assert max(history.history["sparse_categorical_accuracy"]) > 0.9

    loss, accuracy = model.evaluate(test_dataset, verbose=0)
    assert accuracy > 0.8
    # oracle: the metrics recomputed in NumPy from the model's logits
    logits = model.predict(test_dataset, verbose=0).astype(np.float64)
    assert logits.shape == (300, 10)
    np.testing.assert_allclose(accuracy, np.mean(logits.argmax(-1) == y_test), atol=1e-6)
    log_softmax = logits - logits.max(-1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(-1, keepdims=True))
    np.testing.assert_allclose(loss, -log_softmax[np.arange(300), y_test].mean(),
                               rtol=1e-4, atol=1e-6)
