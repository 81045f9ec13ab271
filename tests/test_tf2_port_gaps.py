"""TF2 names that porting whole TF2 programs found missing, each checked against TF's
documented behaviour or NumPy (the programs themselves are in test_tf2_ports.py)."""

import numpy as np

import xlaflow as xf


def test_newaxis_inserts_an_axis_as_numpy():
    # TF documents tf.newaxis as None, so x[..., tf.newaxis] is NumPy's indexing.
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert xf.newaxis is None
    np.testing.assert_array_equal(xf.constant(x)[..., xf.newaxis], x[..., np.newaxis])


def test_register_keras_serializable_makes_a_custom_layer_loadable(tmp_path):
    # TF 2.x: @tf.keras.utils.register_keras_serializable(package=...) registers the class
    # as "<package>>ClassName", and load_model then rebuilds it without custom_objects.
    from xlaflow import keras
    assert keras.saving.register_keras_serializable is keras.utils.register_keras_serializable

    @keras.utils.register_keras_serializable(package="port_gaps")
    class Doubler(keras.layers.Layer):
        def call(self, inputs):
            return 2.0 * inputs

    assert keras.utils.get_registered_name(Doubler) == "port_gaps>Doubler"
    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, Doubler()(inputs))
    model.save(tmp_path / "m")
    loaded = keras.models.load_model(tmp_path / "m")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert type(loaded.layers[-1]) is Doubler
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), 2.0 * x)
