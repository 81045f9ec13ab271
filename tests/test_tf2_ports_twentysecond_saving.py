"""The twenty-second round of whole TF2 programs (see test_tf2_ports.py): TF's "Save and load
models" tutorial (TF 2.12) as written, imports changed, on MNIST-shaped synthetic digits made
here in place of the download ("Training checkpoints" is in test_tf2_ports_twentysecond_
saving_b.py). The tutorial's relative paths are made under tmp_path.

Oracles: NumPy forward passes of the Dense stack (accuracy before and after a load), the saved
model's own evaluate and predict (a reload is bit-equal), and the file names TF gives where
xlaflow follows them: a weights save is one directory named as TF's prefix (TF writes
`<prefix>.index` and `<prefix>.data-00000-of-00001`), beside the `checkpoint` file TF writes.
`model.save("my_model.keras")` writes Keras 2.12's zip (config.json, metadata.json and
model.weights.h5).
"""

import math
import os
import zipfile

import h5py
import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the tutorial saves to relative paths
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def _load_data():
    """MNIST's shapes and dtypes: uint8 28x28 images, uint8 labels; the digit d brightens
    row 2d+4 of noise, faintly enough that a trained model is good but not perfect."""
    rng = np.random.default_rng(0)

    def split(n):
        labels = rng.integers(0, 10, n).astype("uint8")
        images = rng.integers(0, 200, (n, 28, 28)).astype("uint8")
        images[np.arange(n), 2 * labels + 4, :] += 55
        return images, labels
    return split(1200), split(1000)


(train_images, train_labels), (test_images, test_labels) = _load_data()

train_labels = train_labels[:1000]
test_labels = test_labels[:1000]

train_images = train_images[:1000].reshape(-1, 28 * 28) / 255.0
test_images = test_images[:1000].reshape(-1, 28 * 28) / 255.0


# Define a simple sequential model
def create_model():
    model = tf.keras.Sequential([
        keras.layers.Dense(512, activation='relu', input_shape=(784,)),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10)
    ])

    model.compile(optimizer='adam',
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[tf.keras.metrics.SparseCategoricalAccuracy()])

    return model


def _numpy_accuracy(model):
    """Accuracy on the test set from get_weights() in NumPy (Dropout is off at inference)."""
    w1, b1, w2, b2 = model.get_weights()
    x = test_images.astype("float32")
    logits = np.maximum(x @ w1 + b1, 0.0) @ w2 + b2
    return float(np.mean(np.argmax(logits, axis=1) == test_labels))


def test_checkpoint_callback_then_a_new_model_loads_the_weights(capsys):
    # Create a basic model instance
    model = create_model()

    # Display the model's architecture
    model.summary()

    checkpoint_path = "training_1/cp.ckpt"
    checkpoint_dir = os.path.dirname(checkpoint_path)

    # Create a callback that saves the model's weights
    cp_callback = tf.keras.callbacks.ModelCheckpoint(filepath=checkpoint_path,
                                                     save_weights_only=True,
                                                     verbose=1)

    # Train the model with the new callback
    model.fit(train_images,
              train_labels,
              epochs=10,
              validation_data=(test_images, test_labels),
              callbacks=[cp_callback])  # Pass callback to training

    out = capsys.readouterr().out
    assert "Total params: 407,050" in out  # the tutorial's summary
    # the tutorial's "Epoch 10: saving model to training_1/cp.ckpt", one per epoch
    saves = [line for line in out.splitlines() if line.endswith(" to training_1/cp.ckpt")]
    assert saves == [f"Epoch {e}: saving model to training_1/cp.ckpt" for e in range(1, 11)]
    # TF lists ['checkpoint', 'cp.ckpt.index', 'cp.ckpt.data-00000-of-00001']
    assert sorted(os.listdir(checkpoint_dir)) == ['checkpoint', 'cp.ckpt']
    assert tf.train.latest_checkpoint(checkpoint_dir) == "training_1/cp.ckpt"
    trained = model.get_weights()
    _, trained_acc = model.evaluate(test_images, test_labels, verbose=0)

    # Create a basic model instance
    model = create_model()

    # Evaluate the model
    loss, acc = model.evaluate(test_images, test_labels, verbose=2)
    print(f"Untrained model, accuracy: {100 * acc:5.2f}%")
    assert acc == pytest.approx(_numpy_accuracy(model), abs=1e-3)
    assert acc < 0.3  # ten classes: about chance

    # Loads the weights
    model.load_weights(checkpoint_path)

    # Re-evaluate the model
    loss, acc = model.evaluate(test_images, test_labels, verbose=2)  # noqa: RUF059 -- as the tutorial
    print(f"Restored model, accuracy: {100 * acc:5.2f}%")
    for restored, saved in zip(model.get_weights(), trained):
        np.testing.assert_array_equal(restored, saved)
    assert acc == trained_acc
    assert acc == pytest.approx(_numpy_accuracy(model), abs=1e-3)
    assert acc > 0.7
    assert f"Restored model, accuracy: {100 * acc:5.2f}%" in capsys.readouterr().out


def test_checkpoint_callback_options_latest_checkpoint_and_manual_save():
    # Include the epoch in the file name (uses `str.format`)
    checkpoint_path = "training_2/cp-{epoch:04d}.ckpt"
    checkpoint_dir = os.path.dirname(checkpoint_path)

    batch_size = 32

    # Calculate the number of batches per epoch
    n_batches = len(train_images) / batch_size
    n_batches = math.ceil(n_batches)  # round up the number of batches to the nearest whole integer
    assert 5 * n_batches == 5 * batch_size == 160  # the older tutorial's save_freq=5*batch_size

    # Create a callback that saves the model's weights every 5 epochs
    cp_callback = tf.keras.callbacks.ModelCheckpoint(
        filepath=checkpoint_path,
        verbose=1,
        save_weights_only=True,
        save_freq=5 * n_batches)

    # Create a new model instance
    model = create_model()

    # Save the weights using the `checkpoint_path` format
    model.save_weights(checkpoint_path.format(epoch=0))

    # Train the model with the new callback (the tutorial's 50 epochs are 1,600 steps; 10
    # still save every 5 epochs, more than once, and end on a save)
    model.fit(train_images,
              train_labels,
              epochs=10,
              batch_size=batch_size,
              callbacks=[cp_callback],
              validation_data=(test_images, test_labels),
              verbose=0)

    # one save every 160 batches is one every 5 epochs, named by the epoch it ends
    assert sorted(os.listdir(checkpoint_dir)) == ['checkpoint'] + [
        f"cp-{epoch:04d}.ckpt" for epoch in range(0, 11, 5)]

    latest = tf.train.latest_checkpoint(checkpoint_dir)
    assert latest == 'training_2/cp-0010.ckpt'
    final = model.get_weights()
    _, final_acc = model.evaluate(test_images, test_labels, verbose=0)

    # Create a new model instance
    model = create_model()

    # Load the previously saved weights
    model.load_weights(latest)

    # Re-evaluate the model
    loss, acc = model.evaluate(test_images, test_labels, verbose=2)
    print(f"Restored model, accuracy: {100 * acc:5.2f}%")
    for restored, saved in zip(model.get_weights(), final):  # the last batch ends epoch 10
        np.testing.assert_array_equal(restored, saved)
    assert acc == final_acc == pytest.approx(_numpy_accuracy(model), abs=1e-3)

    # Save the weights
    model.save_weights('./checkpoints/my_checkpoint')

    # Create a new model instance
    model = create_model()

    # Restore the weights
    model.load_weights('./checkpoints/my_checkpoint')

    # Evaluate the model
    loss, acc = model.evaluate(test_images, test_labels, verbose=2)  # noqa: RUF059 -- as the tutorial
    print(f"Restored model, accuracy: {100 * acc:5.2f}%")
    assert acc == final_acc
    assert sorted(os.listdir('checkpoints')) == ['checkpoint', 'my_checkpoint']

    # the epoch-0 save holds the untrained weights the fit started from
    untrained = create_model()
    untrained.load_weights('training_2/cp-0000.ckpt')
    _, acc0 = untrained.evaluate(test_images, test_labels, verbose=0)
    assert acc0 == pytest.approx(_numpy_accuracy(untrained), abs=1e-3) and acc0 < 0.3


def _check_reloaded(model, new_model, capsys):
    """The tutorial's summary, evaluate and predict of the reloaded model, checked against
    the model that was saved."""
    # Show the model architecture
    new_model.summary()
    summary = capsys.readouterr().out
    model.summary()
    assert summary == capsys.readouterr().out  # same layers, names and parameter counts

    # Evaluate the restored model
    loss, acc = new_model.evaluate(test_images, test_labels, verbose=2)
    print(f'Restored model, accuracy: {100 * acc:5.2f}%')
    assert [loss, acc] == model.evaluate(test_images, test_labels, verbose=0)
    assert acc == pytest.approx(_numpy_accuracy(model), abs=1e-3) and acc > 0.7

    print(new_model.predict(test_images).shape)
    assert capsys.readouterr().out.endswith("(1000, 10)\n")
    np.testing.assert_array_equal(new_model.predict(test_images, verbose=0),
                                  model.predict(test_images, verbose=0))
    # "Recreate the exact same model, including its weights and the optimizer"
    for a, b in zip([*new_model.get_weights(), *new_model.optimizer.variables],
                    [*model.get_weights(), *model.optimizer.variables], strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(new_model.optimizer.iterations) == 5 * 32  # 5 epochs of 32 batches


@pytest.fixture(scope="module")
def trained():
    """The tutorial's "Create and train a new model instance" (5 epochs), trained once for
    the three whole-model formats below: saving changes neither the model nor its
    optimizer (each test checks its reload against every variable of it), and each test
    saves to and reloads from a file of its own."""
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))
    model = create_model()
    model.fit(train_images, train_labels, epochs=5, verbose=0)
    return model


def test_save_the_entire_model_in_the_keras_format(capsys, trained):
    # Create and train a new model instance (the shared `trained` fixture).
    model = trained

    # Save the entire model as a `.keras` zip archive.
    model.save('my_model.keras')
    # Keras 2.12's zip archive: the config, the metadata and the weights in HDF5
    with zipfile.ZipFile('my_model.keras') as archive:
        assert sorted(archive.namelist()) == ['config.json', 'metadata.json',
                                              'model.weights.h5']

    new_model = tf.keras.models.load_model('my_model.keras')
    _check_reloaded(model, new_model, capsys)


def test_save_the_entire_model_as_a_saved_model(capsys, trained):
    model = trained

    # Save the entire model as a SavedModel.
    os.makedirs('saved_model', exist_ok=True)  # !mkdir -p saved_model
    model.save('saved_model/my_model')

    # my_model directory
    assert os.listdir('saved_model') == ['my_model']  # !ls saved_model

    # Contains an assets folder, saved_model.pb, and variables folder.
    contents = os.listdir('saved_model/my_model')  # !ls saved_model/my_model
    # TF: ['assets', 'fingerprint.pb', 'keras_metadata.pb', 'saved_model.pb', 'variables'];
    # xlaflow's export has no TF graph (saved_model.pb) but the variables folder
    assert 'variables' in contents and 'saved_model.pb' not in contents

    new_model = tf.keras.models.load_model('saved_model/my_model')
    _check_reloaded(model, new_model, capsys)


def test_save_the_entire_model_to_hdf5(capsys, trained):
    model = trained

    # Save the entire model to a HDF5 file.
    # The '.h5' extension indicates that the model should be saved to HDF5.
    model.save('my_model.h5')
    with h5py.File('my_model.h5', 'r') as f:  # Keras 2's layout
        assert {'model_config', 'training_config'} <= set(f.attrs)
        assert {'model_weights', 'optimizer_weights'} <= set(f)

    # Recreate the exact same model, including its weights and the optimizer
    new_model = tf.keras.models.load_model('my_model.h5')
    _check_reloaded(model, new_model, capsys)


class ScaledDense(keras.layers.Layer):
    """The tutorial's "Saving custom objects": a layer with get_config (and a from_config
    classmethod), reloaded by passing it in custom_objects."""

    def __init__(self, units, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.units, self.scale = units, scale

    def build(self, input_shape):
        self.w = self.add_weight(name="w", shape=(input_shape[-1], self.units),
                                 initializer="glorot_uniform", trainable=True)

    def call(self, inputs):
        return self.scale * tf.matmul(inputs, self.w)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "scale": self.scale})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@pytest.mark.parametrize("path", ["custom_model.keras", "custom_model.h5"])
def test_saving_custom_objects_through_get_config_and_custom_objects(path):
    model = tf.keras.Sequential([ScaledDense(10, scale=0.5, input_shape=(784,))])
    model.compile(optimizer='adam',
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[tf.keras.metrics.SparseCategoricalAccuracy()])
    model.fit(train_images, train_labels, epochs=1, verbose=0)
    model.save(path)

    with pytest.raises((ValueError, TypeError), match="ScaledDense"):
        tf.keras.models.load_model(path)  # the class is unknown without custom_objects
    new_model = tf.keras.models.load_model(path, custom_objects={"ScaledDense": ScaledDense})
    layer = new_model.layers[0]
    assert type(layer) is ScaledDense and (layer.units, layer.scale) == (10, 0.5)
    (w,) = model.get_weights()
    expected = 0.5 * (test_images.astype("float32") @ w)  # the layer's own formula
    np.testing.assert_allclose(new_model.predict(test_images, verbose=0), expected,
                               rtol=1e-5, atol=1e-5)
    assert new_model.evaluate(test_images, test_labels, verbose=0) == \
        model.evaluate(test_images, test_labels, verbose=0)
