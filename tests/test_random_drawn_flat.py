"""xf.random.drawn_flat, how dropout masks and noise are drawn: traced, the flat draw
reshaped; eagerly, the first values of a draw whose size is the next power of two. The
oracle: jax.random's own draw of the shape, bit for bit."""

import jax
import numpy as np
import pytest

from tests.compile_log import compiled_programs
from xlaflow.random import drawn_flat

KEY = jax.random.PRNGKey(5)


def _bernoulli(key, shape):
    return jax.random.bernoulli(key, 0.3, shape)


@pytest.mark.parametrize("shape", [(7,), (3, 5, 7), (2, 3, 4, 5)])
def test_eager_and_traced_draws_are_jax_randoms_for_the_shape(shape):
    want = np.asarray(jax.random.bernoulli(KEY, 0.3, shape))
    eager = drawn_flat(_bernoulli, KEY, shape)
    traced = jax.jit(lambda k: drawn_flat(_bernoulli, k, shape))(KEY)
    for got in (eager, traced):
        assert got.shape == shape and got.dtype == want.dtype
        np.testing.assert_array_equal(np.asarray(got), want)


def test_eager_draws_of_one_size_class_compile_no_new_program():
    drawn_flat(_bernoulli, KEY, (3, 37))  # 111 values: the 128-value draw, compiled
    with compiled_programs() as compiled:
        masks = [drawn_flat(_bernoulli, KEY, shape) for shape in [(4, 29), (2, 3, 19)]]
    assert compiled == []
    np.testing.assert_array_equal(np.asarray(masks[1]),
                                  np.asarray(jax.random.bernoulli(KEY, 0.3, (2, 3, 19))))
