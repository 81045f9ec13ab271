"""Tensors: TF dtype names, constant, convert_to_tensor, TensorSpec."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from tests.compile_log import compiled_programs


def test_tensor_is_jax_array():
    assert xf.Tensor is jax.Array
    assert isinstance(xf.constant([1, 2]), jax.Array)


@pytest.mark.parametrize("value, dtype", [(1.0, np.float32), (3, np.int32), (True, np.bool_),
                                          ([1.5, 2.5], np.float32), ([[1, 2]], np.int32)])
def test_constant_defaults_follow_tf(value, dtype):
    out = xf.constant(value)
    assert out.dtype == dtype
    assert not out.weak_type
    np.testing.assert_array_equal(out, np.asarray(value, dtype))


def test_constant_dtype_and_shape():
    np.testing.assert_array_equal(xf.constant(7, dtype=xf.float32, shape=(2, 3)),
                                  np.full((2, 3), 7.0, np.float32))
    np.testing.assert_array_equal(xf.constant([1, 2, 3, 4], shape=[2, 2]),
                                  np.array([[1, 2], [3, 4]]))
    assert xf.constant(1, dtype="bfloat16").dtype == jnp.bfloat16


def test_constant_bad_shape_names_argument():
    with pytest.raises(ValueError, match=r"'shape' is \(4,\).*value' has shape \(3,\)"):
        xf.constant([1, 2, 3], shape=(4,))


def test_dtype_names_compare_with_array_dtypes():
    assert jnp.zeros(2).dtype == xf.float32
    assert jnp.zeros(2, jnp.int32).dtype == xf.int32
    assert xf.as_dtype("float16") == xf.float16 == xf.half
    assert xf.bfloat16 == jnp.dtype(jnp.bfloat16)


def test_convert_to_tensor():
    v = xf.Variable([1.0, 2.0])
    out = xf.convert_to_tensor(v)
    assert isinstance(out, jax.Array)
    np.testing.assert_array_equal(out, [1.0, 2.0])
    assert xf.convert_to_tensor(3, dtype_hint=xf.float32).dtype == xf.float32
    assert xf.convert_to_tensor(np.arange(3, dtype=np.int32)).dtype == np.int32
    x = jnp.ones(2)
    assert xf.convert_to_tensor(x) is x
    with pytest.raises(TypeError, match="requested dtype int32 for a value of dtype float32"):
        xf.convert_to_tensor(x, dtype=xf.int32)


def test_tensor_spec():
    spec = xf.TensorSpec([None, 3], xf.float32, name="x")
    assert spec.is_compatible_with(jnp.zeros((5, 3)))
    assert not spec.is_compatible_with(jnp.zeros((5, 4)))
    assert not spec.is_compatible_with(jnp.zeros((5, 3), jnp.int32))
    assert not spec.is_compatible_with(jnp.zeros((3,)))
    assert xf.TensorSpec(None).is_compatible_with(jnp.zeros((1, 2, 3)))
    assert spec == xf.TensorSpec((None, 3), "float32", "x")
    assert hash(spec) == hash(xf.TensorSpec((None, 3), "float32", "x"))
    assert repr(spec) == "TensorSpec(shape=(None, 3), dtype=float32, name='x')"
    assert repr(xf.TensorSpec([2])) == "TensorSpec(shape=(2,), dtype=float32, name=None)"
    assert xf.TensorSpec.from_tensor(jnp.zeros((2, 2), jnp.int32)) == xf.TensorSpec(
        (2, 2), xf.int32)


def test_constant_of_numpy_64_bit_values_takes_jax_default_dtypes_without_warning():
    # np.arange and np.random give int64/float64; without x64, jnp.asarray keeps them as
    # int32/float32 silently, and so does xf.constant (filterwarnings=error would raise)
    ints, floats = np.arange(5), np.random.default_rng(0).random(4)
    assert xf.constant(ints).dtype == jnp.int32
    assert xf.constant(floats).dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(xf.constant(ints)), ints.astype(np.int32))
    np.testing.assert_array_equal(np.asarray(xf.constant(floats)), floats.astype(np.float32))
    with pytest.warns(UserWarning, match="int64"):  # a dtype asked for still says so
        xf.constant([1, 2], dtype="int64")


def test_a_spec_shape_is_a_tuple_that_answers_tensorshape_questions():
    # TF code reads element_spec.shape.as_list(); the shape stays a plain tuple otherwise
    spec = xf.TensorSpec([None, 3])
    assert spec.shape == (None, 3) and hash(spec.shape) == hash((None, 3))
    assert spec.shape.as_list() == [None, 3] and spec.shape.rank == 2
    assert not spec.shape.is_fully_defined() and xf.TensorSpec([2]).shape.is_fully_defined()
    element = xf.data.Dataset.from_tensor_slices(np.ones((4, 2), np.float32)).element_spec
    assert element.shape.as_list() == [2]


def test_eager_tensors_have_tfs_numpy_method():
    # TF2 code calls .numpy() on every eager tensor; xlaflow's are jax arrays
    x = xf.constant([1.0, 2.0])
    value = x.numpy()
    assert type(value) is np.ndarray and value.dtype == np.float32
    value[0] = 5.0  # a writable copy, as TF's
    np.testing.assert_array_equal(x, [1.0, 2.0])
    total = xf.reduce_sum(x).numpy()
    assert type(total) is np.float32 and total == 3.0  # a NumPy scalar for 0-d, as TF's

    @xf.function
    def inside(t):
        return t.numpy()  # traced tensors have no value: AttributeError, as TF's graph ones

    with pytest.raises(AttributeError, match="numpy"):
        inside(x)


def test_64_bit_integers_past_32_bits_are_refused_not_wrapped():
    # jnp.asarray wraps NumPy's int64 2**40 to 0 without 64-bit mode; TF keeps int64
    big = np.array([1, 2**40])
    for make in (xf.constant, xf.convert_to_tensor):
        with pytest.raises(OverflowError, match=r"int64 values span \[1, 1099511627776\], "
                                                r"past int32.*jax_enable_x64"):
            make(big)
    fits = np.array([-2**31, 2**31 - 1])
    np.testing.assert_array_equal(xf.constant(fits), fits)
    assert xf.constant(np.array([], np.int64)).shape == (0,)
    assert xf.constant(np.array([2**32 - 1], np.uint64)).dtype == np.uint32


def test_64_bit_integers_asked_for_or_inside_lists_are_refused_too():
    # dtype=xf.int64 without x64 is int32 (JAX warns) and wrapped 2**40 to 0; an int64
    # array inside a list wrapped with no warning at all. TF keeps both as int64.
    for make in (xf.constant, xf.convert_to_tensor):
        with pytest.raises(OverflowError, match=r"int64 values span .*past int32"):
            make([np.array([3]), np.array([-2**40])])
        with pytest.raises(OverflowError, match=r"int64 values span .*past int32"):
            make(np.array([2**40]), dtype=xf.int64)
        with pytest.raises(OverflowError, match=r"uint64 values span .*past uint32"):
            make([[np.uint64(2**63)]])
    np.testing.assert_array_equal(xf.constant([np.array([3]), np.array([-2**31])]),
                                  [[3], [-2**31]])
    np.testing.assert_array_equal(xf.constant([np.int64(7), 1.5]), [7.0, 1.5])
    # a requested 32-bit dtype casts as TF's cast does; floats are not integers' business
    assert xf.constant(np.array([2**40]), dtype=xf.float32).tolist() == [2.0**40]


@pytest.mark.parametrize("make", [xf.constant, xf.convert_to_tensor])
@pytest.mark.parametrize("value, dtype", [(2.5, xf.int32), (2.0, xf.int32), ([1, [2.0]], xf.int32),
                                          (1.0, xf.bool), ((0.5,), xf.uint8)])
def test_a_python_float_is_not_truncated_into_an_integer_or_bool_dtype(make, value, dtype):
    # TF: "Cannot convert 2.5 to EagerTensor of dtype int32"; jnp.asarray gave 2
    with pytest.raises(TypeError, match=r"cannot convert .* to a tensor of dtype"):
        make(value, dtype=dtype)


def test_python_ints_and_bools_still_take_integer_dtypes_and_floats_float_ones():
    assert xf.constant([1, True], dtype=xf.int32).tolist() == [1, 1]
    assert xf.convert_to_tensor(3, dtype=xf.uint8).dtype == np.uint8
    assert xf.constant(1.5, dtype=xf.float16).dtype == np.float16
    assert xf.constant(np.array([1.5]), dtype=xf.int32).tolist() == [1]  # NumPy casts


def test_a_dtype_hint_that_a_python_float_does_not_fit_is_dropped():
    assert xf.convert_to_tensor(2.5, dtype_hint=xf.int32).dtype == np.float32
    assert xf.convert_to_tensor(2, dtype_hint=xf.float32).dtype == np.float32
    assert xf.convert_to_tensor(2, dtype_hint=xf.int32).dtype == np.int32


@pytest.mark.parametrize("dtype, expected", [(np.float64, np.float32), (np.float32, np.float32),
                                             (np.int64, np.int32), (np.uint8, np.uint8)])
def test_converting_a_numpy_array_compiles_nothing_and_copies_it(dtype, expected):
    """jnp.asarray stages an ndarray through a program compiled per shape (JAX 0.10): eager
    code converting each new batch shape paid a compile for it."""
    host = np.arange(3 * 7, dtype=dtype).reshape(3, 7)
    with compiled_programs() as compiled:
        out = xf.convert_to_tensor(host)
    assert compiled == []
    assert out.dtype == expected and not out.weak_type
    np.testing.assert_array_equal(np.asarray(out), host.astype(expected))
    host[0, 0] = 99  # the tensor is its own buffer, as TF's
    assert np.asarray(out)[0, 0] == 0
