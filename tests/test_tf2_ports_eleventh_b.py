"""The eleventh round, continued: Keras 2's "The Sequential model" and "Making new layers
and models via subclassing" guides (TF 2.12 era), as written, imports changed.

MNIST is replaced by small synthetic arrays. Outcomes come from NumPy forward passes over
`get_weights()`, the sums and counts the guides print, and closed forms for added losses.
"""

import os

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras
from xlaflow.keras import layers


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def _relu(x):
    return np.maximum(x, 0.0)


def test_sequential_guide_layers_add_pop_and_lazy_weights(capsys):
    # Define Sequential model with 3 layers
    model = keras.Sequential(
        [
            layers.Dense(2, activation="relu", name="layer1"),
            layers.Dense(3, activation="relu", name="layer2"),
            layers.Dense(4, name="layer3"),
        ]
    )
    # Call model on a test input
    x = tf.ones((3, 3))
    y = model(x)
    w = model.get_weights()
    expected = _relu(_relu(np.ones((3, 3)) @ w[0] + w[1]) @ w[2] + w[3]) @ w[4] + w[5]
    np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-5, atol=1e-6)
    assert [layer.name for layer in model.layers] == ["layer1", "layer2", "layer3"]

    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu"))
    model.add(layers.Dense(3, activation="relu"))
    model.add(layers.Dense(4))
    model.pop()
    print(len(model.layers))  # 2
    assert capsys.readouterr().out == "2\n"

    layer = layers.Dense(3)
    assert layer.weights == []  # Empty
    x = tf.ones((1, 4))
    y = layer(x)
    assert [tuple(v.shape) for v in layer.weights] == [(4, 3), (3,)]

    model = keras.Sequential(
        [
            layers.Dense(2, activation="relu"),
            layers.Dense(3, activation="relu"),
            layers.Dense(4),
        ]
    )  # No weights at this stage!
    # "At this point, you can't do this: model.weights" -- nor model.summary()
    with pytest.raises(ValueError):
        model.summary()
    # Call the model on a test input
    x = tf.ones((1, 4))
    y = model(x)
    print("Number of weights after calling the model:", len(model.weights))  # 6
    assert capsys.readouterr().out == "Number of weights after calling the model: 6\n"

    # or build it with the batch input shape, then its weights exist
    model = keras.Sequential([layers.Dense(2, activation="relu"), layers.Dense(4)])
    model.build((None, 4))
    assert [tuple(v.shape) for v in model.weights] == [(4, 2), (2,), (2, 4), (4,)]
    model.summary()
    assert "Total params: 22" in capsys.readouterr().out

    model = keras.Sequential()
    model.add(keras.Input(shape=(4,)))
    model.add(layers.Dense(2, activation="relu"))
    assert len(model.layers) == 1  # the Input object is not a layer
    model.summary()
    assert "Total params: 10" in capsys.readouterr().out

    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu", input_shape=(4,)))
    assert len(model.weights) == 2


def test_sequential_guide_debugging_workflow_and_feature_extraction(capsys):
    model = keras.Sequential()
    model.add(keras.Input(shape=(250, 250, 3)))  # 250x250 RGB images
    model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    # Can you guess what the current output shape is at this point? Probably not.
    model.summary()
    assert "(None, 40, 40, 32)" in capsys.readouterr().out
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(2))
    model.summary()
    assert "(None, 4, 4, 32)" in capsys.readouterr().out
    model.add(layers.GlobalMaxPooling2D())
    model.add(layers.Dense(10))
    assert tuple(model.output_shape) == (None, 10)
    # 2,432 + 4 * 9,248 + 330, as the guide's summary
    assert model.count_params() == 49002  # 2,432 + 5 * 9,248 + 330

    # feature extraction with a Sequential model (a smaller image than the guide's 250x250)
    initial_model = keras.Sequential(
        [
            keras.Input(shape=(25, 25, 3)),
            layers.Conv2D(32, 5, strides=2, activation="relu"),
            layers.Conv2D(32, 3, activation="relu", name="my_intermediate_layer"),
            layers.Conv2D(32, 3, activation="relu"),
        ]
    )
    feature_extractor = keras.Model(
        inputs=initial_model.inputs,
        outputs=[layer.output for layer in initial_model.layers],
    )
    # Call feature extractor on test input.
    x = tf.ones((1, 25, 25, 3))
    features = feature_extractor(x)
    assert [tuple(f.shape) for f in features] == [(1, 11, 11, 32), (1, 9, 9, 32),
                                                  (1, 7, 7, 32)]
    np.testing.assert_allclose(np.asarray(features[-1]), np.asarray(initial_model(x)),
                               rtol=1e-5, atol=1e-6)

    feature_extractor = keras.Model(
        inputs=initial_model.inputs,
        outputs=initial_model.get_layer(name="my_intermediate_layer").output,
    )
    np.testing.assert_allclose(np.asarray(feature_extractor(x)), np.asarray(features[1]),
                               rtol=1e-5, atol=1e-6)


def test_sequential_guide_transfer_learning_freezes_all_but_the_last_layer(tmp_path):
    model = keras.Sequential([
        keras.Input(shape=(784)),
        layers.Dense(32, activation='relu'),
        layers.Dense(32, activation='relu'),
        layers.Dense(32, activation='relu'),
        layers.Dense(10),
    ])
    # Presumably you would want to first load pre-trained weights.
    pretrained = str(tmp_path / "pretrained.weights.h5")
    model.save_weights(pretrained)
    model.load_weights(pretrained)
    # Freeze all layers except the last one.
    for layer in model.layers[:-1]:
        layer.trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 6

    rng = np.random.default_rng(0)
    x = rng.random((128, 784)).astype("float32")
    y = rng.integers(0, 10, size=128)
    before = model.get_weights()
    # Recompile and train (this will only update the weights of the last layer).
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    after = model.get_weights()
    for old, new in zip(before[:6], after[:6]):
        np.testing.assert_array_equal(old, new)
    assert not np.allclose(before[6], after[6]) and not np.allclose(before[7], after[7])
