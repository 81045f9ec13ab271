"""Regressions found in review: state carried through traced blocks inside tapes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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


def test_watching_a_variable_through_a_local_name():
    w = xf.Variable(2.0)

    @xf.function
    def f(x):
        v = w
        with xf.GradientTape() as tape:
            tape.watch(v)
            y = v * x
        g = tape.gradient(y, v)
        v.assign_sub(0.1 * g)
        return g

    assert float(f(jnp.float32(3.0))) == 3.0
    assert float(w.numpy()) == pytest.approx(1.7)


def test_watched_tensor_held_by_two_locals():
    @xf.function
    def f(x):
        h = x
        with xf.GradientTape() as tape:
            tape.watch(x)
            y = h * 3.0 + x
        return tape.gradient(y, x)

    assert float(f(jnp.float32(1.0))) == 4.0


def test_tape_inside_a_tensor_loop():
    w = xf.Variable(1.0)

    @xf.function
    def f(xs):
        for x in xs:
            with xf.GradientTape() as tape:
                loss = (w * x - 1.0) ** 2
            w.assign_sub(0.1 * tape.gradient(loss, w))
        return w.value

    xs = jnp.ones(5) * 2.0
    expect = 1.0
    for _ in range(5):
        expect -= 0.1 * 2 * (expect * 2.0 - 1.0) * 2.0
    np.testing.assert_allclose(f(xs), expect, rtol=1e-5)


def test_jacobian_zero_for_unconnected_sources_has_the_right_shape():
    w = xf.Variable(jnp.ones(3))
    b = xf.Variable(jnp.ones(2))

    @xf.function
    def f(x):
        with xf.GradientTape() as tape:
            y = w * x
        return tape.jacobian(y, [w, b], unconnected_gradients="zero")

    jw, jb = f(jnp.float32(2.0))
    assert jw.shape == (3, 3) and jb.shape == (3, 2) and float(jnp.abs(jb).sum()) == 0.0


def test_integer_sources_have_no_gradient_as_in_tf():
    w, k = xf.Variable(2.0), xf.Variable(3)

    @xf.function
    def grads(n):
        with xf.GradientTape(persistent=True) as tape:
            tape.watch(n)
            y = w * xf.cast(k, xf.float32) * xf.cast(n, xf.float32)
        return tape.gradient(y, [w, k, n]), tape.gradient(y, [k, n],
                                                        unconnected_gradients="zero")

    (dw, dk, dn), (zk, zn) = grads(jnp.int32(4))
    assert float(dw) == 12.0 and dk is None and dn is None
    assert zk.dtype == jnp.int32 and int(zk) == 0 and zn.dtype == jnp.int32


def test_gradients_with_respect_to_results_computed_in_the_block():
    # TF's autodiff guide: any tensor the tape saw computed can be a source.
    w = xf.Variable(jnp.array([1.0, 2.0]))

    @xf.function
    def grads(x):
        with xf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = x * x
            z = y * y
            h = w * x  # not watched: computed from a Variable
            score = jnp.sum(jnp.tanh(h))
        return (tape.gradient(z, y), tape.gradient(z, x), tape.gradient(y, y),
                tape.gradient(x, y), tape.gradient(score, h), tape.jacobian(z, y))

    x = jnp.array([3.0, -0.5])
    dz_dy, dz_dx, dy_dy, dx_dy, dscore_dh, jac = grads(x)
    np.testing.assert_allclose(dz_dy, 2 * x ** 2, rtol=1e-6)
    np.testing.assert_allclose(dz_dx, 4 * x ** 3, rtol=1e-6)
    np.testing.assert_allclose(dy_dy, np.ones(2))
    assert dx_dy is None  # x does not depend on y
    h = np.array([1.0, 2.0]) * np.asarray(x)
    np.testing.assert_allclose(dscore_dh, 1 - np.tanh(h) ** 2, rtol=1e-4)
    np.testing.assert_allclose(jac, np.diag(2 * np.asarray(x) ** 2), rtol=1e-6)


def test_an_assignment_in_the_block_is_not_differentiated_as_in_tf():
    w, u = xf.Variable(2.0), xf.Variable(1.0)

    @xf.function
    def grads(x):
        with xf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            first = w * 1.0          # read before the assignment: d/dw = 1
            w.assign(w * 3.0)        # not differentiated; w is 6 from here on
            loss = first + w * w     # d/dw = 1 + 2 * 6
            u.assign(x * 2.0)        # u = 2x, but the tape does not see through it
            other = u * u
        return tape.gradient(loss, w), tape.gradient(other, [x, u])

    dw, (dx, du) = grads(jnp.float32(2.0))
    assert float(dw) == 13.0
    assert dx is None and float(du) == 8.0
    assert float(w.numpy()) == 6.0 and float(u.numpy()) == 4.0


def test_watch_takes_a_dict_of_tensors_as_tf_does():
    @xf.function
    def grads(params):
        with xf.GradientTape() as tape:
            tape.watch(params)
            y = xf.reduce_sum(params["p"] * params["q"] ** 2)
        return tape.gradient(y, params)

    p, q = jnp.array([1.0, 2.0]), jnp.array([3.0, 4.0])
    got = grads({"p": p, "q": q})
    np.testing.assert_allclose(got["p"], q ** 2)
    np.testing.assert_allclose(got["q"], 2 * p * q)


def test_reset_or_gradient_inside_the_block_name_what_to_do_instead():
    w = xf.Variable(2.0)

    @xf.function
    def resets():
        with xf.GradientTape() as tape:
            loss = w * w
            tape.reset()
        return loss

    @xf.function
    def early():
        with xf.GradientTape(persistent=True) as tape:
            y = w * w
            grad = tape.gradient(y, w)
        return grad

    with pytest.raises(NotImplementedError, match=r"reset\(\) inside .* new tape"):
        resets()
    with pytest.raises(NotImplementedError, match=r"inside the tape's own `with` block .* "
                       r"call it after the block"):
        early()


def test_the_block_runs_once_so_its_python_side_effects_happen_once():
    w = xf.Variable(2.0)
    seen = []

    @xf.function
    def step(xs):
        outs = []  # made before the block, appended to inside it (an unrolled RNN)
        with xf.GradientTape() as tape:
            for t in range(3):
                outs.append(w * xs[t])
            seen.append("block")
            loss = sum(outs)
        return tape.gradient(loss, w), len(outs)

    grad, count = step(jnp.array([1.0, 2.0, 3.0]))
    assert float(grad) == 6.0 and int(count) == 3
    assert seen == ["block"]  # one trace, one run of the block's Python


def test_variables_first_read_in_a_nested_tape_or_a_tensor_branch_are_differentiated():
    v = xf.Variable(2.0)

    @xf.function
    def hessian():
        with xf.GradientTape() as outer:
            with xf.GradientTape() as inner:
                y = v ** 3
            g = inner.gradient(y, v)
        return g, outer.gradient(g, v)

    @xf.function
    def branch(c):
        with xf.GradientTape() as tape:
            if c > 0:
                y = v * v
            else:
                y = v * 3.0
        return tape.gradient(y, v)

    g, h = hessian()
    assert (float(g), float(h)) == (12.0, 12.0)  # 3v^2 and 6v at v = 2
    assert float(branch(jnp.float32(1.0))) == 4.0 and float(branch(jnp.float32(-1.0))) == 3.0


def test_gradient_penalty_of_a_critic_matches_jax():
    # WGAN-GP: the outer tape differentiates a penalty built from the inner tape's input
    # gradient with respect to the critic's weights.
    from xlaflow.keras import layers, models
    xf.random.set_global_seed(0)
    critic = models.Sequential([layers.Dense(4, activation="tanh", input_shape=(3,)),
                                layers.Dense(1)])
    x = jnp.asarray(np.random.default_rng(0).normal(size=(5, 3)), jnp.float32)

    @xf.function
    def penalty_grads(x):
        with xf.GradientTape() as outer:
            with xf.GradientTape() as inner:
                inner.watch(x)
                score = critic(x)
            slopes = jnp.sqrt(jnp.sum(inner.gradient(score, x) ** 2, axis=1))
            penalty = jnp.mean((slopes - 1.0) ** 2)
        return outer.gradient(penalty, critic.trainable_variables)

    def reference(weights, x):
        k1, b1, k2, b2 = weights

        def score(row):
            return (jnp.tanh(row @ k1 + b1) @ k2 + b2)[0]
        slopes = jnp.linalg.norm(jax.vmap(jax.grad(score))(x), axis=1)
        return jnp.mean((slopes - 1.0) ** 2)

    expected = jax.grad(reference)([w.value for w in critic.trainable_variables], x)
    *got, last_bias = penalty_grads(x)
    assert last_bias is None  # the input gradient does not depend on it (TF: None)
    np.testing.assert_allclose(expected[3], 0.0)
    for g, want in zip(got, expected):
        np.testing.assert_allclose(g, want, rtol=1e-4, atol=1e-6)


def test_watched_tensors_keep_their_identity_across_tapes_and_helpers():
    def watch_in_helper(tape, x):
        tape.watch(x)

    @xf.function
    def grads(x):
        sources = [x]
        with xf.GradientTape(persistent=True) as first:
            first.watch(x)
            y = x * x
        with xf.GradientTape() as second:
            second.watch(x)
            z = x * x * x
        with xf.GradientTape() as third:
            watch_in_helper(third, x)
            w = 5.0 * x
        return (first.gradient(y, x), second.gradient(z, x), first.gradient(y, sources),
                third.gradient(w, x))

    dy, dz, (dy_list,), dw = grads(jnp.float32(2.0))
    assert (float(dy), float(dz), float(dy_list), float(dw)) == (4.0, 12.0, 4.0, 5.0)


def test_an_infinite_variable_assigned_in_the_block_stays_finite_where_python_says():
    best = xf.Variable(np.float32(np.inf))

    @xf.function
    def step(x):
        with xf.GradientTape() as tape:
            best.assign(jnp.minimum(best, x))
            y = best * x
        return tape.gradient(y, best), best.read_value()

    grad, value = step(jnp.float32(3.0))
    assert float(grad) == 3.0 and float(value) == 3.0


def test_run_eagerly_a_variable_first_read_in_a_tensor_branch_is_differentiated():
    w = xf.Variable(2.0)

    @xf.function
    def grad(c):
        with xf.GradientTape() as tape:
            if c > 0:
                y = w * w
            else:
                y = w * 1.0
        return tape.gradient(y, w)

    xf.config.run_functions_eagerly(True)
    assert float(grad(jnp.float32(1.0))) == 4.0 and float(grad(jnp.float32(-1.0))) == 1.0


def test_an_integer_target_has_no_gradient_as_in_tf():
    w = xf.Variable(2.0)

    @xf.function
    def grad():
        with xf.GradientTape() as tape:
            y = xf.cast(w * 3.0, xf.int32)
        return tape.gradient(y, w)

    assert grad() is None
