"""Variable: a mutable cell; checked assignment; accepted by jnp, numpy and jax.tree_util."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def test_creation_defaults():
    v = xf.Variable(1.0)
    assert v.dtype == np.float32 and v.shape == () and v.name == "Variable" and v.trainable
    assert not v.value.weak_type
    w = xf.Variable([1, 2], trainable=False, name="w", dtype=xf.float32)
    assert w.dtype == np.float32 and w.shape == (2,) and w.name == "w" and not w.trainable
    assert xf.Variable(lambda: jnp.ones((2, 2))).shape == (2, 2)
    assert xf.Variable(w).dtype == np.float32


def test_value_read_value_numpy():
    v = xf.Variable([1.0, 2.0])
    assert isinstance(v.value, jax.Array)
    np.testing.assert_array_equal(v.read_value(), [1.0, 2.0])
    out = v.numpy()
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, [1.0, 2.0])


def test_assign_family():
    v = xf.Variable([1.0, 2.0])
    assert v.assign([3.0, 4.0]) is v
    np.testing.assert_array_equal(v.numpy(), [3.0, 4.0])
    v.assign_add(jnp.array([1.0, 1.0]))
    np.testing.assert_array_equal(v.numpy(), [4.0, 5.0])
    v.assign_sub(0.5 * jnp.ones(2))
    np.testing.assert_array_equal(v.numpy(), [3.5, 4.5])
    assert v.assign_add(1.0, read_value=False) is None
    np.testing.assert_array_equal(v.numpy(), [4.5, 5.5])
    v.assign(np.array([0.0, 0.0], np.float32))
    assert isinstance(v.value, jax.Array) and not v.value.weak_type


def test_assign_shape_mismatch_names_variable_and_leaves_value():
    v = xf.Variable(jnp.zeros(3), name="bias")
    with pytest.raises(ValueError, match=r"'bias'.assign: expected shape \(3,\), received \(4,\)"):
        v.assign(jnp.zeros(4))
    with pytest.raises(ValueError, match=r"'bias'.assign_add: expected a delta broadcastable"):
        v.assign_add(jnp.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"'bias'.assign_sub: expected a delta broadcastable"):
        v.assign_sub(jnp.zeros(2))
    np.testing.assert_array_equal(v.numpy(), np.zeros(3))


def test_assign_dtype_mismatch_names_variable():
    v = xf.Variable(jnp.zeros(2), name="w")
    with pytest.raises(TypeError, match=r"'w'.assign: expected dtype float32, received int32"):
        v.assign(jnp.zeros(2, jnp.int32))
    np.testing.assert_array_equal(v.numpy(), np.zeros(2))


def test_numpy_values_take_the_variables_dtype_as_tf_converts_them():
    kernel = xf.Variable(np.zeros((2, 2), np.float32), name="kernel")
    kernel.assign(np.full((2, 2), 0.1))  # float64 NumPy: converted, as TF does
    assert kernel.dtype == jnp.float32 and kernel.value.dtype == jnp.float32
    np.testing.assert_allclose(kernel.numpy(), np.float32(0.1))
    steps = xf.Variable(1, name="steps")
    steps.assign_add(np.int64(2))
    assert steps.numpy() == 3
    for fraction in (2.7, 1.0, np.float32(2.0), np.array([0.5])[0]):
        with pytest.raises(TypeError, match=r"'steps'.assign: cannot convert .* to the "
                           r"Variable's dtype int32"):
            steps.assign(fraction)
    with pytest.raises(TypeError, match=r"'steps'.assign_add: cannot convert 1.5"):
        steps.assign_add(1.5)
    with pytest.raises(ValueError, match=r"values from 1099511627776 .* do not fit .* int32"):
        steps.assign(2 ** 40)
    assert steps.numpy() == 3


def test_operators_match_numpy():
    a = np.array([1.0, 2.0, 3.0], np.float32)
    v = xf.Variable(a)
    np.testing.assert_allclose(v + 1, a + 1)
    np.testing.assert_allclose(1 + v, 1 + a)
    np.testing.assert_allclose(v - v, a - a)
    np.testing.assert_allclose(2 - v, 2 - a)
    np.testing.assert_allclose(v * v, a * a)
    np.testing.assert_allclose(v / 2, a / 2)
    np.testing.assert_allclose(6 / v, 6 / a)
    np.testing.assert_allclose(v ** 2, a ** 2)
    np.testing.assert_allclose(2 ** v, 2 ** a)
    np.testing.assert_allclose(v // 2, a // 2)
    np.testing.assert_allclose(v % 2, a % 2)
    np.testing.assert_allclose(-v, -a)
    np.testing.assert_allclose(abs(-v), a)
    np.testing.assert_allclose(v @ v, a @ a)
    np.testing.assert_array_equal(v > 1.5, a > 1.5)
    np.testing.assert_array_equal(v <= 2, a <= 2)
    np.testing.assert_array_equal(v == a, np.ones(3, bool))
    np.testing.assert_array_equal(v != 2, a != 2)
    np.testing.assert_allclose(v[1:], a[1:])
    assert float(xf.Variable(2.5)) == 2.5 and int(xf.Variable(3)) == 3
    assert len(v) == 3 and [float(x) for x in v] == [1.0, 2.0, 3.0]
    ints = xf.Variable(np.array([6, 3], np.int32))
    np.testing.assert_array_equal(ints & 2, [2, 2])
    np.testing.assert_array_equal(ints << 1, [12, 6])


def test_jnp_functions_accept_a_variable():
    a = np.array([[1.0, -2.0], [3.0, 4.0]], np.float32)
    v = xf.Variable(a)
    np.testing.assert_allclose(jnp.sin(v), np.sin(a), rtol=1e-6)
    np.testing.assert_allclose(jnp.sum(v), a.sum())
    np.testing.assert_allclose(jnp.mean(v, axis=0), a.mean(0))
    np.testing.assert_allclose(jnp.dot(v, v), a @ a)
    np.testing.assert_allclose(jnp.matmul(jnp.ones((1, 2)), v), np.ones((1, 2)) @ a)
    np.testing.assert_allclose(jnp.maximum(v, 0.0), np.maximum(a, 0))
    np.testing.assert_allclose(jnp.where(v > 0, v, 0.0), np.where(a > 0, a, 0))
    np.testing.assert_allclose(jnp.stack([v, v]), np.stack([a, a]))
    np.testing.assert_allclose(jax.nn.relu(v), np.maximum(a, 0))
    np.testing.assert_allclose(jnp.ones((2, 2)) + v, 1 + a)
    np.testing.assert_allclose(jnp.asarray(v), a)


def test_numpy_accepts_a_variable():
    a = np.array([0.5, 1.5], np.float32)
    v = xf.Variable(a)
    np.testing.assert_allclose(np.sin(v), np.sin(a), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(v), a)
    assert np.asarray(v, dtype=np.float64).dtype == np.float64


def test_variables_are_unhashable_but_have_refs():
    v = xf.Variable(1.0)
    with pytest.raises(TypeError, match="unhashable"):
        hash(v)
    table = {v.ref(): "v"}
    assert table[v.ref()] == "v" and v.ref().deref() is v
    assert v.ref() != xf.Variable(1.0).ref()


def test_pytree_leaf_is_the_value_and_jax_jit_sees_the_array():
    v = xf.Variable(jnp.arange(3.0), name="v")
    leaves = jax.tree_util.tree_leaves({"a": v})
    assert len(leaves) == 1 and isinstance(leaves[0], jax.Array)
    np.testing.assert_array_equal(jax.jit(lambda w: w * 2)(v), [0.0, 2.0, 4.0])
    doubled = jax.tree_util.tree_map(lambda x: x * 2, v)
    assert doubled is not v and doubled.name == "v"
    np.testing.assert_array_equal(doubled.numpy(), [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(v.numpy(), [0.0, 1.0, 2.0])


def test_assigning_inside_plain_jax_jit_is_a_clear_error():
    v = xf.Variable(jnp.zeros(2), name="state")

    @jax.jit
    def f(x):
        v.assign(x)
        return x

    with pytest.raises(TypeError, match="Cannot assign a traced value to Variable 'state'"):
        f(jnp.ones(2))
    np.testing.assert_array_equal(v.numpy(), np.zeros(2))

    @jax.jit
    def g(w):
        w.assign(w.value + 1)

    with pytest.raises(TypeError, match="Cannot assign to Variable 'state' inside a JAX"):
        g(v)
    with pytest.raises(TypeError, match="Cannot assign_add to Variable 'state' inside a JAX"):
        jax.jit(lambda w: w.assign_add(1.0))(v)


def test_repr():
    assert repr(xf.Variable([1.0, 2.0], name="v")) == (
        "<xf.Variable 'v' shape=(2,) dtype=float32 numpy=[1. 2.]>")


def test_bool_and_complex_values_are_not_converted_silently():
    flag, count, scale = xf.Variable(True), xf.Variable(1), xf.Variable(1.0)
    for variable, value in ((flag, 1), (count, True), (scale, np.complex64(1 + 2j))):
        with pytest.raises(TypeError, match="cannot convert"):
            variable.assign(value)
    flag.assign(False)
    assert not bool(flag.numpy()) and int(count.numpy()) == 1 and float(scale.numpy()) == 1.0


def test_variable_from_numpy_64_bit_values_takes_jax_default_dtypes_without_warning():
    value = np.random.default_rng(0).standard_normal((2, 3))  # float64
    v = xf.Variable(value)
    assert v.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(v), value.astype(np.float32))
    assert xf.Variable(np.arange(3)).dtype == jnp.int32


def test_python_lists_are_operands_converted_to_the_variables_dtype_as_in_tf():
    v = xf.Variable(2.0)
    np.testing.assert_array_equal(v * [3.0, 4.0], [6.0, 8.0])
    np.testing.assert_array_equal([1.0, 2.0] - v, [-1.0, 0.0])
    m = xf.Variable([[1.0], [2.0]])
    np.testing.assert_array_equal([[1.0, 2.0]] @ m, [[5.0]])
    counts = xf.Variable(2)
    assert (counts * [3, 4]).dtype == np.int32  # TF converts to the Variable's dtype
    with pytest.raises(TypeError, match=r"\[3.5\] to the Variable's dtype int32"):
        counts * [3.5]

    @xf.function
    def gradient():
        with xf.GradientTape() as tape:
            y = v * [3.0, 4.0]  # a non-scalar target: its sum is differentiated
        return tape.gradient(y, v)

    assert float(gradient()) == 7.0


def test_list_operands_round_to_a_float_variables_dtype_as_tf_converts_them():
    # 0.1 has no exact float32 (or bfloat16): TF rounds it, as tf.constant([0.1]) does
    v = xf.Variable([1.0, 2.0])
    np.testing.assert_allclose(v * [0.1, 0.2], np.float32([0.1, 0.4]))
    np.testing.assert_allclose((0.1, 0.3) + v, np.float32([1.1, 2.3]))
    assert np.isnan(np.asarray(v * [float("nan"), 1.0])[0])
    half = xf.Variable([1.0], dtype=jnp.bfloat16)
    assert (half * [0.1]).dtype == jnp.bfloat16
    with pytest.raises(TypeError, match=r"\[1j\] to the Variable's dtype float32"):
        v * [1j]  # complex to real drops the imaginary part: TF refuses it
    with pytest.raises(TypeError, match=r"to the Variable's dtype int32"):
        xf.Variable([1, 2]) + [2**40, 1]  # out of int32's range: TF refuses, not wraps


def test_a_variable_refuses_int64_values_past_32_bits_instead_of_wrapping():
    with pytest.raises(OverflowError, match=r"xf.Variable: the int64 values span"):
        xf.Variable(np.array([1, 2**40]))
    np.testing.assert_array_equal(xf.Variable(np.array([2**31 - 1])).numpy(), [2**31 - 1])
