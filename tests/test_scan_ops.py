"""xf.scan against tf.scan's documented examples and NumPy's cumulative sums."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def test_scan_examples_of_tf_docs():
    elems = np.array([1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(xf.scan(lambda a, x: a + x, elems), [1, 3, 6, 10, 15, 21])
    np.testing.assert_array_equal(xf.scan(lambda a, x: a + x, elems, reverse=True),
                                  [21, 20, 18, 15, 11, 6])
    sum_one = xf.scan(lambda a, x: x[0] - x[1] + a, (elems + 1, elems), np.array(0))
    np.testing.assert_array_equal(sum_one, [1, 2, 3, 4, 5, 6])
    fib = xf.scan(lambda a, _: (a[1], a[0] + a[1]), np.array([1, 0, 0, 0, 0, 0]),
                  (np.array(0), np.array(1)))
    np.testing.assert_array_equal(fib[0], [1, 1, 2, 3, 5, 8])
    np.testing.assert_array_equal(fib[1], [1, 2, 3, 5, 8, 13])


def test_scan_with_initializer_matches_numpy_in_both_directions_and_traced():
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    init = np.ones(3, np.float32)
    np.testing.assert_allclose(xf.scan(lambda a, e: a + e, x, initializer=init),
                               init + np.cumsum(x, 0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(xf.scan(lambda a, e: a + e, x, initializer=init, reverse=True),
                               init + np.cumsum(x[::-1], 0)[::-1], rtol=1e-6, atol=1e-6)
    scale = xf.Variable(2.0)

    @xf.function
    def scaled_cumsum(x):
        return xf.scan(lambda a, e: a + scale * e, x, initializer=0.0)

    np.testing.assert_allclose(scaled_cumsum(x[:, 0]), 2 * np.cumsum(x[:, 0]), rtol=1e-6, atol=1e-6)
    dict_out = xf.scan(lambda a, e: {"s": a["s"] + e, "p": a["p"] * e}, x[:, 0],
                       initializer={"s": jnp.float32(0), "p": jnp.float32(1)})
    np.testing.assert_allclose(dict_out["p"], np.cumprod(x[:, 0]), rtol=1e-5)


def test_scan_errors():
    with pytest.raises(ValueError, match="elems is empty and no initializer"):
        xf.scan(lambda a, x: a + x, np.zeros((0,), np.float32))
    with pytest.raises(ValueError, match="same leading dimension"):
        xf.scan(lambda a, x: a, (np.zeros(3), np.zeros(4)), initializer=0.0)
    with pytest.raises(TypeError, match="structure of the accumulator"):
        xf.scan(lambda a, x: (a, a), np.zeros(3, np.float32), initializer=0.0)
    assert xf.scan(lambda a, x: a + x, np.zeros((0,), np.float32), initializer=0.0).shape \
        == (0,)


def test_scan_back_prop_false_stops_the_gradient_as_tf2():
    # TF 2's scan with back_prop=False is tf.stop_gradient on its outputs: d/dw is 0 through
    # the scan, while d/dw of a term outside it still counts
    w = xf.Variable(2.0)

    @xf.function
    def grads(back_prop):
        with xf.GradientTape() as tape:
            ys = xf.scan(lambda a, x: a * w + x, xf.constant([1.0, 2.0]), initializer=1.0,
                         back_prop=back_prop)
            loss = xf.reduce_sum(ys) + 3.0 * w
        return tape.gradient(loss, w)

    # ys = [w + 1, w^2 + w + 2]: d/dw sum = 1 + 2w + 1 = 6 at w = 2, plus 3 from 3w
    np.testing.assert_allclose(grads(True), 9.0)
    np.testing.assert_allclose(grads(False), 3.0)


def test_scan_fn_with_a_python_if_on_an_element_runs_eagerly_and_traced():
    # TF's eager scan calls fn on eager tensors, so a Python `if` on an element works; like
    # xf.map_fn, xf.scan converts fn with AutoGraph so it does here (one lax.scan)
    def add_big(acc, x):
        if x > 1.0:
            return acc + x
        return acc

    elems = np.array([1.0, 2.0, 0.5, 3.0], np.float32)
    expected = np.cumsum(np.where(elems > 1.0, elems, 0.0))  # [0, 2, 2, 5]
    np.testing.assert_allclose(xf.scan(add_big, elems, initializer=0.0), expected)
    np.testing.assert_allclose(xf.function(lambda e: xf.scan(add_big, e, 0.0))(elems),
                               expected)
