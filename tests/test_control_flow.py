"""tf.cond and tf.while_loop (xlaflow/control_flow.py) against Python's own if/while."""

import jax
import numpy as np
import pytest

import xlaflow as xf


def test_cond_eager_and_compiled_pick_the_branch():
    assert float(xf.cond(xf.constant(True), lambda: 1.0, lambda: 2.0)) == 1.0

    @xf.function
    def f(x):
        return xf.cond(x > 0, lambda: (x * 2, {"neg": -x}), lambda: (-x, {"neg": x}))

    for value in (3.0, -4.0):
        got, extra = f(xf.constant(value))
        want = value * 2 if value > 0 else -value
        assert float(got) == want and float(extra["neg"]) == (-value if value > 0 else value)
    assert f.experimental_get_tracing_count() == 1  # one lax.cond serves both


def test_cond_branches_assign_variables_and_return_their_values():
    v = xf.Variable(0.0)

    @xf.function
    def g(x):
        return xf.cond(x > 0, lambda: v.assign_add(x), lambda: v.assign_sub(1.0))

    assert float(g(xf.constant(2.0))) == 2.0
    assert float(g(xf.constant(-5.0))) == 1.0
    assert float(v.numpy()) == 1.0


def test_cond_branches_of_other_shapes_are_refused_when_traced():
    @xf.function
    def f(x):
        return xf.cond(x[0] > 0, lambda: x, lambda: x[:1])

    with pytest.raises((TypeError, ValueError)):
        f(xf.constant([1.0, 2.0]))
    with pytest.raises(TypeError, match="callables"):
        xf.cond(True, 1.0, 2.0)


def test_while_loop_as_python_while():
    assert [int(v) for v in xf.while_loop(lambda i: i < 10, lambda i: i + 1, [0])] == [10]

    @xf.function
    def triangle(n):
        return xf.while_loop(lambda i, t: i < n, lambda i, t: (i + 1, t + i),
                             (xf.constant(0), xf.constant(0)))

    for n in (0, 1, 5, 9):
        i, total = triangle(xf.constant(n))
        assert (int(i), int(total)) == (n, sum(range(n)))
    assert triangle.experimental_get_tracing_count() == 1


def test_while_loop_maximum_iterations_structures_and_variables():
    v = xf.Variable(0)

    @xf.function
    def f(n, limit):
        def body(state):
            v.assign_add(1)
            return {"x": state["x"] * 2.0, "k": state["k"] + 1}

        return xf.while_loop(lambda s: s["k"] < n, body,
                             {"x": xf.constant(1.0), "k": xf.constant(0)},
                             maximum_iterations=limit)

    out = f(xf.constant(10), xf.constant(3))
    assert float(out["x"]) == 8.0 and int(out["k"]) == 3 and int(v.numpy()) == 3
    out = f(xf.constant(2), xf.constant(3))
    assert float(out["x"]) == 4.0 and int(out["k"]) == 2 and int(v.numpy()) == 5


def test_while_loop_refusals_name_the_argument():
    with pytest.raises(TypeError, match="`cond` and `body`"):
        xf.while_loop(None, lambda i: i, [0])
    with pytest.raises(NotImplementedError, match="shape_invariants"):
        xf.while_loop(lambda i: i < 1, lambda i: i + 1, [0], shape_invariants=[None])
    with pytest.raises(ValueError, match="structure of loop_vars"):
        xf.while_loop(lambda i, j: i < 3, lambda i, j: i + 1, [0, 0])
    np.testing.assert_array_equal(
        xf.while_loop(lambda x: x[0] < 4, lambda x: x + 1, np.zeros(2, np.float32)), [4, 4])


def test_map_fn_and_vectorized_map_as_a_python_loop():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    expected = np.stack([row @ row for row in x])
    np.testing.assert_allclose(xf.map_fn(lambda row: xf.reduce_sum(row * row), x), expected)
    np.testing.assert_allclose(xf.vectorized_map(lambda row: xf.reduce_sum(row * row), x),
                               expected)
    # fn's output (one tensor) differs from elems' structure (a pair): TF needs the signature
    pairs = xf.map_fn(lambda ab: ab[0] * ab[1], (x, x + 1), fn_output_signature=xf.float32)
    np.testing.assert_allclose(pairs, x * (x + 1))
    w = xf.Variable(2.0)

    @xf.function
    def scaled(batch):
        return xf.map_fn(lambda row: row * w, batch)

    np.testing.assert_allclose(scaled(x), x * 2.0)
    w.assign(3.0)
    np.testing.assert_allclose(scaled(x), x * 3.0)  # the Variable is read, not baked in


def test_executing_eagerly_and_is_tensor():
    assert xf.executing_eagerly()
    seen = []

    @xf.function
    def f(x):
        seen.append(xf.executing_eagerly())
        return x

    f(1.0)
    xf.config.run_functions_eagerly(True)
    f(2.0)
    assert seen == [False, True]
    assert xf.is_tensor(xf.constant(1.0)) and xf.is_tensor(xf.Variable(1.0))
    assert not xf.is_tensor(np.ones(2)) and not xf.is_tensor(1.0)


def test_while_loop_with_a_python_bound_is_differentiable_as_tf_under_xla():
    w = xf.Variable(1.5)

    @xf.function
    def grad(x, n):
        with xf.GradientTape() as tape:
            _, y = xf.while_loop(lambda i, y: i < n, lambda i, y: (i + 1, y * w),
                                 (xf.constant(0), x), maximum_iterations=5)
        return y, tape.gradient(y, w)

    for n in (0, 3, 9):  # 9 stops at the bound
        trips = min(n, 5)
        y, dw = grad(xf.constant(2.0), xf.constant(n))
        np.testing.assert_allclose(y, 2.0 * 1.5 ** trips, rtol=1e-6)
        np.testing.assert_allclose(dw, 2.0 * trips * 1.5 ** max(trips - 1, 0), rtol=1e-6)


def test_back_prop_false_stops_the_gradient_as_tf_does():
    # TF 2: while_loop(back_prop=False) puts stop_gradient on the loop's outputs, and
    # map_fn passes back_prop to its while_loop; y = x ** 3 and sum(e * x) otherwise.
    # Without a gradient to take, a tensor-bounded loop may sit inside the tape.
    def cubed(x, back_prop):
        return xf.while_loop(lambda i, y: i < 2, lambda i, y: (i + 1, y * x), (0, x),
                             back_prop=back_prop,
                             maximum_iterations=2 if back_prop else None)[1]

    def mapped(x, back_prop):
        return xf.reduce_sum(xf.map_fn(lambda e: e * x, xf.constant([1.0, 2.0]),
                                       back_prop=back_prop))

    @xf.function
    def grads(x):
        with xf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            ys = [cubed(x, True), cubed(x, False), mapped(x, True), mapped(x, False)]
        return [tape.gradient(y, x, unconnected_gradients="zero") for y in ys]

    got = [float(g) for g in grads(xf.constant(2.0))]
    assert got == [12.0, 0.0, 3.0, 0.0]
    assert float(jax.grad(lambda x: cubed(x, False))(2.0)) == 0.0


def test_body_returning_another_structure_is_refused_as_tf_does():
    # TF's while_v2 asserts the body's output has loop_vars' structure (top-level
    # tuple/list alike) instead of repacking the leaves into it
    with pytest.raises(ValueError, match="structure of loop_vars"):
        xf.while_loop(lambda d: d["a"] < 3, lambda d: {"b": d["a"] + 1}, [{"a": 0}])
    with pytest.raises(ValueError, match="structure of loop_vars"):
        xf.while_loop(lambda a, b: a < 3, lambda a, b: (a + 1, (b,)), [0, 1])
    out = xf.while_loop(lambda a, b: a < 3, lambda a, b: [a + 1, b * 2], (0, 1))
    assert isinstance(out, tuple) and [int(v) for v in out] == [3, 8]


def test_map_fn_converts_fn_with_autograph_as_tf_does():
    # TF's map_fn runs `fn` through autograph.tf_convert, so a Python `if` on an element
    # works in a tf.function and eagerly; abs by hand against NumPy
    def magnitude(e):
        if e > 0:
            return e
        return -e

    x = np.array([1.5, -2.0, 0.0, -0.5], np.float32)
    np.testing.assert_array_equal(xf.map_fn(magnitude, x), np.abs(x))
    np.testing.assert_array_equal(xf.function(lambda v: xf.map_fn(magnitude, v))(x),
                                  np.abs(x))
    np.testing.assert_array_equal(xf.vectorized_map(magnitude, x), np.abs(x))

def _while_dtype_changes(n):  # the body turns the int loop variable into a float
    return xf.while_loop(lambda i: i < n, lambda i: i + 0.5, [n - n])


def _bounded_while_vector_test(x):  # a Python bound: AutoGraph's bounded for loop
    return xf.while_loop(lambda v: v < 3.0, lambda v: v + 1.0, [x], maximum_iterations=3)


def _while_vector_test(x):
    return xf.while_loop(lambda v: v < 3.0, lambda v: v + 1.0, [x])


def _cond_branches_differ(x):
    return xf.cond(x > 0, lambda: x, lambda: (x, x))


@pytest.mark.parametrize(("fn", "arg"), [
    (_while_dtype_changes, np.int32(3)), (_bounded_while_vector_test, np.zeros(2, np.float32)),
    (_while_vector_test, np.zeros(2, np.float32)), (_cond_branches_differ, np.float32(1))])
def test_errors_inside_a_traced_while_loop_or_cond_name_the_users_line(fn, arg):
    import inspect

    import jax
    call = f"{__file__}:{inspect.getsourcelines(fn)[1] + 1}"  # the line of the xf call
    with pytest.raises((TypeError, ValueError)) as info:
        jax.jit(fn)(arg)
    assert str(info.value).startswith(call + ":"), str(info.value)


def test_map_fn_honours_fn_output_signature_and_its_dtype_alias_as_tf():
    # TF: without a signature fn must keep elems' structure and dtypes ("TensorArray dtype
    # is int32 but Op is trying to write dtype float32"); with one (or the deprecated
    # dtype=), the outputs follow it and are packed in its structure. NumPy is the oracle.
    ints = np.arange(4, dtype=np.int32)
    halved = lambda v: xf.cast(v, xf.float32) / 2
    with pytest.raises(xf.errors.InvalidArgumentError,
                       match="returned dtype float32 .* `elems` gives it dtype int32"):
        xf.map_fn(halved, ints)
    for signature in ({"fn_output_signature": xf.float32}, {"dtype": xf.float32},
                      {"fn_output_signature": xf.TensorSpec([], xf.float32)}):
        out = xf.map_fn(halved, ints, **signature)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, ints / 2)
    with pytest.raises(xf.errors.InvalidArgumentError,
                       match="returned dtype float32 .* `fn_output_signature` gives it "
                             "dtype int32"):
        xf.map_fn(halved, ints, fn_output_signature=xf.int32)

    both = xf.map_fn(lambda v: {"i": v * 2, "f": halved(v)}, ints,
                     fn_output_signature={"i": xf.int32, "f": xf.float32})
    np.testing.assert_array_equal(both["i"], ints * 2)
    np.testing.assert_array_equal(both["f"], ints / 2)
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    with pytest.raises(ValueError, match="structure of `elems`.*fn_output_signature="):
        xf.map_fn(lambda ab: ab[0] * ab[1], (x, x + 1))
    # a Python number takes the dtype it should have; fn's list fills elems' tuple
    np.testing.assert_array_equal(xf.map_fn(lambda row: 0, x), np.zeros(3, np.float32))
    pair = xf.function(lambda v: xf.map_fn(lambda ab: [ab[1], ab[0]], (v[:, 0], v[:, 1])))(x)
    assert isinstance(pair, tuple)
    np.testing.assert_array_equal(pair[0], x[:, 1])
    with pytest.raises(ValueError, match="not both"):
        xf.map_fn(halved, ints, dtype=xf.float32, fn_output_signature=xf.float32)
    with pytest.raises(TypeError, match="fn_output_signature holds 'nope'"):
        xf.map_fn(halved, ints, fn_output_signature="nope")


def test_map_fn_refuses_scalar_elems_naming_them_as_tf():
    # TF: "Elements in elems must be 1+ dimensional Tensors, not scalars"; lax.map raised
    # an IndexError from inside JAX
    with pytest.raises(ValueError, match="1\\+ dimensional .* received shape \\(\\)"):
        xf.map_fn(lambda x: x, xf.constant(3.0))
    with pytest.raises(ValueError, match="elems\\[1\\]"):
        xf.map_fn(lambda p: p[0], (np.ones(2, np.float32), np.float32(1.0)),
                  fn_output_signature=xf.float32)
