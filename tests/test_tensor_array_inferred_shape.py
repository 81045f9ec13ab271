"""TF's TensorArray idiom without element_shape in tensor loops: the element shape comes
from the first write (one abstract pass of the body), checked against NumPy, plain lax
loops and lax.scan gradients, with the errors TF gives for what XLA cannot allocate."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf

H, STEPS = 16, 30
W = (np.random.RandomState(0).randn(H, H) / np.sqrt(H)).astype(np.float32)
H0 = np.random.RandomState(1).randn(H).astype(np.float32)


def _numpy_rnn(h, w, steps):
    out = []
    for _ in range(steps):
        h = np.tanh(w @ h)
        out.append(h)
    return np.stack(out)


@xf.function
def rnn(h):
    ta = xf.TensorArray(xf.float32, size=STEPS)  # no element_shape, as TF users write
    for i in xf.range(STEPS):
        h = xf.tanh(W @ h)
        ta = ta.write(i, h)
    return ta.stack()


def test_the_rnn_idiom_equals_the_numpy_recurrence():
    got = rnn(H0)
    assert got.shape == (STEPS, H) and got.dtype == np.float32
    np.testing.assert_allclose(got, _numpy_rnn(H0, W, STEPS), rtol=1e-5, atol=1e-6)


def test_gradients_through_stack_match_a_lax_scan():
    weights = np.random.RandomState(2).randn(STEPS, H).astype(np.float32)

    def oracle(h, w):
        def step(h, _):
            h = jnp.tanh(w @ h)
            return h, h
        return jnp.sum(jax.lax.scan(step, h, None, length=STEPS)[1] * weights)

    @xf.function
    def loss(h, w):
        ta = xf.TensorArray(xf.float32, size=STEPS)
        for i in xf.range(STEPS):
            h = xf.tanh(xf.linalg.matvec(w, h))
            ta = ta.write(i, h)
        return xf.reduce_sum(ta.stack() * weights)

    want = jax.grad(oracle, argnums=(0, 1))(H0, W)
    got = jax.grad(lambda h, w: loss(h, w), argnums=(0, 1))(H0, W)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)

    @xf.function
    def taped(h):
        with xf.GradientTape() as tape:
            tape.watch(h)
            value = loss(h, W)
        return tape.gradient(value, h)

    np.testing.assert_allclose(taped(H0), want[0], rtol=1e-4, atol=1e-5)


def test_while_loops_infer_the_element_shape():
    x = np.arange(3, dtype=np.float32)
    want = np.stack([x * k for k in range(5)])

    @xf.function
    def converted(x):
        ta = xf.TensorArray(xf.float32, size=5)
        i = xf.constant(0)
        while i < 5:
            ta = ta.write(i, x * xf.cast(i, xf.float32))
            i += 1
        return ta.stack()

    def functional(x):
        ta = xf.TensorArray(xf.float32, size=5)
        _, ta = xf.while_loop(lambda i, ta: i < 5,
                              lambda i, ta: (i + 1, ta.write(i, x * xf.cast(i, xf.float32))),
                              (0, ta))
        return ta.stack()

    np.testing.assert_array_equal(converted(x), want)
    np.testing.assert_array_equal(xf.function(functional)(x), want)
    np.testing.assert_array_equal(functional(x), want)  # eager: a Python loop

    @xf.function
    def bounded(x):  # maximum_iterations: a scan with a cond per step
        ta = xf.TensorArray(xf.float32, size=5)
        return xf.while_loop(lambda i, ta: i < 5,
                             lambda i, ta: (i + 1, ta.write(i, x * xf.cast(i, xf.float32))),
                             [xf.constant(0), ta], maximum_iterations=5)[1].stack()

    np.testing.assert_array_equal(bounded(x), want)


def test_a_loop_over_a_tensor_and_a_write_under_a_tensor_if():
    x = np.array([[1.0, -2.0], [-3.0, 4.0], [5.0, 6.0]], np.float32)

    @xf.function
    def positive_rows(xs):
        ta = xf.TensorArray(xf.float32, size=3)
        for i, row in enumerate(xs):
            if xf.reduce_sum(row) > 0:
                ta = ta.write(i, row * 2)  # rows never written stay zeros, as in TF
        return ta.stack()

    want = np.where(x.sum(1, keepdims=True) > 0, x * 2, 0)
    np.testing.assert_array_equal(positive_rows(x), want)

    @xf.function
    def first_if_positive(x):  # outside a loop: the untaken branch leaves zeros
        ta = xf.TensorArray(xf.float32, size=2)
        if xf.reduce_sum(x) > 0:
            ta = ta.write(0, x)
        return ta.stack()

    np.testing.assert_array_equal(first_if_positive(x[2]), [x[2], [0, 0]])
    np.testing.assert_array_equal(first_if_positive(x[0]), [[0, 0], [0, 0]])

    @xf.function
    def loop_in_one_branch(x):  # the loop names its array; the other branch does not
        ta = xf.TensorArray(xf.float32, size=3, element_shape=(2,))
        if xf.reduce_sum(x) > 0:
            for i in xf.range(3):
                ta = ta.write(i, x)
        return ta.stack()

    np.testing.assert_array_equal(loop_in_one_branch(x[2]), [x[2]] * 3)
    np.testing.assert_array_equal(loop_in_one_branch(x[0]), np.zeros((3, 2)))


def test_nested_loops():
    x = np.array([1.0, 2.0], np.float32)
    want = np.stack([[x * (i * 4 + j) for j in range(4)] for i in range(3)])

    @xf.function
    def inner_arrays(x):
        outer = xf.TensorArray(xf.float32, size=3)
        for i in xf.range(3):
            inner = xf.TensorArray(xf.float32, size=4)
            for j in xf.range(4):
                inner = inner.write(j, x * xf.cast(i * 4 + j, xf.float32))
            outer = outer.write(i, inner.stack())
        return outer.stack()

    @xf.function
    def flat(x):  # the inner loop carries the outer array before its first write
        ta = xf.TensorArray(xf.float32, size=12)
        for i in xf.range(3):
            for j in xf.range(4):
                ta = ta.write(i * 4 + j, x * xf.cast(i * 4 + j, xf.float32))
        return ta.stack()

    np.testing.assert_array_equal(inner_arrays(x), want)
    np.testing.assert_array_equal(flat(x), want.reshape(12, 2))


def test_writes_of_another_shape_name_the_array_and_both_shapes():
    @xf.function
    def two_shapes(x):
        ta = xf.TensorArray(xf.float32, size=4)
        for i in xf.range(2):
            ta = ta.write(2 * i, x)
            ta = ta.write(2 * i + 1, xf.concat([x, x], 0))
        return ta.stack()

    message = r"TensorArray 'ta'.write: .* value shape is \[4\].* element shape \[2\]"
    with pytest.raises(ValueError, match=message):
        two_shapes(np.ones(2, np.float32))

    @xf.function
    def before_the_loop(x):
        ta = xf.TensorArray(xf.float32, size=4).write(0, x)
        for i in xf.range(1, 4):
            ta = ta.write(i, xf.concat([x, x], 0))
        return ta.stack()

    with pytest.raises(ValueError, match=message):
        before_the_loop(np.ones(2, np.float32))

    named = xf.TensorArray(xf.float32, size=2, name="hidden").write(0, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"TensorArray 'hidden'.write: .* index 1 .* \[3\]"):
        named.write(1, [1.0, 2.0, 3.0])


def test_a_size_computed_in_the_function_names_size_and_what_to_pass():
    @xf.function
    def sized(x, n):
        return xf.TensorArray(xf.float32, size=n).write(0, x).stack()

    # a Python int (a static size) traces once per value; a tensor cannot size an XLA array
    np.testing.assert_array_equal(sized(np.ones(2, np.float32), 3), [[1, 1], [0, 0], [0, 0]])
    with pytest.raises(ValueError, match=r"`size` must be known .* static dimension \(x.shape\[0\]\)"):
        sized(np.ones(2, np.float32), xf.constant(3))


def test_dynamic_size_in_a_tensor_loop():
    # An array allocated before the loop (size > 0) takes its element shape from the
    # first write, and cannot grow (checked when the program runs) ...
    @xf.function
    def filled(x, count):
        ta = xf.TensorArray(xf.float32, size=3, dynamic_size=True)
        for i in xf.range(count):
            ta = ta.write(i, x)
        return ta.stack()

    x = np.array([1.0, 2.0], np.float32)
    np.testing.assert_array_equal(filled(x, 3), [x, x, x])
    # a Python count is the loop's known trip count: the array grows to it, as in TF
    np.testing.assert_array_equal(filled(x, 4), [x, x, x, x])
    with pytest.raises(IndexError, match="index 3 .* dynamic_size array cannot grow"):
        filled(x, xf.constant(4))

    # ... and one of size 0 written in a loop of traced trip count cannot be allocated at
    # all: its final size is the largest index the program writes, known only when it runs
    @xf.function
    def empty(x, n):
        ta = xf.TensorArray(xf.float32, size=0, dynamic_size=True)
        for i in xf.range(n):
            ta = ta.write(i, x)
        return ta.stack()

    with pytest.raises(ValueError, match="TensorArray 'ta'.write .* size=<number of writes>"):
        empty(x, xf.constant(5))
    np.testing.assert_array_equal(empty(x, 5), [x] * 5)  # a known trip count: it grows


def _primitives(jaxpr):
    """Names of the primitives in a jaxpr and the jaxprs nested in it."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else [param]:
                if hasattr(sub, "eqns") or hasattr(getattr(sub, "jaxpr", None), "eqns"):
                    names |= _primitives(sub)
    return names


def test_a_counter_that_stays_in_range_needs_no_run_time_index_check():
    # The check is a lax.cond per step (4x the hand-written 200-step RNN on XLA:CPU); the
    # counter of xf.range / enumerate with static bounds provably stays within the array.
    @xf.function
    def counted(h, xs):
        ta = xf.TensorArray(xf.float32, size=STEPS, element_shape=(H,))
        for i in xf.range(STEPS):
            h = xf.tanh(W @ h)
            ta = ta.write(i, h)
        rows = xf.TensorArray(xf.float32, size=3, element_shape=(H,))
        for k, x in enumerate(xs):
            rows = rows.write(k, x + ta.read(k))
        return ta.stack(), rows.stack()

    xs = np.ones((3, H), np.float32)
    stacked, rows = counted(H0, xs)
    np.testing.assert_allclose(stacked, _numpy_rnn(H0, W, STEPS), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rows, xs + stacked[:3], rtol=1e-6)
    assert "cond" not in _primitives(counted.get_concrete_function(H0, xs).jaxpr)

    @xf.function
    def too_many(x):  # the counter passes the end: the check stays, and fails at run time
        ta = xf.TensorArray(xf.float32, size=3)
        for i in xf.range(4):
            ta = ta.write(i, x)
        return ta.stack()

    assert "cond" in _primitives(too_many.get_concrete_function(np.float32(1)).jaxpr)
    with pytest.raises(IndexError, match="write: index 3 is outside an array of size 3"):
        too_many(np.float32(1))

    @xf.function
    def shifted(x):  # a value computed from the counter keeps its check
        ta = xf.TensorArray(xf.float32, size=4)
        for i in xf.range(3):
            ta = ta.write(i + 1, x)
        return ta.stack()

    np.testing.assert_array_equal(shifted(np.float32(2)), [0, 2, 2, 2])
    assert "cond" in _primitives(shifted.get_concrete_function(np.float32(2)).jaxpr)


def test_the_shape_probe_leaves_no_run_time_check_behind(monkeypatch):
    # The abstract pass that learns the element shape writes at an index it cannot bound;
    # a check recorded there made every call wait for its results (raise_failed), although
    # the program that runs writes at the loop's own counter and holds no check
    from xlaflow import _runtime_checks

    waits = []
    real = _runtime_checks.raise_failed
    monkeypatch.setattr(_runtime_checks, "raise_failed",
                        lambda tokens: (waits.append(tokens), real(tokens)))

    @xf.function
    def doubled(x):
        ta = xf.TensorArray(xf.float32, size=4)
        for i in xf.range(4):
            ta = ta.write(i, x[i] * 2.0)
        return ta.stack()

    x = np.arange(4, dtype=np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(doubled(x), x * 2)
    assert waits == []
