"""xf.custom_gradient: TF's decorator, checked against hand-derived gradients and jax.grad."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models


@xf.custom_gradient
def log1pexp(x):
    # TF's documented example: the naive gradient of log(1 + e^x) is NaN for large x
    e = jnp.exp(x)

    def grad(upstream):
        return upstream * (1 - 1 / (1 + e))

    return jnp.log(1 + e), grad


@xf.custom_gradient
def clip_gradients(y):
    # TF's documented example: clip the gradient in the backward pass only
    def backward(dy):
        return jnp.clip(dy, -0.1, 0.1)

    return y, backward


def test_log1pexp_gradient_is_finite_where_the_naive_one_is_nan():
    naive = jax.grad(lambda x: jnp.log(1 + jnp.exp(x)))(jnp.float32(100.0))
    assert np.isnan(naive)
    assert float(jax.grad(log1pexp)(jnp.float32(100.0))) == 1.0
    # elsewhere it is the sigmoid, the derivative of softplus
    xs = jnp.linspace(-3.0, 3.0, 7, dtype=jnp.float32)
    np.testing.assert_allclose(jax.vmap(jax.grad(log1pexp))(xs), 1 / (1 + np.exp(-xs)),
                               rtol=1e-6)
    np.testing.assert_allclose(log1pexp(xs), np.log1p(np.exp(xs)), rtol=1e-6)


def test_under_a_tape_in_a_function_and_run_eagerly():
    @xf.function
    def grads(x):
        with xf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = log1pexp(x)
            z = 5.0 * clip_gradients(x)
        return tape.gradient(y, x), tape.gradient(z, x)

    try:
        for eagerly in (False, True):
            xf.config.run_functions_eagerly(eagerly)
            dy, dz = grads(jnp.float32(100.0))
            assert float(dy) == 1.0 and float(dz) == pytest.approx(0.1)
    finally:
        xf.config.run_functions_eagerly(False)


def test_a_function_without_a_tape_and_jit_of_grad():
    @xf.function
    def forward(x):
        return log1pexp(x)

    np.testing.assert_allclose(forward(jnp.float32(1.0)), np.log1p(np.e), rtol=1e-6)
    assert float(jax.jit(jax.grad(lambda x: 5.0 * clip_gradients(x)))(1.0)) == \
        pytest.approx(0.1)


def test_variables_get_grad_fns_variable_gradients():
    w = xf.Variable(3.0, name="w")
    frozen = xf.Variable(7.0, trainable=False, name="frozen")
    seen = []

    @xf.custom_gradient
    def scaled(x):
        def grad(dy, variables=None):
            seen.append([v.name for v in variables])
            # deliberately not the true gradients: the tape must use these
            return dy * 10.0, [dy * 100.0 * x]
        return x * w * frozen, grad

    @xf.function
    def step(x):
        with xf.GradientTape() as tape:
            tape.watch(x)
            y = scaled(x) * 2.0
        return tape.gradient(y, [x, w, frozen])

    dx, dw, dfrozen = step(jnp.float32(2.0))
    assert float(dx) == 20.0 and float(dw) == 400.0 and dfrozen is None
    assert seen[-1] == ["w"]  # the trainable Variables it read; not the frozen one
    # the same through xf.value_and_grad (jax.value_and_grad underneath)
    value, g = xf.value_and_grad(lambda x: scaled(x), wrt=w)(jnp.float32(2.0))
    assert float(value) == 42.0 and float(g) == 200.0


def test_a_variable_argument_gets_the_input_gradient():
    v = xf.Variable([1.0, 2.0])

    @xf.custom_gradient
    def double(x):
        return 2.0 * x, lambda dy: 3.0 * dy  # deliberately 3, not 2

    @xf.function
    def step():
        with xf.GradientTape() as tape:
            y = jnp.sum(double(v))
        return tape.gradient(y, v)

    np.testing.assert_allclose(step(), [3.0, 3.0])


def test_grad_fn_without_variables_keyword_is_a_type_error():
    w = xf.Variable(1.0)

    @xf.custom_gradient
    def f(x):
        return x * w, lambda dy: dy

    with pytest.raises(TypeError, match="grad_fn must accept keyword argument 'variables'"):
        f(jnp.float32(1.0))


def test_several_inputs_and_outputs_and_python_numbers():
    @xf.custom_gradient
    def f(x, y, scale):
        def grad(da, db):  # one upstream per output, as TF
            # hand-derived: a = x*y*scale, b = sin(x)
            return da * y * scale + db * jnp.cos(x), da * x * scale, None
        return (x * y * scale, jnp.sin(x)), grad

    def loss(x, y):
        a, b = f(x, y, 3.0)
        return a + 2.0 * b

    def plain(x, y):
        return x * y * 3.0 + 2.0 * jnp.sin(x)

    args = (jnp.float32(0.5), jnp.float32(-1.5))
    np.testing.assert_allclose(jax.grad(loss, argnums=(0, 1))(*args),
                               jax.grad(plain, argnums=(0, 1))(*args), rtol=1e-6)


def test_keyword_arguments_are_not_differentiated():
    @xf.custom_gradient
    def f(x, offset=None):
        return x + offset, lambda dy: dy

    gx, goff = jax.grad(lambda x, o: f(x, offset=o), argnums=(0, 1))(
        jnp.float32(1.0), jnp.float32(2.0))
    assert float(gx) == 1.0 and float(goff) == 0.0


def test_a_closed_over_tensor_gets_no_gradient_through_it():
    def outer(c, x):
        @xf.custom_gradient
        def f(x):
            return x * c, lambda dy: dy * c
        return f(x)

    gc, gx = jax.grad(outer, argnums=(0, 1))(jnp.float32(2.0), jnp.float32(5.0))
    assert float(gx) == 2.0 and float(gc) == 0.0  # TF: captured tensors are not inputs


def test_wrong_number_and_shape_of_gradients_raise_when_differentiated():
    @xf.custom_gradient
    def two_grads(x):
        return x * 2.0, lambda dy: (dy, dy)

    @xf.custom_gradient
    def bad_shape(x):
        return jnp.sum(x), lambda dy: jnp.ones((3,))

    w = xf.Variable(1.0, name="w")

    @xf.custom_gradient
    def no_var_grad(x):
        return x * w, lambda dy, variables=None: (dy, [])

    assert float(two_grads(jnp.float32(1.0))) == 2.0  # the forward alone is fine, as TF
    with pytest.raises(ValueError, match=r"one gradient per argument \(1 expected.*"
                                         r"received 2"):
        jax.grad(two_grads)(jnp.float32(1.0))
    with pytest.raises(ValueError, match=r"gradient of shape \(3,\) for argument 0, whose "
                                         r"shape is \(2,\)"):
        jax.grad(bad_shape)(jnp.ones((2,), jnp.float32))
    with pytest.raises(ValueError, match=r"a gradient for each variable: 1 expected "
                                         r"\(\['w'\]\), received 0"):
        jax.grad(no_var_grad)(jnp.float32(1.0))
    with pytest.raises(TypeError, match=r"must return \(result, grad_fn\)"):
        xf.custom_gradient(lambda x: x)(jnp.float32(1.0))


def test_a_grad_fn_may_refuse_at_gradient_time():
    @xf.custom_gradient
    def forward_only(x):
        def grad(dy):
            raise NotImplementedError("no gradient for forward_only")
        return x * 2.0, grad

    assert float(forward_only(jnp.float32(2.0))) == 4.0
    with pytest.raises(NotImplementedError, match="no gradient for forward_only"):
        jax.grad(forward_only)(jnp.float32(2.0))


class _StraightThroughDense(layers.Layer):
    """A Dense layer whose backward pass is written out by hand (grad_fn with variables)."""

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", shape=(input_shape[-1], 2))

    def call(self, x):
        @xf.custom_gradient
        def matmul(x):
            y = x @ self.kernel

            def grad(dy, variables=None):
                return dy @ self.kernel.value.T, [x.T @ dy]

            return y, grad

        return matmul(x)


def test_in_a_keras_layer_under_fit_matches_plain_dense_training():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    y = rng.normal(size=(32, 2)).astype(np.float32)
    model = models.Sequential([_StraightThroughDense(input_shape=(3,))])
    model.compile(optimizer=xf.keras.optimizers.SGD(0.1), loss="mse")
    kernel = np.asarray(model.get_weights()[0])
    model.fit(x, y, batch_size=32, epochs=3, verbose=0, shuffle=False)
    for _ in range(3):  # oracle: the mse gradient written with jax.grad
        kernel = kernel - 0.1 * jax.grad(lambda k: jnp.mean((x @ k - y) ** 2))(kernel)
    np.testing.assert_allclose(model.get_weights()[0], kernel, rtol=1e-5, atol=1e-6)


def test_jacobian_through_a_custom_gradient():
    @xf.custom_gradient
    def square(x):
        return x * x, lambda dy: 2.0 * x * dy

    @xf.function
    def jac(x):
        with xf.GradientTape() as tape:
            tape.watch(x)
            y = square(x)
        return tape.jacobian(y, x)

    x = jnp.asarray([1.0, 2.0, 3.0], jnp.float32)
    np.testing.assert_allclose(jac(x), np.diag(2 * np.asarray(x)))


def test_assignments_inside_persist_once():
    counter = xf.Variable(0.0, trainable=False)

    @xf.custom_gradient
    def counted(x):
        counter.assign_add(1.0)
        return x * 2.0, lambda dy: dy * 2.0

    @xf.function
    def step(x):
        with xf.GradientTape() as tape:
            tape.watch(x)
            y = counted(x)
        return tape.gradient(y, x)

    assert float(step(jnp.float32(1.0))) == 2.0
    assert float(counter.numpy()) == 1.0


def test_higher_order_differentiates_grad_fn():
    @xf.custom_gradient
    def cube(x):
        return x ** 3, lambda dy: 3.0 * x ** 2 * dy

    @xf.function
    def second(x):
        with xf.GradientTape() as outer:
            outer.watch(x)
            with xf.GradientTape() as inner:
                inner.watch(x)
                y = cube(x)
            g = inner.gradient(y, x)
        return g, outer.gradient(g, x)

    g, h = second(jnp.float32(2.0))
    assert float(g) == 12.0 and float(h) == 12.0  # 3x^2 and 6x at 2
    assert float(jax.grad(jax.grad(cube))(jnp.float32(2.0))) == 12.0


def test_a_layer_built_inside_the_function_on_the_first_trace():
    dense = layers.Dense(2)

    @xf.custom_gradient
    def f(x):
        def grad(dy, variables=None):
            return dy @ dense.kernel.value.T, [jnp.full(v.shape, 7.0) for v in variables]
        return dense(x), grad

    @xf.function
    def step(x):
        with xf.GradientTape() as tape:
            y = jnp.sum(f(x))
        return tape.gradient(y, dense.trainable_variables)

    kernel_grad, bias_grad = step(np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(kernel_grad, np.full((3, 2), 7.0))
    np.testing.assert_array_equal(bias_grad, np.full((2,), 7.0))
