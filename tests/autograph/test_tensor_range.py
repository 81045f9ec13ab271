"""`range` / `xf.range` with a tensor bound in converted code: a `for` loop over it is one
XLA loop; anywhere else it is no tensor (its length is known only at run time), and the
error says so, naming the call and its line.
"""

import inspect

import jax
import jax.numpy as jnp
import pytest

import xlaflow as xf


def _line(fn, offset):
    """'file:line' of the line `offset` lines below `fn`'s `def`."""
    return f"{__file__}:{inspect.getsourcelines(fn)[1] + offset}"


def scaled(n):
    return xf.range(n) * 2


def scaled_right(n):
    return 2 * xf.range(n)


def summed(n):
    return jnp.sum(xf.range(n))


def added_to_a_tensor(n):
    return n + range(n)


def its_length(n):
    r = range(0, n, 2)
    return len(r)


def enumerated_as_a_tensor(n):
    return jnp.asarray(enumerate(xf.range(n)))


@pytest.mark.parametrize(("fn", "what", "offset"), [
    (scaled, r"xf\.range\(\)", 1), (scaled_right, r"xf\.range\(\)", 1),
    (summed, r"xf\.range\(\)", 1), (added_to_a_tensor, r"range\(\)", 1),
    (its_length, r"range\(\)", 1), (enumerated_as_a_tensor, r"enumerate\(xf\.range\(\)\)", 1)])
def test_a_range_with_a_tensor_bound_used_as_a_tensor_names_the_call_and_line(fn, what,
                                                                               offset):
    message = (rf"{_line(fn, offset)}: {what} with a tensor bound can only drive a `for` "
               r"loop .* Give it a Python int bound")
    for run in (xf.function(fn), jax.jit(xf.autograph.to_graph(fn))):
        with pytest.raises(TypeError, match=message):
            run(jnp.int32(3))


def loop_over_it(n):
    s = 0
    for i in xf.range(n):
        s += i * 2
    return s


def test_the_same_range_still_drives_a_loop_and_a_static_bound_gives_a_tensor():
    # the oracle: Python's own loop and range
    assert int(xf.function(loop_over_it)(jnp.int32(4))) == sum(i * 2 for i in range(4))
    assert xf.function(scaled)(4).tolist() == [i * 2 for i in range(4)]
