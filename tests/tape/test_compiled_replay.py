"""An eager tape block seen COMPILE_AT times with one structure replays compiled: the same
values and gradients as op by op (oracle: jax.value_and_grad of the same math), and a
block whose trace differs in anything that changes its function (a literal, a branch, a
custom_jvp rule, a constant's type) never reuses another's program."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow import _jaxpr_key as key
from xlaflow import _jaxpr_replay as replay


@pytest.fixture(autouse=True)
def fresh_structures():
    replay._seen.clear()
    yield
    replay._seen.clear()


def _compiled_count():
    return sum(callable(entry) for entry in replay._seen.values())


def test_a_training_loop_compiles_once_and_matches_value_and_grad_each_step():
    rng = np.random.default_rng(0)
    w0, x, y = (rng.normal(size=s).astype(np.float32) for s in [(3, 2), (8, 3), (8, 2)])
    w, b = xf.Variable(w0), xf.Variable(np.zeros(2, np.float32))
    opt = xf.keras.optimizers.SGD(0.1)
    ref_w, ref_b = jnp.asarray(w0), jnp.zeros(2)

    def ref_loss(w, b):
        return jnp.mean((jax.nn.relu(x @ w + b) - y) ** 2)

    for step in range(2 * replay.COMPILE_AT + 1):
        with xf.GradientTape() as tape:
            loss = xf.reduce_mean((xf.nn.relu(x @ w + b) - y) ** 2)
        grads = tape.gradient(loss, [w, b])
        want, (gw, gb) = jax.value_and_grad(ref_loss, argnums=(0, 1))(ref_w, ref_b)
        np.testing.assert_allclose(loss, want, rtol=1e-5)
        np.testing.assert_allclose(grads[0], gw, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(grads[1], gb, rtol=1e-5, atol=1e-7)
        opt.apply_gradients(zip(grads, [w, b]))
        ref_w, ref_b = ref_w - 0.1 * gw, ref_b - 0.1 * gb
        # compiled from the COMPILE_AT-th step on, and only once
        assert _compiled_count() == (step + 1 >= replay.COMPILE_AT)
    np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-5, atol=1e-6)


def _scaled_grad(x, scale):
    with xf.GradientTape() as tape:
        tape.watch(x)
        y = xf.reduce_sum(x * x) * scale
    return tape.gradient(y, x)


def test_a_python_number_in_the_block_is_part_of_its_structure():
    x = xf.constant([1.0, -2.0, 3.0])
    for _ in range(replay.COMPILE_AT):
        np.testing.assert_allclose(_scaled_grad(x, 0.5), [1.0, -2.0, 3.0])
    assert _compiled_count() == 1
    # the compiled program of scale 0.5 is not taken for 2.0
    np.testing.assert_allclose(_scaled_grad(x, 2.0), [4.0, -8.0, 12.0])
    for _ in range(replay.COMPILE_AT):
        np.testing.assert_allclose(_scaled_grad(x, 2.0), [4.0, -8.0, 12.0])
    np.testing.assert_allclose(_scaled_grad(x, 0.5), [1.0, -2.0, 3.0])
    assert _compiled_count() == 2


def test_a_python_branch_taken_differently_is_another_structure():
    x = xf.Variable([1.0, 2.0])
    for step in range(3 * replay.COMPILE_AT):
        with xf.GradientTape() as tape:
            y = xf.reduce_sum(x ** 2) if step % 2 else xf.reduce_sum(x ** 3)
        want = 2 * np.array([1.0, 2.0]) if step % 2 else 3 * np.array([1.0, 4.0])
        np.testing.assert_allclose(tape.gradient(y, x), want)
    assert _compiled_count() == 2


def _same_forward(rule_scale):
    @jax.custom_jvp
    def f(x):
        return jnp.sin(x)

    f.defjvp(lambda primals, tangents: (f(primals[0]),
                                        rule_scale * jnp.cos(primals[0]) * tangents[0]))
    return f


def test_custom_jvp_rules_with_the_same_forward_do_not_share_a_program():
    one, three = _same_forward(1.0), _same_forward(3.0)
    x = xf.Variable([0.0, 1.0])

    def grad(f):
        with xf.GradientTape() as tape:
            y = xf.reduce_sum(f(x.read_value()))
        return tape.gradient(y, x)

    for _ in range(replay.COMPILE_AT + 1):
        np.testing.assert_allclose(grad(one), np.cos([0.0, 1.0]), rtol=1e-6)
        np.testing.assert_allclose(grad(three), 3 * np.cos([0.0, 1.0]), rtol=1e-6)
    assert _compiled_count() == 2


def test_a_custom_gradient_block_stays_op_by_op_and_reads_its_function_each_time():
    factor = {"now": 1.0}

    @xf.custom_gradient
    def scaled_identity(x):
        return x, lambda dy: dy * factor["now"]

    x = xf.Variable([1.0, 2.0])
    for k in range(replay.COMPILE_AT + 2):
        factor["now"] = float(k)
        with xf.GradientTape() as tape:
            y = xf.reduce_sum(scaled_identity(x.read_value()))
        np.testing.assert_allclose(tape.gradient(y, x), [float(k), float(k)])
    assert _compiled_count() == 0


def test_a_block_that_prints_stays_op_by_op(capsys):
    x = xf.Variable(2.0)
    for _ in range(replay.COMPILE_AT + 1):
        with xf.GradientTape() as tape:
            y = x * x
            xf.print("y:", y)
        assert float(tape.gradient(y, x)) == 4.0
    assert _compiled_count() == 0
    assert capsys.readouterr().err.count("y: 4") == replay.COMPILE_AT + 1  # tf.print: stderr


def test_keys_of_equal_and_different_traces():
    def closed(fn, *args):
        return jax.make_jaxpr(fn)(*args)

    a = jnp.ones(3)
    same = [key.structure_key(closed(lambda v: jax.nn.relu(v * 2.0).sum(), a))
            for _ in range(2)]
    assert same[0] is not None and same[0] == same[1] and hash(same[0]) == hash(same[1])
    assert key.structure_key(closed(lambda v: (v * 3.0).sum(), a)) != \
        key.structure_key(closed(lambda v: (v * 2.0).sum(), a))
    assert key.structure_key(closed(lambda v: v.sum(), a)) != \
        key.structure_key(closed(lambda v: v.sum(), a.astype(jnp.int32)))
    # True and 1 are equal Python values, not equal parameters
    assert key._value(True) != key._value(1) and key._value(0.0) != key._value(-0.0)
    big = jnp.arange(1000.0)
    assert key.structure_key(closed(lambda v: v + 1, big)) is not None  # an argument
    with pytest.raises(key.Unkeyable):
        key._array(np.arange(1000.0))  # a large constant inside a jaxpr is not compared
    with pytest.raises(key.Unkeyable):
        key._value(lambda: 0)
