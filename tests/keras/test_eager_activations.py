"""relu, relu6, gelu and softmax called eagerly run as one compiled program (jax.nn's
custom_jvp functions are slow op by op); traced, they add the same equations as jax.nn's.
Results against NumPy."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from tests.compile_log import compiled_programs
from xlaflow import _eager_nn, activations, nn_ops

RNG = np.random.default_rng(5)
X = RNG.normal(size=(4, 7)).astype(np.float32) * 8


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _gelu_exact(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


CASES = [
    ("relu", lambda x: activations.relu(x), lambda x: np.maximum(x, 0)),
    ("relu6", lambda x: activations.relu6(x), lambda x: np.clip(x, 0, 6)),
    ("gelu", lambda x: activations.gelu(x), _gelu_exact),
    ("gelu_tanh", lambda x: activations.gelu(x, approximate=True), _gelu_tanh),
    ("softmax", lambda x: activations.softmax(x), _softmax),
    ("softmax_axis0", lambda x: activations.softmax(x, axis=0), lambda x: _softmax(x, 0)),
    ("tf.nn.relu", lambda x: nn_ops.relu(x), lambda x: np.maximum(x, 0)),
    ("tf.nn.softmax", lambda x: nn_ops.softmax(x, axis=[0]),
     lambda x: _softmax(x, 0)),
    ("tf.nn.gelu", lambda x: nn_ops.gelu(x, approximate=True), _gelu_tanh),
]


@pytest.mark.parametrize("name, call, oracle", CASES, ids=[c[0] for c in CASES])
def test_eager_and_traced_calls_match_numpy(name, call, oracle):
    want = oracle(X.astype(np.float64))
    for given in (X, jnp.asarray(X)):
        got = call(given)
        assert isinstance(got, jax.Array) and got.dtype == jnp.float32
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(xf.function(call)(jnp.asarray(X)), want, rtol=2e-5, atol=2e-5)


def test_a_repeated_eager_call_skips_the_custom_jvp_machinery(monkeypatch):
    # jax.nn.relu is a custom_jvp: called op by op, each call runs its Python __call__
    # (~200 µs); compiled, a repeated call is served from jax.jit's cache.
    x = jnp.asarray(RNG.normal(size=(3, 11)), jnp.float32)
    for fn in (activations.relu, activations.relu6, activations.softmax, nn_ops.gelu):
        fn(x)
    calls = []
    original = jax.custom_jvp.__call__
    monkeypatch.setattr(jax.custom_jvp, "__call__",
                        lambda self, *a, **k: calls.append(self) or original(self, *a, **k))
    for fn in (activations.relu, activations.relu6, activations.softmax, nn_ops.gelu):
        fn(x)
    assert calls == []
    with compiled_programs() as names:
        activations.relu(x)
    assert names == []


def test_traced_calls_add_jax_nns_own_equations():
    def ours(x):
        return activations.softmax(activations.relu(x) - activations.gelu(x))

    def theirs(x):
        return jax.nn.softmax(jax.nn.relu(x) - jax.nn.gelu(x, approximate=False))

    spec = jax.ShapeDtypeStruct((4, 7), jnp.float32)
    assert str(jax.make_jaxpr(ours)(spec)) == str(jax.make_jaxpr(theirs)(spec))


def test_other_inputs_are_jax_nns_business():
    assert float(activations.relu(-2.0)) == 0.0 and float(activations.relu6(9)) == 6.0
    assert activations.relu(jnp.asarray([-1, 3], jnp.int32)).dtype == jnp.int32
    half = activations.gelu(jnp.asarray(X, jnp.bfloat16))
    assert half.dtype == jnp.bfloat16


def test_the_gradient_through_an_eager_relu_is_the_step_function():
    x = xf.constant([-2.0, -0.5, 0.5, 3.0])
    with xf.GradientTape() as tape:
        tape.watch(x)
        y = xf.reduce_sum(xf.nn.relu(x) * x)  # x**2 where x > 0
    np.testing.assert_allclose(tape.gradient(y, x), [0.0, 0.0, 1.0, 6.0])


def test_an_eager_dense_layer_gives_the_numpy_answer():
    layer = xf.keras.layers.Dense(5, activation="relu")
    out = layer(X)
    w, b = (v.numpy() for v in layer.weights)
    np.testing.assert_allclose(out, np.maximum(X @ w + b, 0), rtol=1e-5, atol=1e-5)


def test_compiled_when_eager_keeps_the_functions_name():
    assert _eager_nn.relu.__name__ == "relu" and _eager_nn.relu6.__wrapped__ is jax.nn.relu6


def test_tensor_valued_options_are_taken_as_tf_takes_them():
    np.testing.assert_allclose(nn_ops.softmax(X, axis=xf.constant(0)), _softmax(X, 0),
                               rtol=2e-5)
    np.testing.assert_allclose(activations.softmax(X, axis=np.array([0, 1])),
                               np.exp(X) / np.exp(X).sum(), rtol=2e-5)
    np.testing.assert_allclose(activations.gelu(X, approximate=jnp.asarray(True)),
                               _gelu_tanh(X.astype(np.float64)), rtol=2e-5, atol=2e-5)
