"""The eighth round of whole TF2 programs, continued (see test_tf2_ports_eighth.py): TF's
"Introduction to modules, layers and models", Keras' "Masking and padding" and the custom
objects of Keras' "Serialization and saving" guide, with only the imports changed.

Oracles: TF's documented orders and names, NumPy (padding, masks, the Dense layers of the
modules), an LSTM run on each unpadded sequence alone, and reloaded models equal to the
originals.
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


class Dense(tf.Module):
    def __init__(self, in_features, out_features, name=None):
        super().__init__(name=name)
        self.w = tf.Variable(tf.random.normal([in_features, out_features]), name="w")
        self.b = tf.Variable(tf.zeros([out_features]), name="b")

    def __call__(self, x):
        y = tf.matmul(x, self.w) + self.b
        return tf.nn.relu(y)


class SequentialModule(tf.Module):
    def __init__(self, name=None):
        super().__init__(name=name)
        self.dense_1 = Dense(in_features=3, out_features=3)
        self.dense_2 = Dense(in_features=3, out_features=2)

    def __call__(self, x):
        x = self.dense_1(x)
        return self.dense_2(x)


def _numpy_forward(module, x):
    for dense in (module.dense_1, module.dense_2):
        x = np.maximum(x @ dense.w.numpy() + dense.b.numpy(), 0.0)
    return x


def test_modules_guide_variables_submodules_names_and_lazy_building():
    class SimpleModule(tf.Module):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.a_variable = tf.Variable(5.0, name="train_me")
            self.non_trainable_variable = tf.Variable(5.0, trainable=False,
                                                      name="do_not_train_me")

        def __call__(self, x):
            return self.a_variable * x + self.non_trainable_variable

    simple_module = SimpleModule(name="simple")
    assert float(simple_module(tf.constant(5.0))) == 30.0
    assert [v.name for v in simple_module.trainable_variables] == ["train_me"]
    assert [v.name for v in simple_module.variables] == ["train_me", "do_not_train_me"]

    my_model = SequentialModule(name="the_model")
    x = np.array([[2.0, 2.0, 2.0]], "float32")
    np.testing.assert_allclose(my_model(tf.constant(x)), _numpy_forward(my_model, x),
                               rtol=1e-6)
    assert my_model.name == "the_model"
    assert my_model.submodules == (my_model.dense_1, my_model.dense_2)
    assert [m.name for m in my_model.submodules] == ["dense", "dense"]
    # TF's order: attributes sorted by name (b before w), a module's before its children's
    assert [(v.name, v.shape) for v in my_model.variables] == [
        ("b", (3,)), ("w", (3, 3)), ("b", (2,)), ("w", (3, 2))]
    assert SequentialModule().name == "sequential_module"  # the class name, snake case

    with tf.name_scope("outer") as scope:
        scoped = tf.Variable(1.0, name="v")
    assert scope == "outer/" and scoped.name == "outer/v"

    class FlexibleDenseModule(tf.Module):
        def __init__(self, out_features, name=None):
            super().__init__(name=name)
            self.is_built = False
            self.out_features = out_features

        def __call__(self, x):
            if not self.is_built:
                self.w = tf.Variable(tf.random.normal([x.shape[-1], self.out_features]),
                                     name="w")
                self.b = tf.Variable(tf.zeros([self.out_features]), name="b")
                self.is_built = True
            y = tf.matmul(x, self.w) + self.b
            return tf.nn.relu(y)

    class MySequentialModule(tf.Module):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.dense_1 = FlexibleDenseModule(out_features=3)
            self.dense_2 = FlexibleDenseModule(out_features=2)

        def __call__(self, x):
            return self.dense_2(self.dense_1(x))

    flexible = MySequentialModule(name="the_model")
    assert flexible.variables == ()  # nothing until the first call
    np.testing.assert_allclose(flexible(tf.constant(x)), _numpy_forward(flexible, x),
                               rtol=1e-6)
    assert [v.shape for v in flexible.variables] == [(3,), (3, 3), (2,), (3, 2)]
    assert flexible.dense_1.name == "flexible_dense_module"


def test_modules_guide_checkpoint_and_saved_model_round_trips(tmp_path):
    my_model = SequentialModule(name="the_model")
    x = np.array([[2.0, 2.0, 2.0], [-1.0, 0.5, 3.0]], "float32")
    chkp_path = os.fspath(tmp_path / "my_checkpoint")
    checkpoint = tf.train.Checkpoint(model=my_model)
    checkpoint.write(chkp_path)
    # TF lists 'model/dense_1/w/.ATTRIBUTES/VARIABLE_VALUE'; xlaflow names each array by
    # its position and name within the object
    assert [shape for _, shape in tf.train.list_variables(chkp_path)] == [
        [3], [3, 3], [2], [3, 2]]
    name, _ = tf.train.list_variables(chkp_path)[1]
    np.testing.assert_array_equal(tf.train.load_variable(chkp_path, name),
                                  my_model.dense_1.w.numpy())

    new_model = SequentialModule()
    assert not np.allclose(new_model(x), my_model(x))
    new_checkpoint = tf.train.Checkpoint(model=new_model)
    new_checkpoint.restore(chkp_path)
    np.testing.assert_array_equal(new_model(x), my_model(x))

    class MySequentialModule(tf.Module):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.dense_1 = Dense(in_features=3, out_features=3)
            self.dense_2 = Dense(in_features=3, out_features=2)

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
        def __call__(self, x):
            x = self.dense_1(x)
            return self.dense_2(x)

    module = MySequentialModule()
    expected = _numpy_forward(module, x)
    np.testing.assert_allclose(module(x), expected, rtol=1e-6)
    tf.saved_model.save(module, os.fspath(tmp_path / "the_saved_model"))
    loaded = tf.saved_model.load(os.fspath(tmp_path / "the_saved_model"))
    assert not isinstance(loaded, MySequentialModule)
    np.testing.assert_allclose(loaded(x), expected, rtol=1e-6)  # as TF's guide calls it
    serving = loaded.signatures["serving_default"]
    (output,) = serving(x=x).values()
    np.testing.assert_allclose(output, expected, rtol=1e-6)
    (output,) = serving(x=x[:1]).values()  # the None batch size stays open
    np.testing.assert_allclose(output, expected[:1], rtol=1e-6)


def _pad(sequences, maxlen, padding, truncating, value):
    """pad_sequences written out in NumPy."""
    out = np.full((len(sequences), maxlen), value, "int32")
    for row, seq in enumerate(sequences):
        seq = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        if padding == "post":
            out[row, :len(seq)] = seq
        else:
            out[row, maxlen - len(seq):] = seq
    return out


def test_masking_guide_padding_masks_and_custom_masking_layers():
    raw_inputs = [[711, 632, 71], [73, 8, 3215, 55, 927], [83, 91, 1, 645, 1253, 927]]
    padded_inputs = keras.preprocessing.sequence.pad_sequences(raw_inputs, padding="post")
    np.testing.assert_array_equal(padded_inputs, _pad(raw_inputs, 6, "post", "pre", 0))
    assert padded_inputs.dtype == np.int32
    for kwargs in ({"padding": "pre"}, {"maxlen": 4}, {"maxlen": 4, "truncating": "post"},
                   {"maxlen": 4, "padding": "post", "truncating": "post", "value": -1}):
        full = {"maxlen": 6, "padding": "pre", "truncating": "pre", "value": 0, **kwargs}
        np.testing.assert_array_equal(
            keras.preprocessing.sequence.pad_sequences(raw_inputs, **kwargs),
            _pad(raw_inputs, full["maxlen"], full["padding"], full["truncating"],
                 full["value"]))
    expected_mask = padded_inputs != 0

    embedding = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
    masked_output = embedding(padded_inputs)
    # TF reads masked_output._keras_mask: a jax.Array takes no attributes, so xlaflow
    # keeps the mask beside it and keras.backend.get_keras_mask reads it
    np.testing.assert_array_equal(keras.backend.get_keras_mask(masked_output), expected_mask)
    np.testing.assert_array_equal(embedding.compute_mask(padded_inputs), expected_mask)

    masking_layer = layers.Masking()
    unmasked_embedding = tf.cast(
        tf.tile(tf.expand_dims(padded_inputs, axis=-1), [1, 1, 10]), tf.float32)
    masked_embedding = masking_layer(unmasked_embedding)
    np.testing.assert_array_equal(keras.backend.get_keras_mask(masked_embedding),
                                  expected_mask)

    class TemporalSplit(keras.layers.Layer):
        def call(self, inputs):
            return tf.split(inputs, 2, axis=1)

        def compute_mask(self, inputs, mask=None):
            if mask is None:
                return None
            return tf.split(mask, 2, axis=1)

    first_half, second_half = TemporalSplit()(masked_embedding)
    np.testing.assert_array_equal(keras.backend.get_keras_mask(first_half),
                                  expected_mask[:, :3])
    np.testing.assert_array_equal(keras.backend.get_keras_mask(second_half),
                                  expected_mask[:, 3:])

    class CustomEmbedding(keras.layers.Layer):
        def __init__(self, input_dim, output_dim, mask_zero=False, **kwargs):
            super().__init__(**kwargs)
            self.input_dim = input_dim
            self.output_dim = output_dim
            self.mask_zero = mask_zero

        def build(self, input_shape):
            self.embeddings = self.add_weight(shape=(self.input_dim, self.output_dim),
                                              initializer="random_normal", dtype="float32")

        def call(self, inputs):
            return tf.nn.embedding_lookup(self.embeddings, inputs)

        def compute_mask(self, inputs, mask=None):
            if not self.mask_zero:
                return None
            return tf.not_equal(inputs, 0)

    layer = CustomEmbedding(10, 32, mask_zero=True)
    x = (np.random.random((3, 10)) * 9).astype("int32")
    y = layer(x)
    np.testing.assert_array_equal(y, layer.embeddings.numpy()[x])
    np.testing.assert_array_equal(layer.compute_mask(x), x != 0)
    np.testing.assert_array_equal(keras.backend.get_keras_mask(y), x != 0)

    class MyActivation(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs):
            return tf.nn.relu(inputs)

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs)
    x = MyActivation()(x)  # passes the mask along
    assert x._keras_mask is not None  # a symbolic tensor carries it, as in Keras 2
    model = keras.Model(inputs, layers.LSTM(32)(x))
    assert model(padded_inputs).shape == (3, 32)


def test_masking_guide_lstm_ignores_padded_steps():
    raw_inputs = [[711, 632, 71], [73, 8, 3215, 55, 927], [83, 91, 1, 645, 1253, 927]]

    class MyLayer(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embedding = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
            self.lstm = layers.LSTM(32)

        def call(self, inputs):
            x = self.embedding(inputs)
            mask = self.embedding.compute_mask(inputs)
            return self.lstm(x, mask=mask)

    layer = MyLayer()
    for padding in ("post", "pre"):
        padded = keras.preprocessing.sequence.pad_sequences(raw_inputs, padding=padding)
        outputs = np.asarray(layer(padded))
        for row, seq in enumerate(raw_inputs):  # each sequence alone, with no padding
            alone = np.asarray(layer(np.array([seq], "int32")))[0]
            np.testing.assert_allclose(outputs[row], alone, rtol=1e-5, atol=1e-6)
    assert not np.allclose(outputs[0], outputs[1])

    model = keras.Sequential([layers.Embedding(input_dim=5000, output_dim=16,
                                               mask_zero=True), layers.LSTM(32)])
    padded = keras.preprocessing.sequence.pad_sequences(raw_inputs, padding="post",
                                                        maxlen=8)
    outputs = np.asarray(model(padded))
    for row, seq in enumerate(raw_inputs):
        np.testing.assert_allclose(outputs[row], model(np.array([seq], "int32"))[0],
                                   rtol=1e-5, atol=1e-6)


@keras.utils.register_keras_serializable(package="MyLayers")
class CustomLayer(keras.layers.Layer):
    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor})
        return config


@keras.utils.register_keras_serializable(package="my_package", name="custom_fn")
def custom_fn(x):
    return x**2


@keras.utils.register_keras_serializable(package="my_package")
def custom_loss(y_true, y_pred):
    return tf.reduce_mean(tf.abs(y_true - y_pred) * 2.0, axis=-1)


def test_serialization_guide_registered_custom_layer_activation_and_loss(tmp_path):
    layer = keras.layers.Dense(3, activation="relu")
    layer_config = layer.get_config()
    assert keras.layers.Dense.from_config(layer_config).get_config() == layer_config

    assert keras.utils.get_registered_name(CustomLayer) == "MyLayers>CustomLayer"
    assert keras.utils.get_registered_name(custom_fn) == "my_package>custom_fn"
    assert keras.utils.get_registered_object("MyLayers>CustomLayer") is CustomLayer
    assert keras.activations.get("my_package>custom_fn") is custom_fn

    def get_model():
        inputs = keras.Input(shape=(4,))
        mid = CustomLayer(0.5)(inputs)
        outputs = keras.layers.Dense(1, activation=custom_fn)(mid)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="rmsprop", loss=custom_loss)
        return model

    rng = np.random.default_rng(0)
    x = rng.random((16, 4)).astype("float32")
    y = rng.random((16, 1)).astype("float32")
    model = get_model()
    model.fit(x, y, epochs=1, verbose=0)
    path = os.fspath(tmp_path / "custom_model.keras")
    model.save(path)
    reconstructed = keras.models.load_model(path)
    np.testing.assert_allclose(reconstructed.predict(x, verbose=0),
                               model.predict(x, verbose=0))
    dense = model.layers[-1]
    by_hand = (0.5 * x @ dense.kernel.numpy() + dense.bias.numpy()) ** 2
    np.testing.assert_allclose(reconstructed.predict(x, verbose=0), by_hand, rtol=1e-5)
    expected_loss = np.mean(np.abs(y - by_hand) * 2.0)
    assert reconstructed.evaluate(x, y, verbose=0) == pytest.approx(expected_loss, rel=1e-5)


def test_serialization_guide_custom_objects_scope_and_a_custom_loss_class(tmp_path):
    class Scaled(keras.layers.Layer):  # not registered: loading needs custom_objects
        def __init__(self, a, **kwargs):
            super().__init__(**kwargs)
            self.a = a

        def build(self, input_shape):
            self.var = self.add_weight(name="var_a", shape=(),
                                       initializer=keras.initializers.Constant(self.a))

        def call(self, inputs, training=False):
            if training:
                return inputs * self.var
            return inputs

        def get_config(self):
            return {**super().get_config(), "a": self.a}

    def shifted_relu(x):
        return tf.nn.relu(x) - 0.1

    class CustomLoss(keras.losses.Loss):
        def __init__(self, scale=1.0, **kwargs):
            super().__init__(**kwargs)
            self.scale = scale

        def call(self, y_true, y_pred):
            return self.scale * tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)

        def get_config(self):
            return {**super().get_config(), "scale": self.scale}

    inputs = keras.Input(shape=(4,))
    outputs = keras.layers.Dense(2, activation=shifted_relu)(Scaled(2.0)(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss=CustomLoss(scale=3.0))
    path = os.fspath(tmp_path / "custom.keras")
    model.save(path)

    rng = np.random.default_rng(1)
    x = rng.random((8, 4)).astype("float32")
    y = rng.random((8, 2)).astype("float32")
    with pytest.raises(ValueError, match="custom_objects"):
        keras.models.load_model(path)
    custom_objects = {"Scaled": Scaled, "shifted_relu": shifted_relu,
                      "CustomLoss": CustomLoss}
    by_argument = keras.models.load_model(path, custom_objects=custom_objects)
    with keras.utils.custom_object_scope(custom_objects):
        by_scope = keras.models.load_model(path)
    with keras.utils.CustomObjectScope(custom_objects):  # Keras 2's class spelling
        by_class = keras.models.load_model(path)
    dense = model.layers[-1]
    expected = np.maximum(x @ dense.kernel.numpy() + dense.bias.numpy(), 0.0) - 0.1
    for loaded in (by_argument, by_scope, by_class):
        np.testing.assert_allclose(loaded(x), expected, rtol=1e-5, atol=1e-6)
        scaled = loaded.layers[1]  # Keras 2 lists the InputLayer first
        assert isinstance(scaled, Scaled)
        assert float(scaled.var) == 2.0
        assert isinstance(loaded.loss, CustomLoss) and loaded.loss.scale == 3.0
        assert loaded.evaluate(x, y, verbose=0) == pytest.approx(
            3.0 * np.mean((y - expected) ** 2), rel=1e-5)
