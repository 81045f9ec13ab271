"""Lambda's arguments in Keras 2's order `(function, output_shape, mask, arguments)`, and
`output_shape`: compute_output_shape's answer, checked against each real output.

Oracles: NumPy computations of the same functions, shapes worked out by hand.
"""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models
from xlaflow.layers import keras_mask

RNG = np.random.default_rng(41)
B, T, F = 3, 4, 2
MASK = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]], bool)


@xf.keras.saving.register_serializable(package="tests")
def scaled_flat(x, scale=1.0):
    return scale * jnp.reshape(x, (x.shape[0], -1))


@xf.keras.saving.register_serializable(package="tests")
def flat_shape(input_shape):
    batch, *rest = input_shape
    return (batch, int(np.prod(rest)))


@xf.keras.saving.register_serializable(package="tests")
def first_steps(inputs, mask):
    return mask[:, :2]


def test_positional_arguments_follow_keras_order():
    layer = layers.Lambda(lambda x, scale: scale * x[:, :2], (2, F), first_steps,
                          {"scale": 3.0})
    x = RNG.normal(size=(B, T, F)).astype(np.float32)
    out = layer(x, mask=jnp.asarray(MASK))
    np.testing.assert_allclose(np.asarray(out), 3.0 * x[:, :2], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(keras_mask.get_mask(out)), MASK[:, :2])
    assert layer.compute_output_shape((None, T, F)) == (None, 2, F)
    assert layer.compute_output_shape((7, 9, F)) == (7, 2, F)  # the batch is the input's


def test_the_old_positional_order_is_refused_with_the_keras_order_named():
    with pytest.raises(TypeError, match=r"output_shape must be a shape .* received "
                                        r"\{'scale': 2.0\} \(dict\).*\(function, "
                                        r"output_shape, mask, arguments\)"):
        layers.Lambda(scaled_flat, {"scale": 2.0})
    with pytest.raises(TypeError, match=r"arguments must be a dict .* received 2.0"):
        layers.Lambda(scaled_flat, arguments=2.0)


def test_a_shape_tuple_is_checked_against_every_output():
    layer = layers.Lambda(scaled_flat, output_shape=(T * F,), arguments={"scale": 2.0},
                          name="flat")
    x = RNG.normal(size=(B, T, F)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(layer(x)), 2.0 * x.reshape(B, -1), rtol=1e-6)
    with pytest.raises(ValueError, match=r"flat \(Lambda\): output 0 has shape \(3, 10\), but "
                                         r"output_shape declares \(3, 8\) \(None matches"):
        layer(RNG.normal(size=(B, 5, F)).astype(np.float32))


def test_a_declared_size_fixes_what_the_functional_trace_leaves_none():
    inputs = xf.keras.Input((None, F))  # a variable length: the flat size varies
    flat = layers.Lambda(scaled_flat, output_shape=(T * F,), name="flat")(inputs)
    assert flat.shape == (None, T * F)
    model = models.Model(inputs, layers.Dense(1)(flat))  # the Dense builds on 8 inputs
    kernel, bias = model.get_weights()
    assert kernel.shape == (T * F, 1)
    x = RNG.normal(size=(B, T, F)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), x.reshape(B, -1) @ kernel + bias,
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"output 0 has shape \(3, 12\), but output_shape "
                                         r"declares \(3, 8\)"):
        model(RNG.normal(size=(B, 6, F)).astype(np.float32))


def test_a_disagreeing_declaration_fails_while_the_graph_is_written():
    inputs = xf.keras.Input((T, F))
    with pytest.raises(ValueError, match=r"wrong \(Lambda\): output 0 has shape \(None, 8\) "
                                         r"\(None: varies\), but output_shape declares "
                                         r"\(None, 5\)"):
        layers.Lambda(scaled_flat, output_shape=(5,), name="wrong")(inputs)


def test_a_callable_gives_the_whole_shape_from_the_input_shape():
    layer = layers.Lambda(scaled_flat, output_shape=flat_shape)
    assert layer.compute_output_shape((None, T, F)) == (None, T * F)
    x = RNG.normal(size=(B, 5, F)).astype(np.float32)  # any length: the callable follows it
    np.testing.assert_allclose(np.asarray(layer(x)), x.reshape(B, -1), rtol=1e-6)
    wrong = layers.Lambda(scaled_flat, output_shape=lambda s: (s[0], 3), name="three")
    with pytest.raises(ValueError, match=r"three \(Lambda\): output 0 has shape \(3, 10\)"):
        wrong(x)
    garbage = layers.Lambda(scaled_flat, output_shape=lambda s: "flat", name="garbage")
    with pytest.raises(TypeError, match=r"garbage \(Lambda\): output_shape .* must return a "
                                        r"shape .* it returned 'flat'"):
        garbage(x)


def test_several_outputs_declare_a_shape_each():
    def split(x):
        return [x[:, 0], jnp.sum(x, axis=1)]
    layer = layers.Lambda(split, output_shape=[(F,), (F,)])
    assert layer.compute_output_shape((None, T, F)) == [(None, F), (None, F)]
    inputs = xf.keras.Input((T, F))
    first, total = layer(inputs)
    model = models.Model(inputs, [first, total])
    x = RNG.normal(size=(B, T, F)).astype(np.float32)
    got_first, got_total = model(x)
    np.testing.assert_allclose(np.asarray(got_first), x[:, 0], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(got_total), x.sum(1), rtol=1e-5)
    with pytest.raises(ValueError, match=r"output_shape declares 1 output\(s\) but the "
                                         r"function returned 2"):
        layers.Lambda(split, output_shape=(F,))(x)


@pytest.mark.parametrize("output_shape, want", [
    ((T * F,), (None, T * F)), (flat_shape, (None, T * F)), ([(T * F,)], [(None, T * F)])],
    ids=["tuple", "callable", "list"])
def test_output_shape_saves_in_the_config(output_shape, want):
    layer = layers.Lambda(scaled_flat, output_shape, arguments={"scale": 2.0})
    config = layer.get_config()
    again = layers.Lambda.from_config(config)
    assert again.compute_output_shape((None, T, F)) == want
    x = RNG.normal(size=(B, T, F)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(again(x)), 2.0 * x.reshape(B, -1), rtol=1e-6)
    if callable(output_shape):
        assert config["output_shape"] == "tests>flat_shape"
    with pytest.raises(ValueError, match="its output_shape function .* has no name"):
        layers.Lambda(scaled_flat, lambda s: s).get_config()


def test_a_model_with_a_declared_output_shape_saves_and_loads(tmp_path):
    """Export traces the batch as a symbolic size: the callable gets it and the check lets
    it match."""
    from tests.local_platform import HERE
    inputs = xf.keras.Input((T, F))
    flat = layers.Lambda(scaled_flat, flat_shape, arguments={"scale": 0.5})(inputs)
    model = models.Model(inputs, layers.Dense(1)(flat))
    model.save(tmp_path / "m", platforms=HERE)
    loaded = models.load_model(tmp_path / "m")
    x = RNG.normal(size=(B, T, F)).astype(np.float32)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(loaded.predict(x, verbose=0),
                               0.5 * x.reshape(B, -1) @ kernel + bias, rtol=1e-5, atol=1e-6)
