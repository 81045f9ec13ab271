"""Property tests: converted functions agree with Python on drawn inputs, including loops
that run zero times, negative bounds and early exits."""

import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import xlaflow as xf

# XLA on CPU flushes subnormal floats to zero (NumPy does not), and halving a tiny number
# makes one: values are drawn on a 1e-3 grid.
FLOATS = st.floats(-10, 10, allow_nan=False).map(lambda v: round(v, 3))
VECTORS = st.lists(FLOATS, min_size=5, max_size=5).map(lambda v: np.asarray(v, np.float32))
# for loops over a tensor's rows, from none at all (one trace per length)
SHORT_VECTORS = st.lists(FLOATS, min_size=0, max_size=3).map(
    lambda v: np.asarray(v, np.float32))
INTS = st.integers(-5, 20).map(np.int32)


def scan_with_exits(x, limit):
    total = 0.0
    count = 0
    for v in x:
        if v < -limit:
            break
        if v < 0:
            continue
        total += v
        count += 1
    return total, count


def countdown(n, k):
    steps = 0
    while n > 0 and steps < 50:
        if n % 3 == 0:
            n = n - k
        else:
            n = n - 1
        steps += 1
    return steps, n


def first_over(x, t):
    for i in range(x.shape[0]):
        if x[i] > t:
            return i, x[i]
    return -1, t


def ranged(n, x):
    acc = x[0]
    for i in range(n):
        acc = acc * 0.5 + i if acc > 0 else acc - i
    return acc


def logic(a, b, c):
    if (a > 0 and b > 0) or not c > 0:
        return a - b
    return a + c


COMPILED = {fn: xf.function(fn) for fn in (scan_with_exits, countdown, first_over, ranged,
                                           logic)}


SHAPES = {fn: set() for fn in COMPILED}  # the argument shapes each function was called with


def check(fn, *args):
    SHAPES[fn].add(tuple(np.shape(a) for a in args))
    expect = fn(*[a if np.ndim(a) else a[()] for a in map(np.asarray, args)])
    got = COMPILED[fn](*[jnp.asarray(a) for a in args])
    for e, g in zip(expect if isinstance(expect, tuple) else (expect,),
                    got if isinstance(got, tuple) else (got,)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-5, atol=1e-5)


@settings(max_examples=60, deadline=None)
@given(x=SHORT_VECTORS, limit=st.floats(0, 10).map(lambda v: round(v, 3)))
def test_scan_with_break_and_continue(x, limit):
    check(scan_with_exits, x, np.float32(limit))


@settings(max_examples=60, deadline=None)
@given(n=INTS, k=st.integers(1, 4).map(np.int32))
def test_while_with_compound_condition(n, k):
    check(countdown, n, k)


@settings(max_examples=60, deadline=None)
@given(x=SHORT_VECTORS, t=FLOATS)
def test_early_return(x, t):
    check(first_over, x, np.float32(t))


@settings(max_examples=60, deadline=None)
@given(n=INTS, x=VECTORS)
def test_tensor_range_including_zero_and_negative_trips(n, x):
    check(ranged, n, x)


@settings(max_examples=60, deadline=None)
@given(a=FLOATS, b=FLOATS, c=FLOATS)
def test_logical_operators(a, b, c):
    check(logic, np.float32(a), np.float32(b), np.float32(c))


def test_each_property_function_traced_once_per_shape():
    for fn, compiled in COMPILED.items():
        assert compiled.tracing_count <= max(1, len(SHAPES[fn])), fn.__name__
