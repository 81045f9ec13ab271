"""`for i in range(...)` with tensor bounds near and beyond the limits of int32, of other
integer dtypes, unsigned, and under enumerate / reversed / zip, against Python's range."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def range_sum_and_count(a, b, c):
    s, n = 0, 0
    for i in range(a, b, c):
        s = s + i // 7
        n += 1
    return s, n


def range_with_break(a, b, c):
    n = 0
    for _ in range(a, b, c):
        if n > 100:
            break
        n += 1
    return n


@pytest.mark.parametrize("a, b, c", [
    (-2 ** 31 + 5, 2 ** 31 - 1, 2 ** 30),  # the distance does not fit in int32
    (2 ** 31 - 2500, 2 ** 31 - 1, 1000),  # i + step would overflow past the bound
    (2 ** 31 - 1, -2 ** 31, -2 ** 31),
    (10, -3, -4), (0, 10, 3), (5, 5, 1)])
def test_tensor_ranges_near_the_limits_of_int32(agree, a, b, c):
    args = np.int32(a), np.int32(b)
    expect = range_sum_and_count(a, b, c)
    got = xf.function(range_sum_and_count)(*map(jnp.asarray, args), c)
    assert tuple(map(int, got)) == expect
    agree(range_with_break, *args, np.int32(c))


def test_tensor_range_bounds_of_other_integer_dtypes():
    @xf.function
    def f(a, b):
        s = 0
        for i in range(a, b):
            s += i
        for i in range(b):
            s += i
        return s

    assert int(f(jnp.int16(2), jnp.uint8(7))) == sum(range(2, 7)) + sum(range(7))
    with pytest.raises(TypeError, match="range.. takes integers; received a tensor of dtype "
                                        "float32"):
        f(jnp.float32(1), jnp.float32(3))


def break_in_the_widest_ranges(lo, hi):
    n = 0
    for _ in range(lo, hi):
        if n >= 3:
            break
        n += 1
    k = 0
    for k, _ in enumerate(reversed(range(lo, hi, 2))):
        if k >= 2:
            break
    return n, k


def test_ranges_of_more_than_2_to_the_31_values_run_and_break(agree):
    agree(break_in_the_widest_ranges, np.int32(-2 ** 31), np.int32(2 ** 31 - 1))


def unsigned_ranges(a):
    last, total = 0, 0
    for i in range(a, a + 3):
        last = i
    for i in range(a - 2, a - 9, -3):
        total = total + i % 7
    return last, total


def test_unsigned_bounds_beyond_int32_keep_their_values_in_64_bit_mode():
    with jax.enable_x64(True):
        got = xf.function(unsigned_ranges)(jnp.uint32(3_000_000_000))
    assert tuple(map(int, got)) == unsigned_ranges(3_000_000_000)


def counts_down_from_the_end(x, n):
    out = 0.0
    below = 0
    for i in range(n):
        out = out + x[-i - 1]
        if i - 1 < 0:
            below += 1
    return out, below


def test_the_counter_of_an_unsigned_range_is_a_signed_int(agree):
    agree(counts_down_from_the_end, np.arange(5, dtype=np.float32), np.uint32(5))


def enumerate_reversed_and_zip_of_ranges(lo, hi):
    out = 0
    for k, i in enumerate(reversed(range(lo, hi, 2))):
        out = out * 3 + i + k
    for i, j in zip(range(lo, hi), range(hi, lo, -1)):
        out = out + i * j
    return out


def test_enumerate_reversed_and_zip_of_tensor_ranges(agree):
    agree(enumerate_reversed_and_zip_of_ranges, np.int32(-3), np.int32(6))
