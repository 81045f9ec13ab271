"""Regressions found in review: state carried through traced blocks inside tapes."""

import jax.numpy as jnp
import numpy as np

import xlaflow as xf


def test_traced_loop_inside_a_tape_starts_from_the_current_value():
    c = xf.Variable(0.0, trainable=False)
    w = xf.Variable(2.0)

    @xf.function
    def f(x, n):
        c.assign(10.0)
        with xf.GradientTape() as tape:
            i = 0
            while i < n:
                c.assign_add(1.0)
                i += 1
            loss = w * x
        return c.value, tape.gradient(loss, w)

    value, grad = f(jnp.float32(1.0), jnp.asarray(3))
    assert float(value) == 13.0 and float(grad) == 1.0
    assert float(c.numpy()) == 13.0


def test_assignment_to_a_watched_variable_inside_the_block_persists():
    w = xf.Variable(2.0)

    @xf.function
    def f(x):
        with xf.GradientTape() as tape:
            w.assign_add(1.0)
            loss = w * x
        return tape.gradient(loss, w)

    assert float(f(jnp.float32(3.0))) == 3.0
    assert float(w.numpy()) == 3.0


def test_loop_defining_a_name_and_assigning_a_variable():
    v = xf.Variable(0.0)

    @xf.function
    def f(n):
        i = 0
        while i < n:
            y = i * 2.0
            v.assign_add(1.0)
            i += 1
        return y + v.value

    assert float(f(jnp.asarray(3))) == 4.0 + 3.0


def test_appending_tuples_in_a_tensor_loop():
    @xf.function
    def f(x):
        out = []
        for row in x:
            out.append((row, row * 2))
        return out

    out = f(jnp.arange(6.0).reshape(3, 2))
    assert len(out) == 3
    np.testing.assert_allclose(out[1][1], [4.0, 6.0])
