"""Every added layer (tests/keras/added_layer_cases.py) works eagerly, inside xf.function, in
Sequential and functional models, and through model.save / load_model."""

import jax
import numpy as np
import pytest

import xlaflow as xf
from tests.keras.added_layer_cases import ADDED_LAYERS
from tests.local_platform import HERE
from xlaflow.keras import layers, models


def _case(name):
    make, inputs, call_kwargs = ADDED_LAYERS[name]
    (x,) = inputs()
    return make, x, call_kwargs


def _close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(ADDED_LAYERS))
def test_xf_function_matches_eager(name):
    make, x, call_kwargs = _case(name)
    eager_layer, traced_layer = make(), make()
    eager_layer(x), traced_layer(x)  # build (inference draws no random keys)
    traced_layer.set_weights(eager_layer.get_weights())
    step = xf.function(lambda x: traced_layer(x, **call_kwargs))
    expected = eager_layer(x, **call_kwargs)
    _close(step(x), expected)
    assert step.tracing_count == 1


@pytest.mark.parametrize("name", sorted(ADDED_LAYERS))
def test_functional_model_infers_the_shape_and_computes_the_same(name):
    make, x, _ = _case(name)
    layer = make()
    if isinstance(x, list):  # a merging layer
        inputs = [xf.keras.Input(part.shape[1:]) for part in x]
    else:
        inputs = xf.keras.Input(x.shape[1:])
    outputs = layer(inputs)
    model = models.Model(inputs, outputs)
    expected = layer(x)
    assert outputs.shape == (None, *expected.shape[1:])
    _close(model(x), expected)
    single = x[0] if isinstance(x, list) else x
    shapes = [tuple(p.shape) for p in x] if isinstance(x, list) else tuple(single.shape)
    assert tuple(layer.compute_output_shape(shapes)) == tuple(expected.shape)


@pytest.mark.parametrize("name", sorted(n for n, (_, inputs, _) in ADDED_LAYERS.items()
                                        if not isinstance(inputs()[0], list)))
def test_sequential_model_predicts_the_same(name):
    make, x, _ = _case(name)
    layer = make()
    model = models.Sequential([layers.InputLayer(x.shape[1:]), layer])
    _close(model.predict(x, verbose=0), layer(x))


def _graph():
    """One functional model holding every added layer, on inputs shared by shape."""
    inputs, arrays, outputs = {}, {}, []

    def symbolic(array):
        shape = array.shape[1:]
        if shape not in inputs:
            inputs[shape], arrays[shape] = xf.keras.Input(shape, name=f"in_{len(inputs)}"), array
        return inputs[shape]

    for name in sorted(ADDED_LAYERS):
        make, x, _ = _case(name)
        x = [symbolic(p) for p in x] if isinstance(x, list) else symbolic(x)
        outputs.append(make()(x))
    model = models.Model(list(inputs.values()), outputs)
    return model, list(arrays.values())


def test_every_added_layer_survives_save_and_load_model(tmp_path):
    model, x = _graph()
    expected = model(x)
    model.save(tmp_path / "m", platforms=HERE)
    loaded = models.load_model(tmp_path / "m")
    assert [type(layer).__name__ for layer in loaded.layers] == \
        [type(layer).__name__ for layer in model.layers]
    assert [layer.get_config() for layer in loaded.layers] == \
        [layer.get_config() for layer in model.layers]
    jax.tree_util.tree_map(np.testing.assert_array_equal, loaded(x), expected)
    training = loaded(x, training=True)  # the noise layers come back active in training
    assert not all(np.array_equal(a, b) for a, b in zip(training, expected, strict=True))


def test_a_sequential_model_of_added_layers_trains_saves_and_loads(tmp_path):
    xf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (32, 6, 6, 3)).astype(np.uint8)
    y = (x.mean((1, 2, 3)) > 127).astype(np.int32)
    model = models.Sequential([
        layers.InputLayer((6, 6, 3)), layers.Rescaling(1 / 255), layers.ZeroPadding2D(1),
        layers.Conv2D(4, 3), layers.PReLU(shared_axes=[1, 2]), layers.SpatialDropout2D(0.2),
        layers.UpSampling2D(interpolation="bilinear"), layers.Cropping2D(2),
        layers.GlobalMaxPooling2D(), layers.GaussianNoise(0.1), layers.Dense(2),
        layers.Softmax()])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model.save(tmp_path / "seq", platforms=HERE)
    loaded = models.load_model(tmp_path / "seq")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
