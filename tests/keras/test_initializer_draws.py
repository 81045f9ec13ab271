"""Initializers draw as the first values of a power-of-two-sized draw (one compiled program
per size class, not per weight shape): the values must be jax.random's own for the shape,
bit for bit, which is the oracle here (the formulas the initializers used before).
Orthogonal's QR and what follows it run as one program per shape, with the same values."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xlaflow import initializers as I

KEY = jax.random.PRNGKey(3)
# a small vector, a 2-D fan, and a Conv1D kernel whose size (2160) is just past a power of
# two; each new shape compiles the direct draw it is compared to (a 4-D shape's threefry
# program compiles ~3x slower than a 3-D one's). The vector and the fan share one size
# class of the initializers' draws (64 values: 50 and 45), so fewer of their programs
# compile than one per shape.
SHAPES = [(50,), (5, 9), (3, 16, 45)]


def _direct(init, shape, dtype):
    if isinstance(init, I.RandomNormal):
        return init.mean + init.stddev * jax.random.normal(KEY, shape, dtype)
    if isinstance(init, I.RandomUniform):
        return jax.random.uniform(KEY, shape, dtype, init.minval, init.maxval)
    if isinstance(init, I.TruncatedNormal):
        return init.mean + init.stddev * jax.random.truncated_normal(KEY, -2.0, 2.0, shape,
                                                                     dtype)
    fan_in, fan_out = I._fans(shape)
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[init.mode]
    variance = init.scale / max(1.0, fan)
    if init.distribution == "uniform":
        limit = math.sqrt(3.0 * variance)
        return jax.random.uniform(KEY, shape, dtype, -limit, limit)
    if init.distribution == "untruncated_normal":
        return math.sqrt(variance) * jax.random.normal(KEY, shape, dtype)
    return math.sqrt(variance) / 0.87962566103423978 * jax.random.truncated_normal(
        KEY, -2.0, 2.0, shape, dtype)


INITS = [I.RandomNormal(0.5, 2.0), I.RandomUniform(-1.0, 3.0), I.TruncatedNormal(0.1, 0.3),
         I.GlorotUniform(), I.HeNormal(), I.LecunNormal(),
         I.VarianceScaling(2.0, "fan_out", "untruncated_normal")]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
@pytest.mark.parametrize("init", INITS, ids=lambda i: type(i).__name__)
def test_values_are_jax_randoms_for_the_shape_bit_for_bit(init, dtype):
    for shape in SHAPES:
        got, want = init(shape, dtype, KEY), _direct(init, shape, dtype)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(np.asarray(got, np.float64),
                                      np.asarray(want, np.float64), err_msg=str(shape))


def test_shapes_of_one_size_class_share_one_compiled_draw():
    I.GlorotUniform()((3, 11), jnp.float32, KEY)  # the 64-value class, compiled
    before = I._draw._cache_size()
    for shape in [(5, 9), (9, 5), (45,), (1, 3, 3, 5), (7, 8), (60,)]:
        I.GlorotUniform()(shape, jnp.float32, KEY)
    assert I._draw._cache_size() == before


def test_inside_a_trace_the_draw_is_traced_too():
    out = jax.jit(lambda k: I.HeNormal()((4, 6), jnp.float32, k))(KEY)
    np.testing.assert_array_equal(out, _direct(I.HeNormal(), (4, 6), jnp.float32))


def _direct_orthogonal(gain, shape, dtype):
    """Orthogonal's formula op by op, as it ran before it was one program per shape."""
    rows, cols = math.prod(shape[:-1]), shape[-1]
    q, r = jnp.linalg.qr(jax.random.normal(KEY, (max(rows, cols), min(rows, cols))))
    q = q * jnp.sign(jnp.diag(r))
    q = q if rows >= cols else q.T
    return (gain * q[:rows, :cols]).reshape(shape).astype(dtype)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_orthogonal_values_are_its_formulas_bit_for_bit(gain, dtype):
    # tall, wide and a conv kernel's shape (rows: the product of all but the last axis)
    for shape in [(6, 24), (24, 6), (3, 3, 4, 8)]:
        got = I.Orthogonal(gain)(shape, dtype, KEY)
        want = _direct_orthogonal(gain, shape, jnp.dtype(dtype))
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(np.asarray(got, np.float64),
                                      np.asarray(want, np.float64), err_msg=str(shape))


def test_orthogonal_compiles_one_program_per_shape():
    I.Orthogonal()((5, 20), jnp.float32, KEY)
    before = I._orthogonal._cache_size()
    I.Orthogonal()((5, 20), jnp.float32, jax.random.PRNGKey(4))  # another key: no program
    assert I._orthogonal._cache_size() == before
    I.Orthogonal()((7, 28), jnp.float32, KEY)
    assert I._orthogonal._cache_size() == before + 1



def test_orthogonal_draws_its_normal_matrix_as_one_size_class():
    # The normal matrix comes from the size-class draw, the per-shape program is the QR
    # alone (threefry's program compiled ~5x slower than the QR's, for each new shape).
    jaxpr = jax.make_jaxpr(lambda k: I.Orthogonal()((5, 20), jnp.float32, k))(KEY).jaxpr
    calls = {str(e.params.get("name")): e for e in jaxpr.eqns if "jaxpr" in e.params}
    assert {"_draw", "_orthogonal"} <= set(calls)
    qr_program = {e.primitive.name for e in calls["_orthogonal"].params["jaxpr"].jaxpr.eqns}
    assert not {p for p in qr_program if "random" in p or "threefry" in p}, qr_program
    # the (20, 5) and (18, 6) matrices: one 128-value draw, compiled once
    I.Orthogonal()((5, 20), jnp.float32, KEY)
    draws = I._draw._cache_size()
    I.Orthogonal()((6, 18), jnp.float32, KEY)
    assert I._draw._cache_size() == draws
