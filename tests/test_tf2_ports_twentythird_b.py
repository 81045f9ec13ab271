"""The twenty-third round, part b (see test_tf2_ports_twentythird.py): TF's "Mixed precision"
guide (TF 2.12) as written, imports changed, on MNIST-shaped synthetic digits made here
(2,000 to train, 500 to test) in place of the download. On a CPU the guide itself picks 64
units; the GPU performance tips are prose. test_tf2_ports_more.py has an earlier, shorter
custom loop with a LossScaleOptimizer.

Oracles: the policy's dtypes and the float16 overflow and underflow (NumPy's float16 agrees);
each epoch-0 loss (fit's and the custom loop's) equals the cross-entropy of a NumPy forward
pass at the initial weights, in float16 where the policy computes in float16; the model's
predictions equal that forward pass at the trained weights; both trainings beat chance's
accuracy of 0.1 on the held-out digits.
"""

import os

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras
from xlaflow.keras import layers, mixed_precision


@pytest.fixture(autouse=True)
def _float32_after(monkeypatch):
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))
    yield
    mixed_precision.set_global_policy('float32')  # the guide leaves it set; later tests don't


def _synthetic_mnist(n_train=2000, n_test=500):
    """MNIST-shaped uint8 digits: each class a fixed random stroke pattern, noised."""
    rng = np.random.default_rng(123)
    prototypes = rng.random((10, 28, 28)) < 0.15
    labels = rng.integers(0, 10, n_train + n_test).astype("uint8")
    images = prototypes[labels] * 200.0 + rng.normal(0, 60, (len(labels), 28, 28))
    images = np.clip(images, 0, 255).astype("uint8")
    return ((images[:n_train], labels[:n_train]), (images[n_train:], labels[n_train:]))


def _forward_numpy(weights, x, compute_dtype):
    """dense_1, dense_2 (relu), dense_logits in compute_dtype, the softmax in float32."""
    k1, b1, k2, b2, k3, b3 = (w.astype(compute_dtype) for w in weights)
    h = np.maximum(x.astype(compute_dtype) @ k1 + b1, 0).astype(compute_dtype)
    h = np.maximum(h @ k2 + b2, 0).astype(compute_dtype)
    logits = (h @ k3 + b3).astype(compute_dtype).astype("float64")
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _cross_entropy(probabilities, y):
    return float(np.mean(-np.log(probabilities[np.arange(len(y)), y])))


def test_mixed_precision_guide(capsys):
    policy = mixed_precision.Policy('mixed_float16')
    mixed_precision.set_global_policy(policy)
    # Equivalent to the two lines above
    mixed_precision.set_global_policy('mixed_float16')

    print('Compute dtype: %s' % policy.compute_dtype)  # noqa: UP031
    print('Variable dtype: %s' % policy.variable_dtype)  # noqa: UP031
    assert capsys.readouterr().out == "Compute dtype: float16\nVariable dtype: float32\n"

    inputs = keras.Input(shape=(784,), name='digits')
    if tf.config.list_physical_devices('GPU'):
        print('The model will run with 4096 units on a GPU')
        num_units = 4096
    else:
        # Use fewer units on CPUs so the model finishes in a reasonable amount of time
        print('The model will run with 64 units on a CPU')
        num_units = 64
    dense1 = layers.Dense(num_units, activation='relu', name='dense_1')
    x = dense1(inputs)
    dense2 = layers.Dense(num_units, activation='relu', name='dense_2')
    x = dense2(x)

    print(dense1.dtype_policy)
    print('x.dtype: %s' % x.dtype.name)  # noqa: UP031
    # 'kernel' is dense1's variable
    print('dense1.kernel.dtype: %s' % dense1.kernel.dtype.name)  # noqa: UP031
    out = capsys.readouterr().out
    assert out.endswith('<Policy "mixed_float16">\nx.dtype: float16\n'
                        'dense1.kernel.dtype: float32\n')

    # INCORRECT: softmax and model output will be float16, when it should be float32
    outputs = layers.Dense(10, activation='softmax', name='predictions')(x)
    print('Outputs dtype: %s' % outputs.dtype.name)  # noqa: UP031

    # CORRECT: softmax and model output are float32
    x = layers.Dense(10, name='dense_logits')(x)
    outputs = layers.Activation('softmax', dtype='float32', name='predictions')(x)
    print('Outputs dtype: %s' % outputs.dtype.name)  # noqa: UP031
    assert capsys.readouterr().out == "Outputs dtype: float16\nOutputs dtype: float32\n"

    # The linear activation is an identity function. So this simply casts 'outputs'
    # to float32. In this particular case, 'outputs' is already float32 so this is a
    # no-op.
    outputs = layers.Activation('linear', dtype='float32')(outputs)

    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(loss='sparse_categorical_crossentropy',
                  optimizer=keras.optimizers.RMSprop(),
                  metrics=['accuracy'])

    # keras.datasets.mnist.load_data() downloads; the synthetic digits stand in
    (x_train, y_train), (x_test, y_test) = _synthetic_mnist()
    x_train = x_train.reshape(2000, 784).astype('float32') / 255  # 60000 in the guide
    x_test = x_test.reshape(500, 784).astype('float32') / 255  # 10000 in the guide

    initial_weights = model.get_weights()
    assert [w.dtype for w in initial_weights] == ['float32'] * 6  # variables stay float32

    history = model.fit(x_train, y_train,
                        batch_size=8192,
                        epochs=5,
                        validation_split=0.2)
    test_scores = model.evaluate(x_test, y_test, verbose=2)
    print('Test loss:', test_scores[0])
    print('Test accuracy:', test_scores[1])

    # one batch per epoch (8192 > 1600): epoch 0's loss is the initial weights' on the
    # training split, the first 80%, computed in float16 as the policy does
    n_fit = int(len(x_train) * 0.8)
    expected = _cross_entropy(_forward_numpy(initial_weights, x_train[:n_fit], 'float16'),
                              y_train[:n_fit])
    assert history.history['loss'][0] == pytest.approx(expected, rel=2e-3)
    assert history.history['loss'][-1] < history.history['loss'][0]
    assert test_scores[1] > 0.3  # chance is 0.1
    predictions = model.predict(x_test, verbose=0)
    assert predictions.dtype == np.float32
    np.testing.assert_allclose(predictions, _forward_numpy(model.get_weights(), x_test,
                                                           'float16'), atol=5e-3)
    # ...and float16 it is: a float32 forward pass differs by more than float16's rounding
    assert np.abs(predictions - _forward_numpy(model.get_weights(), x_test, 'float32')).max() \
        > 1e-5

    x = tf.constant(256, dtype='float16')
    assert (x ** 2).numpy() == np.inf  # Overflow
    x = tf.constant(1e-5, dtype='float16')
    assert (x ** 2).numpy() == 0  # Underflow
    with np.errstate(over='ignore'):  # NumPy agrees (and warns of the overflow)
        assert np.float16(256) ** 2 == np.inf and np.float16(1e-5) ** 2 == 0

    optimizer = keras.optimizers.RMSprop()
    optimizer = mixed_precision.LossScaleOptimizer(optimizer)

    loss_object = tf.keras.losses.SparseCategoricalCrossentropy()
    train_dataset = (tf.data.Dataset.from_tensor_slices((x_train, y_train))
                     .shuffle(10000).batch(8192))
    test_dataset = tf.data.Dataset.from_tensor_slices((x_test, y_test)).batch(8192)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            predictions = model(x)
            loss = loss_object(y, predictions)
            scaled_loss = optimizer.get_scaled_loss(loss)
        scaled_gradients = tape.gradient(scaled_loss, model.trainable_variables)
        gradients = optimizer.get_unscaled_gradients(scaled_gradients)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    @tf.function
    def test_step(x):
        return model(x, training=False)

    model.set_weights(initial_weights)
    capsys.readouterr()

    for epoch in range(5):
        epoch_loss_avg = tf.keras.metrics.Mean()
        test_accuracy = tf.keras.metrics.SparseCategoricalAccuracy(
            name='test_accuracy')
        for x, y in train_dataset:
            loss = train_step(x, y)
            epoch_loss_avg(loss)
        for x, y in test_dataset:
            predictions = test_step(x)
            test_accuracy.update_state(y, predictions)
        print('Epoch {}: loss={}, test accuracy={}'.format(epoch, epoch_loss_avg.result(),  # noqa: UP032
                                                           test_accuracy.result()))
        if epoch == 0:
            # the one shuffled batch is all 2000 digits, in an order the mean ignores
            expected = _cross_entropy(_forward_numpy(initial_weights, x_train, 'float16'),
                                      y_train)
            assert float(epoch_loss_avg.result()) == pytest.approx(expected, rel=2e-3)

    assert capsys.readouterr().out.count("Epoch ") == 5
    assert float(test_accuracy.result()) > 0.3  # chance is 0.1
    # no float16 gradient overflowed at 2**15, so every step was applied and the scale kept
    assert float(optimizer.loss_scale) == 2.0 ** 15
    assert int(optimizer.iterations) == 5
    np.testing.assert_allclose(test_step(x_test), _forward_numpy(model.get_weights(), x_test,
                                                                 'float16'), atol=5e-3)
