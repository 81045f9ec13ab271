"""Eager `with xf.GradientTape() as tape:` blocks: converted and recorded when entered.

Oracles: jax.grad of the same computation written with jax.numpy, and closed forms.
"""

import linecache
import sys
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras


def run_cell(source, namespace, name):
    """Run `source` as a notebook cell runs: module-level code whose source linecache holds."""
    filename = f"<cell-{name}>"
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - a cell's code
    return namespace


def test_a_cell_records_its_tape_and_its_names_are_concrete_afterwards():
    v = xf.Variable(3.0)
    calls = []
    ns = run_cell(
        "with xf.GradientTape(persistent=True) as tape:\n"
        "    y = v * v\n"
        "    calls.append(1)\n"
        "    if y > 5:\n"
        "        z = y * 2\n"
        "    else:\n"
        "        z = y\n"
        "dy = tape.gradient(y, v)\n"
        "dz = tape.gradient(z, v)\n", {"xf": xf, "v": v, "calls": calls}, "cell")
    assert calls == [1]  # the body ran once (converted), not again as plain Python
    assert float(ns["y"]) == 9.0 and float(ns["z"]) == 18.0
    assert isinstance(ns["y"], jax.Array) and not isinstance(ns["y"], jax.core.Tracer)
    assert float(ns["dy"]) == 6.0 and float(ns["dz"]) == 12.0  # d(2v^2)/dv = 4v
    assert ns["tape"] is not None and ns["tape"].watched_variables() == (v,)


def test_a_function_gets_the_names_its_block_binds_and_rebinds():
    w = xf.Variable([[1.0], [2.0]])

    def step(x):
        out = None
        with xf.GradientTape() as tape:
            tape.watch(x)
            h = x @ w
            out = jnp.sum(jnp.tanh(h))
        grads = tape.gradient(out, [w, x])
        return out, grads, x

    x0 = jnp.array([[0.5, -1.0]])
    out, (gw, gx), x = step(x0)
    assert x is x0  # watching does not rebind the caller's name

    def loss(w_, x_):
        return jnp.sum(jnp.tanh(x_ @ w_))
    np.testing.assert_allclose(out, loss(w.numpy(), x0), rtol=1e-6)
    ow, ox = jax.grad(loss, argnums=(0, 1))(jnp.asarray(w.numpy()), x0)
    np.testing.assert_allclose(gw, ow, rtol=1e-6)
    np.testing.assert_allclose(gx, ox, rtol=1e-6)


def test_a_closure_variable_the_block_assigns_is_written_to_its_cell():
    v = xf.Variable(2.0)

    def outer():
        k = None

        def inner():
            nonlocal k
            with xf.GradientTape() as tape:
                k = v * 3.0
                y = k * k
            return tape.gradient(y, v)
        return inner(), k

    grad, k = outer()
    assert float(grad) == pytest.approx(18 * 2.0)  # d(9v^2)/dv
    assert float(k) == 6.0


def test_second_derivatives_and_a_jacobian_eagerly():
    x = xf.constant(3.0)
    with xf.GradientTape() as outer:
        outer.watch(x)
        with xf.GradientTape() as inner:
            inner.watch(x)
            y = x * x * x
        dy = inner.gradient(y, x)
    d2y = outer.gradient(dy, x)
    assert float(dy) == 27.0 and float(d2y) == 18.0  # 3x^2, 6x

    a = xf.constant([1.0, 2.0, 3.0])
    with xf.GradientTape() as tape:
        tape.watch(a)
        b = a * a
    np.testing.assert_allclose(tape.jacobian(b, a), np.diag([2.0, 4.0, 6.0]))


def test_an_eager_keras_training_loop_matches_jax_grad():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)])
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = x.sum(1, keepdims=True)
    model(x)
    opt = keras.optimizers.SGD(0.1)
    mse = keras.losses.MeanSquaredError()

    def plain_loss(params):
        w1, b1, w2, b2 = params
        pred = jnp.tanh(x @ w1 + b1) @ w2 + b2
        return jnp.mean((y - pred) ** 2)

    params = [jnp.asarray(v.numpy()) for v in model.trainable_variables]
    for _ in range(3):
        with xf.GradientTape() as tape:
            pred = model(x, training=True)
            loss = mse(y, pred)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        expected_loss, expected = jax.value_and_grad(plain_loss)(params)
        params = [p - 0.1 * g for p, g in zip(params, expected)]
        np.testing.assert_allclose(float(loss), expected_loss, rtol=1e-5)
    for var, p in zip(model.trainable_variables, params):
        np.testing.assert_allclose(var.numpy(), p, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("source, why", [
    ("with xf.GradientTape() as t: y = v * v\n", "the block's body starts on the `with` line"),
    ("for i in range(2):\n    with xf.GradientTape() as t:\n        y = v * v\n"
     "        continue\n", r"the block has a `continue` for a loop around it \(line 4\)"),
])
def test_blocks_that_cannot_be_converted_are_refused_before_they_run(source, why):
    v = xf.Variable(1.0)
    with pytest.raises(RuntimeError, match=f"(?s)cannot be converted: {why}.*@xf.function"):
        run_cell(source, {"xf": xf, "v": v}, "refused")
    ns = {"xf": xf, "v": v}
    with pytest.raises(RuntimeError, match="its source cannot be read"):
        exec("with xf.GradientTape() as t:\n    y = v * v\n", ns)  # noqa: S102
    assert "y" not in ns


def test_function_blocks_that_cannot_be_converted_say_why():
    v = xf.Variable(1.0)

    def returns():
        with xf.GradientTape():
            return v * v

    def deletes():
        a = v * 1.0
        with xf.GradientTape():
            b = a * 2.0
            del a
        return b

    def entered_by_hand():
        tape = xf.GradientTape()
        tape.__enter__()

    with pytest.raises(RuntimeError, match=r"has a `return` \(line \d+\)"):
        returns()
    with pytest.raises(RuntimeError, match=r"deletes a local name"):
        deletes()
    with pytest.raises(RuntimeError, match=r"entered by a call to __enter__\(\)"):
        entered_by_hand()


def test_values_read_inside_the_block_say_they_are_traced():
    v = xf.Variable(2.0)
    with pytest.raises(AttributeError, match="Tracer has no attribute numpy") as info, \
            xf.GradientTape():
        y = v * v
        y.numpy()
    assert any("read them (.numpy(), float()) after the block" in n
               for n in info.value.__notes__)


def test_a_debuggers_trace_function_survives_and_sees_the_lines_after_the_block():
    v = xf.Variable(2.0)
    seen = []

    def tracer(frame, event, arg):
        if frame.f_code.co_name == "traced":
            seen.append((event, frame.f_lineno - frame.f_code.co_firstlineno))
            return tracer
        return None

    def traced():
        with xf.GradientTape() as tape:
            y = v * v
        grad = tape.gradient(y, v)
        return grad

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        grad = traced()
        still = sys.gettrace()
    finally:
        sys.settrace(previous)
    assert float(grad) == 4.0 and still is tracer
    lines = [line for event, line in seen if event == "line"]
    assert lines == [1, 3, 4]  # the with, then after the block: its body ran converted


def test_threads_record_their_own_blocks():
    v = xf.Variable(1.5)
    results = {}

    def work(k):
        for _ in range(3):
            with xf.GradientTape() as tape:
                y = v ** k
            results[k] = float(tape.gradient(y, v))

    threads = [threading.Thread(target=work, args=(k,)) for k in (2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[2] == pytest.approx(3.0) and results[3] == pytest.approx(3 * 1.5 ** 2)


def test_two_tapes_of_one_statement_both_give_gradients_after_the_block():
    v, w = xf.Variable(2.0), xf.Variable(5.0)
    with xf.GradientTape() as t1, xf.GradientTape() as t2:
        a = v * 3.0
        b = a * w
    assert float(t1.gradient(a, v)) == 3.0
    assert float(t2.gradient(b, w)) == 6.0


def test_a_variable_made_from_the_blocks_traced_values_is_refused_clearly():
    x = xf.constant(3.0)
    with pytest.raises(ValueError, match=r"initial value is computed from traced values of "
                                         r"a recorded block.*w = xf.Variable\(x \* 2\)"), \
            xf.GradientTape() as tape:
        tape.watch(x)
        w = xf.Variable(x * 2)
        tape.watched = w * x

    @xf.function
    def compiled(x):
        with xf.GradientTape() as tape:
            tape.watch(x)
            w = xf.Variable(x * 2)
            y = w * x
        return tape.gradient(y, x)

    with pytest.raises(ValueError, match=r"xf.function 'compiled': xf.Variable's initial "
                                         r"value depends on the values of the function's"):
        compiled(x)
