"""Review of the slice-window conversion: eager keys are the ones the user wrote (a user
__getitem__ sees the same slice), and a known start beside a traced one slices as NumPy."""

import jax.numpy as jnp
import numpy as np

import xlaflow as xf


class Keys:
    """Returns the key it is given, as pandas' label slicing or a user class would see it."""

    def __getitem__(self, key):
        return key


def trailing(s, t, w):
    return s[t - w:t]


def labels(s, p):
    return s[p + "a":p + "z"]


def test_float_bounds_reach_getitem_as_written():
    # (0.1 - 0.4) + 0.4 is 0.09999999999999998, not 0.1: a label slice would drop its end
    assert xf.autograph.to_graph(trailing)(Keys(), 0.1, 0.4) == trailing(Keys(), 0.1, 0.4)
    assert xf.autograph.to_graph(trailing)(Keys(), 0.1, 0.4).stop == 0.1


def test_string_bounds_whose_difference_is_no_value_still_slice():
    # 'z' - 'a' is a TypeError: the size is computed only for a traced start
    assert xf.autograph.to_graph(labels)(Keys(), "k") == slice("ka", "kz")


def test_a_known_start_beside_a_traced_one_slices_as_numpy():
    x = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    f = xf.function(lambda x, i, j: x[j:j + 1, i:i + 2])
    for j in (-1, 5, 1):
        got = f(jnp.asarray(x), jnp.int32(1), j)
        np.testing.assert_array_equal(np.asarray(got), x[j:j + 1, 1:3])
