"""The tape's replay of a recorded block: a mark `x + 0` of a constant nothing else reads is
replayed from the constant itself (the same function, two fewer eager operations)."""

import jax
import jax.numpy as jnp
import numpy as np

import xlaflow as xf
from xlaflow import _jaxpr_replay as replay


def _marked(fn):
    closed = jax.make_jaxpr(fn)()
    outvars = closed.jaxpr.outvars
    return closed, replay.computed_results(closed.jaxpr, outvars)


def test_a_mark_of_a_constant_read_once_is_passed_through():
    a, b = jnp.arange(3.0), jnp.ones(3)

    def block():
        ma = a + 0  # the tape's mark of a Variable read
        return ma, (ma * b).sum()

    closed, shifted = _marked(block)
    through = replay.passthroughs(closed, shifted)
    assert len(through) == 1 and next(iter(through.values())) is a
    # replayed under vjp from the constant: the same values and gradients as with a shift
    def run(passthrough):
        starts = [passthrough[v] if v in passthrough else jnp.zeros(v.aval.shape)
                  for v in shifted]
        out, pull = jax.vjp(lambda s: replay.replay(closed, shifted, [], s, passthrough),
                            starts)
        return out, pull([jnp.zeros(3), jnp.float32(1.0)])

    (out, grads), (want_out, want_grads) = run(through), run({})
    for got, want in zip(out + grads[0], want_out + want_grads[0]):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(grads[0][0], b)  # d sum(a * b) / da


def test_a_constant_read_elsewhere_or_a_nonzero_add_keeps_its_shift():
    a = jnp.arange(3.0)

    def read_twice():
        return a + 0, (a * 2).sum()

    def shifted_by_one():
        return (a + 1,)

    for block in (read_twice, shifted_by_one):
        closed, shifted = _marked(block)
        assert replay.passthroughs(closed, shifted) == {}


def test_eager_tape_gradients_with_the_passthrough_match_jax():
    v = xf.Variable([1.0, 2.0, 3.0])
    w = xf.Variable(0.5)
    x = jnp.array([0.3, -0.2, 0.9])
    with xf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        loss = jnp.sum(jnp.tanh(v * x) * w) + jnp.sum(v ** 2)
    gv, gw, gx = tape.gradient(loss, [v, w, x])
    want = jax.grad(lambda v, w, x: jnp.sum(jnp.tanh(v * x) * w) + jnp.sum(v ** 2),
                    argnums=(0, 1, 2))(v.numpy(), jnp.float32(0.5), x)
    for got, expected in zip((gv, gw, gx), want):
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert tape.gradient(loss, x) is not None  # x keeps its identity after the block


def test_a_recorded_tape_keeps_its_values_when_a_later_call_donates_the_variables():
    # The replay reads the Variables' buffers themselves (passed through, or a residual
    # like a non-trainable factor's): a donate_variables call after the block must not
    # consume them, or the tape's gradient and the block's locals would read freed buffers.
    w = xf.Variable([1.0, 2.0], name="w")
    c = xf.Variable(3.0, name="c", trainable=False)

    @xf.function(donate_variables=True)
    def bump():
        w.assign_add(jnp.ones(2))
        c.assign_add(1.0)

    with xf.GradientTape(persistent=True) as tape:
        y = jnp.sum(w * w * c)
        read = w.value
    bump()
    bump()
    np.testing.assert_allclose(tape.gradient(y, w), 2 * np.array([1.0, 2.0]) * 3.0)
    np.testing.assert_allclose(tape.gradient(y, w), [6.0, 12.0])  # persistent: again
    np.testing.assert_allclose(read, [1.0, 2.0])
    np.testing.assert_allclose(w.numpy(), [3.0, 4.0])
    np.testing.assert_allclose(c.numpy(), 5.0)
