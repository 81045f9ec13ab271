"""TF fidelity gaps the "Introduction to graphs and tf.function" port found: integer
reduce_mean, the tf.dtypes module, TF 2.12's top-level math aliases, ConcreteFunction.graph."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def _truncated_mean(a, axis=None, keepdims=False):
    # The oracle: an exact integer sum (Python ints, no overflow) divided with truncation
    # toward zero, as TF's Mean kernel does in C++; an empty reduction is 0.
    total = np.sum(a.astype(object), axis=axis, keepdims=keepdims)
    count = a.size // max(np.size(total), 1) if a.size else 0
    trunc = np.vectorize(lambda s: 0 if count == 0 else (abs(s) // count) * (1 if s >= 0 else -1),
                         otypes=[object])
    return trunc(total).astype(a.dtype)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.uint8, np.uint32])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), ([0, 1], False),
                                           (-1, False)])
def test_reduce_mean_of_integers_keeps_dtype_and_truncates_toward_zero(dtype, axis, keepdims):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype)
    a = rng.integers(max(info.min, -100), min(info.max, 100), size=(3, 5), endpoint=True).astype(dtype)
    np_axis = tuple(axis) if isinstance(axis, list) else axis
    for fn in (xf.reduce_mean, xf.math.reduce_mean):
        got = fn(a, axis=axis, keepdims=keepdims)
        assert got.dtype == dtype
        np.testing.assert_array_equal(np.asarray(got), _truncated_mean(a, np_axis, keepdims))


def test_reduce_mean_of_integers_both_signs():
    # TF: tf.reduce_mean([1, 2]) is 1; a negative sum truncates toward zero, not down
    assert int(xf.reduce_mean([1, 2])) == 1
    assert int(xf.reduce_mean(xf.constant([-1, -2]))) == -1  # -3 / 2 = -1.5 -> -1
    assert int(xf.reduce_mean(xf.constant([-7, 0, 0]))) == -2  # -7 / 3 -> -2, floor is -3
    np.testing.assert_array_equal(xf.reduce_mean(xf.constant([[-3, -4], [5, 4]]), axis=1),
                                  [-3, 4])


def test_reduce_mean_of_narrow_integers_sums_wide():
    # int8 values whose sum overflows int8: TF sums in a wider type, so the mean is exact
    a = np.full((4,), 100, np.int8)
    assert xf.reduce_mean(a).dtype == np.int8 and int(xf.reduce_mean(a)) == 100
    with jax.enable_x64(True):  # int32 values past 2**31 in total: TF sums in int64
        b = np.full((4,), 2**30 + 1, np.int32)
        assert int(xf.reduce_mean(b)) == 2**30 + 1


def test_reduce_mean_of_an_empty_integer_reduction_is_zero():
    got = xf.reduce_mean(jnp.zeros((0, 3), jnp.int32), axis=0)
    assert got.dtype == jnp.int32
    np.testing.assert_array_equal(got, [0, 0, 0])


def test_reduce_mean_of_integers_compiled_and_floats_unchanged():
    f = xf.function(lambda x: xf.reduce_mean(x, axis=0))
    np.testing.assert_array_equal(f(xf.constant([[1, -5], [2, 2]])), [1, -1])
    g = xf.function(lambda x: xf.reduce_mean(x))  # all axes, traced
    assert int(g(xf.constant([[1, -5], [2, -7]]))) == -2  # -9 / 4 -> -2
    x = np.array([[1.0, 2.0], [4.0, 7.0]], np.float32)
    got = xf.reduce_mean(x, axis=1)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, x.mean(axis=1))
    assert xf.reduce_mean(np.array([1, 2], np.float16)).dtype == np.float16


def test_reduce_mean_of_integers_under_a_symbolic_batch():
    # jax.export with a symbolic batch (the export format's): the count is a traced size
    from jax import export
    (b,) = export.symbolic_shape("b")
    exported = export.export(jax.jit(lambda x: xf.reduce_mean(x, axis=0)))(
        jax.ShapeDtypeStruct((b, 3), jnp.int32))
    a = np.arange(12, dtype=np.int32).reshape(4, 3) - 6
    np.testing.assert_array_equal(exported.call(a), _truncated_mean(a, 0))


# --- tf.dtypes ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                                  "uint32", "uint64", "float16", "bfloat16", "float32",
                                  "float64", "complex64", "complex128", "half", "double",
                                  "string"])
def test_dtypes_module_names_are_the_top_level_dtypes(name):
    assert getattr(xf.dtypes, name) is getattr(xf, name)
    assert isinstance(getattr(xf.dtypes, name), xf.dtypes.DType)


def test_dtypes_as_dtype_and_cast():
    assert xf.dtypes.as_dtype("float16") == np.float16
    assert xf.dtypes.as_dtype(np.int32) == np.int32
    got = xf.dtypes.cast(xf.constant([1.7, -1.7, 2.5]), xf.dtypes.int32)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, np.trunc([1.7, -1.7, 2.5]).astype(np.int32))


def test_dtype_class_checks_instances_and_builds_from_enum_values():
    assert isinstance(xf.constant([1.0]).dtype, xf.dtypes.DType)
    assert not isinstance("float32", xf.dtypes.DType) and not isinstance(3, xf.dtypes.DType)
    # types.proto's DataType enum: DT_FLOAT = 1, DT_INT32 = 3, DT_BOOL = 10
    assert xf.dtypes.DType(1) == np.float32
    assert xf.dtypes.DType(3) == np.int32
    assert xf.dtypes.DType(10) == np.bool_
    with pytest.raises(TypeError, match=r"type_enum.*received 'float32'"):
        xf.dtypes.DType("float32")
    with pytest.raises(TypeError, match=r"type_enum.*received 99"):
        xf.dtypes.DType(99)


def test_complex_builds_from_float_parts_as_tf():
    for fn in (xf.complex, xf.dtypes.complex):
        got = fn(xf.constant([1.0, -2.0]), xf.constant([0.5, 3.0]))
        assert got.dtype == np.complex64
        np.testing.assert_array_equal(got, np.array([1.0, -2.0]) + 1j * np.array([0.5, 3.0]))
    assert xf.complex(1.0, 2.0) == 1 + 2j
    with pytest.raises(TypeError, match=r"real and imag.*received int32 and float32"):
        xf.complex(xf.constant([1]), xf.constant([1.0]))
    with jax.enable_x64(True):
        got = xf.complex(np.array([1.0]), np.array([2.0]))  # float64 parts
        assert got.dtype == np.complex128


def test_dtypes_not_provided_names_say_what_to_use():
    with pytest.raises(AttributeError, match=r"saturate_cast is not provided; write xf.cast"):
        xf.dtypes.saturate_cast  # noqa: B018
    assert not hasattr(xf.dtypes, "qint8")
    with pytest.raises(AttributeError, match=r"has no attribute 'no_such_dtype'$"):
        xf.dtypes.no_such_dtype  # noqa: B018


# --- TF 2.12's top-level math names -------------------------------------------------------

_X = np.array([-0.9, -0.3, 0.0, 0.4, 0.8], np.float32)
_UNARY = {"negative": np.negative, "tan": np.tan, "acos": np.arccos, "asin": np.arcsin,
          "atan": np.arctan, "cosh": np.cosh, "sinh": np.sinh, "asinh": np.arcsinh,
          "atanh": np.arctanh}


@pytest.mark.parametrize("name", sorted(_UNARY))
def test_top_level_unary_math_names_match_numpy(name):
    for fn in (getattr(xf, name), getattr(xf.math, name)):
        np.testing.assert_allclose(fn(xf.constant(_X)), _UNARY[name](_X), rtol=1e-6, atol=1e-7)


def test_acosh_and_the_binary_and_cumulative_names_match_numpy():
    x = np.array([1.0, 1.5, 3.0, 10.0], np.float32)
    for fn in (xf.acosh, xf.math.acosh):
        np.testing.assert_allclose(fn(x), np.arccosh(x), rtol=1e-6)
    y = np.array([-1.0, 2.0, -3.0, 0.5], np.float32)
    np.testing.assert_allclose(xf.atan2(y, x), np.arctan2(y, x), rtol=1e-6)
    np.testing.assert_allclose(xf.truediv(y, x), y / x, rtol=1e-6)
    halves = xf.truediv(xf.constant([3, -3]), xf.constant([2, 2]))  # integers: a float
    assert np.issubdtype(halves.dtype, np.floating)
    np.testing.assert_array_equal(halves, [1.5, -1.5])
    np.testing.assert_array_equal(xf.cumsum(xf.constant([[1, 2], [3, 4]]), axis=1),
                                  np.cumsum([[1, 2], [3, 4]], axis=1))
    m = np.array([[0.5, 3.0], [-2.0, 1.0]], np.float32)
    np.testing.assert_allclose(xf.reduce_logsumexp(m, axis=1),
                               np.log(np.exp(m).sum(axis=1)), rtol=1e-6)


def test_tf_math_only_names_stay_off_the_top_level():
    # TF 2.12 keeps these in tf.math only (tf.floordiv and friends are tf.compat.v1's)
    for name in ("ceil", "cumprod", "floordiv", "floormod"):
        assert hasattr(xf.math, name) and not hasattr(xf, name)


# --- ConcreteFunction's graph views ---------------------------------------------------------

def test_concrete_function_graph_views_raise_not_implemented_naming_the_alternatives():
    f = xf.function(lambda x: xf.nn.relu(x) * 2.0)
    concrete = f.get_concrete_function(xf.constant([1.0, -1.0]))
    with pytest.raises(NotImplementedError, match=r"ConcreteFunction\.graph is not provided.*"
                                                  r"\.jaxpr.*\.as_text\(\)"):
        concrete.graph  # noqa: B018
    with pytest.raises(NotImplementedError, match=r"as_graph_def\(\) is not provided"):
        concrete.as_graph_def()
    # duck-typing code that asks for a graph finds none, as for any missing attribute
    assert not hasattr(concrete, "graph") and getattr(concrete, "graph", None) is None
    # the alternatives the message names exist and describe the same program
    assert [e.primitive.name for e in concrete.jaxpr.eqns][-1] == "mul"
    assert "stablehlo.maximum" in concrete.as_text()
