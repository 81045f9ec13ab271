"""NumPy arguments an xf.function cannot compile as they are: text and objects, and 64-bit
integers past 32 bits without x64 (jax.jit narrows them: 2**40 becomes 0, silently).

TF takes both (strings and int64 are tensor dtypes there); xlaflow keeps text on the host
and JAX's integers 32-bit by default, so the call refuses and names the argument, on the
first call and on the compiled fast path alike."""

import jax
import numpy as np
import pytest

import xlaflow as xf


def _identity():
    @xf.function
    def f(x):
        return x + 0

    return f


@pytest.mark.parametrize("value", [np.array(["a", "b"]), np.array([b"ab"], dtype=object),
                                   np.array([b"ab", b"c"])])
@pytest.mark.parametrize("compiled_before", [False, True])
def test_text_and_object_arrays_are_refused_with_the_argument_named(value, compiled_before):
    f = _identity()
    if compiled_before:  # a numeric call leaves a fast-path entry for one argument
        f(np.zeros(value.shape, np.float32))
    with pytest.raises(TypeError, match=r"argument 'x' holds .*compiled function takes "
                                        r"numbers only.*StringLookup"):
        f(value)


def test_a_dataset_text_element_is_refused_too():
    f = _identity()
    f(np.zeros((), np.float32))
    element = next(iter(xf.data.Dataset.from_tensor_slices(["a", "b"])))
    with pytest.raises(TypeError, match=r"argument 'x' holds text"):
        f(element)


@pytest.mark.parametrize("dtype,value", [(np.int64, 2 ** 40), (np.int64, -2 ** 31 - 1),
                                         (np.uint64, 2 ** 32)])
@pytest.mark.parametrize("compiled_before", [False, True])
def test_64_bit_integers_past_32_bits_are_refused_not_wrapped(dtype, value, compiled_before):
    f = _identity()
    if compiled_before:
        f(np.array([1, 2], dtype))
    with pytest.raises(OverflowError, match=rf"argument 'x' holds {np.dtype(dtype)} values "
                                            r".*past 32 bits.*jax_enable_x64"):
        f(np.array([1, value], dtype))
    with pytest.raises(OverflowError, match="argument 'x'"):  # a NumPy scalar as well
        f(dtype(value))


def test_64_bit_integers_that_fit_are_taken_and_keep_their_values():
    f = _identity()
    for value in (np.array([1, -2 ** 31, 2 ** 31 - 1], np.int64),
                  np.array([0, 2 ** 32 - 1], np.uint64), np.array([], np.int64)):
        out = f(value)
        np.testing.assert_array_equal(np.asarray(out).astype(np.int64),
                                      value.astype(np.int64))


def test_with_x64_the_wide_values_pass_through():
    f = _identity()
    with jax.enable_x64(True):
        out = f(np.array([2 ** 40, -2 ** 40], np.int64))
        assert out.dtype == np.int64
        np.testing.assert_array_equal(np.asarray(out), [2 ** 40, -2 ** 40])
