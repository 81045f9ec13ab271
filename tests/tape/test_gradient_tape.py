"""xf.GradientTape inside xf.function: the TF custom training loop, compiled end to end."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models

RNG = np.random.default_rng(5)
X = RNG.normal(size=(64, 6)).astype(np.float32)
Y = (X[:, :3].sum(-1) > 0).astype(np.int32)


def test_custom_training_loop_matches_jax_optax():
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)),
                               layers.Dense(2)])
    loss_fn = xf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = xf.keras.optimizers.Adam(1e-2)
    start = [jnp.asarray(w) for w in model.get_weights()]

    @xf.function
    def train_step(x, y):
        with xf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = loss_fn(y, logits)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    for i in range(0, 64, 16):
        train_step(X[i:i + 16], Y[i:i + 16])
    assert train_step.tracing_count == 1

    def hand_loss(p, x, y):
        logits = jax.nn.relu(x @ p[0] + p[1]) @ p[2] + p[3]
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))

    # Keras' Adam written out (optax.adam differs: it adds epsilon to the bias-corrected
    # sqrt(v_hat)): lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t); w -= lr_t m / (sqrt(v) + eps)
    params = start
    moments = [(jnp.zeros_like(p), jnp.zeros_like(p)) for p in params]
    for t, i in enumerate(range(0, 64, 16), 1):
        grads = jax.grad(hand_loss)(params, X[i:i + 16], Y[i:i + 16])
        lr_t = 1e-2 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        moments = [(0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g)
                   for (m, v), g in zip(moments, grads)]
        params = [p - lr_t * m / (jnp.sqrt(v) + 1e-7) for p, (m, v) in zip(params, moments)]
    for got, want in zip(model.get_weights(), params):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    cf = train_step.get_concrete_function(X[:16], Y[:16])
    # One XLA computation holds the forward pass, the backward pass and the update: its
    # outputs include every weight and the optimizer's moments.
    text = cf.as_text()
    assert text.count("func.func public @main") == 1
    assert len(cf.assigned_variables) >= 4 + 9
    assert {v.name for v in cf.assigned_variables} >= {w.name for w in model.weights}


def test_persistent_tape_watch_and_analytic_derivatives():
    @xf.function
    def f(x):
        with xf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = x ** 3
            z = jnp.sin(x)
        return tape.gradient(y, x), tape.gradient(z, x)

    dy, dz = f(jnp.float32(2.0))
    np.testing.assert_allclose(dy, 12.0, rtol=1e-6)
    np.testing.assert_allclose(dz, np.cos(2.0), rtol=1e-6)


def test_non_persistent_tape_allows_one_gradient_call():
    @xf.function
    def f(x):
        with xf.GradientTape() as tape:
            tape.watch(x)
            y = x * x
        tape.gradient(y, x)
        return tape.gradient(y, x)

    with pytest.raises(RuntimeError, match="non-persistent GradientTape computes one set"):
        f(jnp.float32(1.0))


def test_nested_tapes_give_second_derivatives():
    @xf.function
    def f(x):
        with xf.GradientTape() as outer:
            outer.watch(x)
            with xf.GradientTape() as inner:
                inner.watch(x)
                y = x ** 4
            dy = inner.gradient(y, x)
        return dy, outer.gradient(dy, x)

    dy, d2y = f(jnp.float32(1.5))
    np.testing.assert_allclose(dy, 4 * 1.5 ** 3, rtol=1e-5)
    np.testing.assert_allclose(d2y, 12 * 1.5 ** 2, rtol=1e-5)


def test_unconnected_sources_and_structures():
    a, b = xf.Variable(2.0, name="a"), xf.Variable(3.0, name="b")

    @xf.function
    def f():
        with xf.GradientTape(persistent=True) as tape:
            y = a * a
        return (tape.gradient(y, {"a": a, "b": b}),
                tape.gradient(y, [a, b], unconnected_gradients="zero"))

    as_dict, as_list = f()
    assert float(as_dict["a"]) == 4.0 and as_dict["b"] is None
    assert float(as_list[1]) == 0.0


def test_read_but_unconnected_variable_gets_none():
    a, b = xf.Variable(2.0, name="a"), xf.Variable(3.0, name="b")

    @xf.function
    def f():
        with xf.GradientTape(persistent=True) as tape:
            first = a * a
            second = b * 2.0  # b is read in the block, but `first` does not depend on it
        return tape.gradient(first, [a, b]), tape.gradient(second, [a, b])

    (ga, gb), (ha, hb) = f()
    assert float(ga) == 4.0 and gb is None and ha is None and float(hb) == 2.0


def test_stop_recording_and_jacobian():
    w = xf.Variable(jnp.array([1.0, 2.0, 3.0]))

    @xf.function
    def f(x):
        with xf.GradientTape(persistent=True) as tape:
            y = w * x
            with tape.stop_recording():
                frozen = w * 10.0
            z = y + frozen
        return tape.gradient(z, w), tape.jacobian(y, w)

    grad, jac = f(jnp.float32(2.0))
    np.testing.assert_allclose(grad, [2.0, 2.0, 2.0])  # `frozen` contributes nothing
    expect = jax.jacfwd(lambda v: v * 2.0)(jnp.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(jac, expect)


def test_assignments_inside_the_block_persist():
    model = models.Sequential([layers.Dense(3, input_shape=(6,)), layers.BatchNormalization()])
    bn = model.layers[1]

    @xf.function
    def step(x):
        with xf.GradientTape() as tape:
            loss = jnp.mean(model(x, training=True) ** 2)
        return tape.gradient(loss, model.trainable_variables)

    grads = step(X)
    assert len(grads) == 4 and all(g is not None for g in grads)
    assert not np.allclose(bn.moving_mean.numpy(), 0.0)


def test_an_eager_tape_it_cannot_convert_gives_the_fix():
    namespace = {"xf": xf}
    with pytest.raises(RuntimeError, match=r"(?s)source cannot be read.*@xf.function\n    def "
                       r"train_step"):
        exec("with xf.GradientTape():\n    pass\n", namespace)  # noqa: S102 - no source


def test_a_tape_in_unconverted_code_inside_a_function_says_why():
    w = xf.Variable(2.0)
    namespace = {"xf": xf, "w": w}
    source = ("@xf.function\ndef from_string(x):\n    with xf.GradientTape() as tape:\n"
              "        y = w * x\n    return tape.gradient(y, w)\n")
    exec(source, namespace)  # noqa: S102 - a function with no source file is the case
    with pytest.raises(RuntimeError, match=r"block in 'from_string' \(<string>, line 3\) "
                       r"runs inside an xf.function, but AutoGraph did not convert "
                       r"'from_string': its source cannot be read .*exec\(\).*: define the "
                       r"step in a file"), \
            pytest.warns(UserWarning, match="cannot convert 'from_string'"):
        namespace["from_string"](np.float32(3.0))

    @xf.function(autograph=False)
    def opted_out(x):
        with xf.GradientTape() as tape:
            y = w * x
        return tape.gradient(y, w)

    with pytest.raises(RuntimeError, match=r"did not convert 'opted_out': it was opted out "
                       r"\(xf.function\(autograph=False\).*: let AutoGraph convert it"):
        opted_out(np.float32(3.0))
    assert float(w.numpy()) == 2.0


def test_run_functions_eagerly_still_records():
    w = xf.Variable(3.0)

    @xf.function
    def f(x):
        with xf.GradientTape() as tape:
            y = w * x
        return tape.gradient(y, w)

    xf.config.run_functions_eagerly(True)
    assert float(f(jnp.float32(2.0))) == 2.0 and f.tracing_count == 0


def test_none_gradients_are_skipped_with_a_warning():
    a, b = xf.Variable(1.0, name="a"), xf.Variable(1.0, name="b")
    opt = xf.keras.optimizers.SGD(0.1)
    with pytest.warns(UserWarning, match=r"gradients do not exist for variables \['b'\]"):
        opt.apply_gradients([(jnp.float32(1.0), a), (None, b)])
    assert float(a.numpy()) == pytest.approx(0.9) and float(b.numpy()) == 1.0


def test_model_train_step_override_under_fit():
    class Custom(models.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(8, activation="relu")
            self.out = layers.Dense(2, activation="softmax")
            self.steps = xf.Variable(0, trainable=False, name="steps")

        def call(self, x, training=None):
            return self.out(self.hidden(x))

        def train_step(self, data):
            x, y = data
            with xf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(y=y, y_pred=y_pred)
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            self.steps.assign_add(1)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    model = Custom()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(X, Y, epochs=3, batch_size=16, verbose=0)
    assert int(model.steps.numpy()) == 12
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert set(history.history) == {"loss", "accuracy"}


def test_metrics_persist_in_custom_loops():
    metric = xf.keras.metrics.SparseCategoricalAccuracy()

    @xf.function
    def evaluate(x, y):
        metric.update_state(y, jax.nn.one_hot(y, 2))

    evaluate(X[:10], Y[:10])
    evaluate(X[10:20], Y[10:20])
    assert float(metric.count.numpy()) == 20.0 and float(metric.result()) == 1.0


def test_batch_jacobian_matches_vmapped_jacfwd():
    w = jnp.asarray(RNG.normal(size=(3, 2)).astype(np.float32))

    @xf.function
    def f(x):
        with xf.GradientTape() as tape:
            tape.watch(x)
            y = jnp.tanh(x @ w)
        return tape.batch_jacobian(y, x)

    x = jnp.asarray(RNG.normal(size=(4, 3)).astype(np.float32))
    expect = jax.vmap(jax.jacfwd(lambda row: jnp.tanh(row @ w)))(x)
    np.testing.assert_allclose(f(x), expect, rtol=1e-5, atol=1e-6)


def test_watch_a_tensor_computed_inside_the_block():
    @xf.function
    def f(x):
        with xf.GradientTape(persistent=True) as tape:
            y = x * 3.0
            tape.watch(y)
            z = y ** 2 + jnp.sin(x)
        return tape.gradient(z, y), tape.gradient(z, x)

    dz_dy, dz_dx = f(jnp.float32(2.0))
    np.testing.assert_allclose(dz_dy, 2 * 6.0, rtol=1e-6)  # d(y^2)/dy at y = 6
    assert dz_dx is None  # x itself was not watched


def test_an_assert_inside_a_tape_inside_xf_function_checks_at_run_time():
    v = xf.Variable(2.0)

    @xf.function
    def f(x):
        with xf.GradientTape() as tape:
            y = v * x
            assert y > 0, "positive"
        return tape.gradient(y, v)

    assert float(f(jnp.float32(3.0))) == 3.0
    with pytest.raises(AssertionError, match="positive"):
        f(jnp.float32(-3.0))


def test_a_tensor_bounded_loop_in_the_block_is_named_when_reverse_mode_cannot_pass():
    @xf.function
    def doubling(x, n):
        with xf.GradientTape() as tape:
            tape.watch(x)
            y = x
            while y < 100.0:  # the line the error names
                y = y * 2.0
            for _ in range(n):
                y = y + 1.0
        return tape.gradient(y, x)

    line = doubling.python_function.__code__.co_firstlineno + 5
    with pytest.raises(ValueError, match=rf"trip count a tensor decides \(\S+test_gradient_tape"
                       rf".py:{line}, \S+:{line + 2}\).*for i in range\(N\)"):
        doubling(np.float32(3.0), np.int32(2))

    @xf.function
    def bounded(x):  # what the message suggests: a Python range and an `if`
        with xf.GradientTape() as tape:
            tape.watch(x)
            y = x
            for _ in range(20):
                if y < 100.0:
                    y = y * 2.0
        return tape.gradient(y, x)

    assert float(bounded(np.float32(3.0))) == 64.0  # 3 -> 192: six doublings
