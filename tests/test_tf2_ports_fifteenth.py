"""The fifteenth round of whole TF2 programs (see test_tf2_ports.py): TF's "Introduction to
gradients and automatic differentiation" and "Advanced automatic differentiation" guides
with their tapes run eagerly, as the guides run them (test_tf2_ports_eighth.py has the
earlier port, each tape inside a tf.function); the training-loop guides run eagerly are in
test_tf2_ports_fifteenth_b.py.

Each asserts an outcome known without xlaflow: the guides' printed values (closed forms),
and jax.grad / jax.jacobian / jax.hessian of the same computation written with jax.numpy.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _dense(layer, activation):
    """A built Dense layer as a function of its input, in jax.numpy (the oracles')."""
    kernel, bias = (jnp.asarray(v.numpy()) for v in (layer.kernel, layer.bias))
    return lambda x: activation(x @ kernel + bias)


def test_autodiff_guide_gradient_tapes_models_and_what_the_tape_watches():
    # Computing gradients
    x = tf.Variable(3.0)
    with tf.GradientTape() as tape:
        y = x**2
    # dy = 2x * dx
    dy_dx = tape.gradient(y, x)
    assert dy_dx.numpy() == 6.0

    w = tf.Variable(tf.random.normal((3, 2)), name="w")
    b = tf.Variable(tf.zeros(2, dtype=tf.float32), name="b")
    x = [[1., 2., 3.]]
    with tf.GradientTape(persistent=True) as tape:
        y = x @ w + b
        loss = tf.reduce_mean(y**2)
    [dl_dw, dl_db] = tape.gradient(loss, [w, b])
    print(w.shape)
    print(dl_dw.shape)
    assert dl_dw.shape == w.shape
    my_vars = {"w": w, "b": b}
    grad = tape.gradient(loss, my_vars)
    y_np = np.array(x) @ w.numpy() + b.numpy()  # d mean(y^2)/dy = 2y/2 = y
    np.testing.assert_allclose(dl_dw, np.array(x).T @ y_np, rtol=1e-5)
    np.testing.assert_allclose(dl_db, y_np[0], rtol=1e-5)
    np.testing.assert_allclose(grad["w"], dl_dw)
    np.testing.assert_allclose(grad["b"], dl_db)

    # Gradients with respect to a model
    layer = tf.keras.layers.Dense(2, activation="relu")
    x = tf.constant([[1., 2., 3.]])
    with tf.GradientTape() as tape:
        # Forward pass
        y = layer(x)
        loss = tf.reduce_mean(y**2)
    # Calculate gradients with respect to every trainable variable
    grad = tape.gradient(loss, layer.trainable_variables)
    shapes = []
    for var, g in zip(layer.trainable_variables, grad):
        print(f"{var.name}, shape: {g.shape}")
        shapes.append(g.shape)
    assert shapes == [(3, 2), (2,)]
    kernel, bias = layer.kernel.numpy(), layer.bias.numpy()
    # (the oracles are jitted: one compiled program each, not one per primitive)
    expected = jax.jit(jax.grad(lambda k, b_: jnp.mean(jax.nn.relu(x @ k + b_) ** 2),
                                argnums=(0, 1)))(kernel, bias)
    for got, want in zip(grad, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)

    # Controlling what the tape watches
    # A trainable variable
    x0 = tf.Variable(3.0, name="x0")
    # Not trainable
    x1 = tf.Variable(3.0, name="x1", trainable=False)
    # Not a Variable: A variable + tensor returns a tensor.
    x2 = tf.Variable(2.0, name="x2") + 1.0
    # Not a variable
    x3 = tf.constant(3.0, name="x3")
    with tf.GradientTape() as tape:
        y = (x0**2) + (x1**2) + (x2**2)
    grad = tape.gradient(y, [x0, x1, x2, x3])
    for g in grad:
        print(g)
    assert grad[0].numpy() == 6.0 and grad[1:] == [None, None, None]
    # TF prints ['x0:0']: xlaflow's names have no output index
    assert [var.name for var in tape.watched_variables()] == ["x0"]

    x = tf.constant(3.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x**2
    # dy = 2x * dx
    dy_dx = tape.gradient(y, x)
    assert dy_dx.numpy() == 6.0

    x0 = tf.Variable(0.0)
    x1 = tf.Variable(10.0)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x1)
        y0 = tf.math.sin(x0)
        y1 = tf.nn.softplus(x1)
        y = y0 + y1
        ys = tf.reduce_sum(y)
    # dys/dx1 = exp(x1) / (1 + exp(x1)) = sigmoid(x1)
    grad = tape.gradient(ys, {"x0": x0, "x1": x1})
    print("dy/dx0:", grad["x0"])
    print("dy/dx1:", grad["x1"].numpy())
    assert grad["x0"] is None
    assert grad["x1"].numpy() == pytest.approx(_sigmoid(10.0))


def test_autodiff_guide_intermediate_results_non_scalar_targets_and_control_flow():
    # Intermediate results
    x = tf.constant(3.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
        z = y * y
    # Use the tape to compute the gradient of z with respect to the
    # intermediate value y.
    # dz_dy = 2 * y and y = x ** 2 = 9
    assert tape.gradient(z, y).numpy() == 18.0

    x = tf.constant([1, 3.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = y * y
    np.testing.assert_array_equal(tape.gradient(z, x).numpy(), [4.0, 108.0])  # 4 * x**3
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [2.0, 6.0])  # 2 * x
    del tape   # Drop the reference to the tape

    # Gradients of non-scalar targets
    x = tf.Variable(2.0)
    with tf.GradientTape(persistent=True) as tape:
        y0 = x**2
        y1 = 1 / x
    assert tape.gradient(y0, x).numpy() == 4.0
    assert tape.gradient(y1, x).numpy() == -0.25

    x = tf.Variable(2.0)
    with tf.GradientTape() as tape:
        y0 = x**2
        y1 = 1 / x
    assert tape.gradient({"y0": y0, "y1": y1}, x).numpy() == 3.75

    x = tf.Variable(2.)
    with tf.GradientTape() as tape:
        y = x * [3., 4.]
    assert tape.gradient(y, x).numpy() == 7.0

    x = tf.linspace(-10.0, 10.0, 200 + 1)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.nn.sigmoid(x)
    dy_dx = tape.gradient(y, x)
    s = _sigmoid(np.asarray(x))
    np.testing.assert_allclose(y, s, rtol=1e-5)  # the guide plots these two
    np.testing.assert_allclose(dy_dx, s * (1 - s), rtol=1e-5, atol=1e-7)

    # Control flow
    x = tf.constant(1.0)
    v0 = tf.Variable(2.0)
    v1 = tf.Variable(2.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        if x > 0.0:
            result = v0
        else:
            result = v1**2
    dv0, dv1 = tape.gradient(result, [v0, v1])
    print(dv0)
    print(dv1)
    assert dv0.numpy() == 1.0
    # TF's eager tape prints None for dv1: the untaken branch never ran. Here the watched x
    # is traced in the block, so the `if` became a lax.cond and the untaken branch gives 0.
    assert dv1.numpy() == 0.0
    dx = tape.gradient(result, x)
    assert dx is None  # x only decides the branch


def test_autodiff_guide_getting_a_gradient_of_none(capsys):
    x = tf.Variable(2.)
    y = tf.Variable(3.)
    with tf.GradientTape() as tape:
        z = y * y
    dy_dx = tape.gradient(z, x)
    assert dy_dx is None

    # 1. Replaced a variable with a tensor
    x = tf.Variable(2.0)
    for epoch in range(2):
        with tf.GradientTape() as tape:
            y = x + 1
        print(type(x).__name__, ":", tape.gradient(y, x))
        x = x + 1   # This should be `x.assign_add(1)`
    # TF prints "ResourceVariable : tf.Tensor(1.0, ...)" then "EagerTensor : None"
    assert capsys.readouterr().out.splitlines() == ["Variable : 1.0", "ArrayImpl : None"]

    # 2. Did calculations outside of TensorFlow
    x = tf.Variable([[1.0, 2.0],
                     [3.0, 4.0]], dtype=tf.float32)
    with tf.GradientTape() as tape:
        x2 = x**2
        # This step is calculated with NumPy
        y = np.mean(x2, axis=0)
        # Like most ops, reduce_mean will cast the NumPy array to a constant tensor
        # using `tf.convert_to_tensor`.
        y = tf.reduce_mean(y, axis=0)
    # TF prints None. Here x2 is a traced jax.Array, and np.mean hands it to x2.mean():
    # jax.numpy computes it, so the gradient flows (a NumPy ufunc such as np.sin would
    # raise instead). d mean(x^2)/dx = 2x / 4.
    np.testing.assert_array_equal(tape.gradient(y, x), [[0.5, 1.0], [1.5, 2.0]])

    # 3. Took gradients through an integer or string
    x = tf.constant(10)
    with tf.GradientTape() as g:
        g.watch(x)
        y = x * x
    assert g.gradient(y, x) is None

    # 4. Took gradients through a stateful object
    x0 = tf.Variable(3.0)
    x1 = tf.Variable(0.0)
    with tf.GradientTape() as tape:
        # Update x1 = x1 + x0.
        x1.assign_add(x0)
        # The tape starts recording from x1.
        y = x1**2   # y = (x1 + x0)**2
    # This doesn't work.
    assert tape.gradient(y, x0) is None   # dy/dx0 = 2*(x1 + x0)
    assert x1.numpy() == 3.0  # the assignment happened, once

    # No gradient registered
    image = tf.Variable([[[0.5, 0.0, 0.0]]])
    delta = tf.Variable(0.1)
    with tf.GradientTape() as tape:
        new_image = tf.image.adjust_contrast(image, delta)
    # TF raises LookupError (no gradient for AdjustContrastv2); every jax.numpy op has one.
    # A 1x1 image is its own mean: new_image = (image - mean) * delta + mean = image.
    d_image, d_delta = tape.gradient(new_image, [image, delta])
    np.testing.assert_array_equal(new_image, image.numpy())
    np.testing.assert_array_equal(d_image, np.ones((1, 1, 3)))
    assert d_delta.numpy() == 0.0

    # Zeros instead of None
    x = tf.Variable([2., 2.])
    y = tf.Variable(3.)
    with tf.GradientTape() as tape:
        z = y**2
    zeros = tape.gradient(z, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    np.testing.assert_array_equal(zeros, [0.0, 0.0])


def test_advanced_autodiff_stop_recording_stop_gradient_custom_gradients_and_two_tapes():
    # Controlling gradient recording
    x = tf.Variable(2.0)
    y = tf.Variable(3.0)
    with tf.GradientTape() as t:
        x_sq = x * x
        with t.stop_recording():
            y_sq = y * y
        z = x_sq + y_sq
    grad = t.gradient(z, {"x": x, "y": y})
    print("dz/dx:", grad["x"])  # 2*x => 4
    print("dz/dy:", grad["y"])
    assert grad["x"].numpy() == 4.0 and grad["y"] is None
    assert z.numpy() == 13.0  # the unrecorded part still computed its value

    # Reset gradient recording. The guide calls t.reset() inside the block (an `if reset:`
    # there) to forget what was recorded so far; xlaflow records the whole block at once
    # and refuses reset() inside it, naming this form: end the block there, and record
    # the rest with a new tape.
    reset = True
    with tf.GradientTape() as t:
        y_sq = y * y
    if reset:
        # Throw out all the tape recorded so far.
        with tf.GradientTape() as t:
            z = x * x + y_sq
    grad = t.gradient(z, {"x": x, "y": y})
    print("dz/dx:", grad["x"])  # 2*x => 4
    print("dz/dy:", grad["y"])
    assert grad["x"].numpy() == 4.0 and grad["y"] is None

    # Stop gradient
    with tf.GradientTape() as t:
        y_sq = y**2
        z = x**2 + tf.stop_gradient(y_sq)
    grad = t.gradient(z, {"x": x, "y": y})
    assert grad["x"].numpy() == 4.0 and grad["y"] is None

    # Custom gradients
    # Establish an identity operation, but clip during the gradient pass.
    @tf.custom_gradient
    def clip_gradients(y):
        def backward(dy):
            return tf.clip_by_norm(dy, 0.5)
        return y, backward

    v = tf.Variable(2.0)
    with tf.GradientTape() as t:
        output = clip_gradients(v * v)
    # calls "backward", which clips the upstream 1 to 0.5, times d(v^2)/dv = 4
    assert t.gradient(output, v).numpy() == 2.0

    # Multiple tapes
    x0 = tf.constant(0.0)
    x1 = tf.constant(0.0)
    with tf.GradientTape() as tape0, tf.GradientTape() as tape1:
        tape0.watch(x0)
        tape1.watch(x1)
        y0 = tf.math.sin(x0)
        y1 = tf.nn.sigmoid(x1)
        y = y0 + y1
        ys = tf.reduce_sum(y)
    assert tape0.gradient(ys, x0).numpy() == 1.0   # cos(x) => 1.0
    assert tape1.gradient(ys, x1).numpy() == 0.25  # sigmoid(x1)*(1-sigmoid(x1)) => 0.25


def test_advanced_autodiff_higher_order_gradients_and_input_gradient_regularization():
    x = tf.Variable(1.0)  # Create a Tensorflow variable initialized to 1.0
    with tf.GradientTape() as t2:
        with tf.GradientTape() as t1:
            y = x * x * x
        # Compute the gradient inside the outer `t2` context manager
        # which means the gradient computation is differentiable as well.
        dy_dx = t1.gradient(y, x)
    d2y_dx2 = t2.gradient(dy_dx, x)
    print("dy_dx:", dy_dx.numpy())  # 3 * x**2 => 3.0
    print("d2y_dx2:", d2y_dx2.numpy())  # 6 * x => 6.0
    assert dy_dx.numpy() == 3.0 and d2y_dx2.numpy() == 6.0

    # Example: Input gradient regularization
    x = tf.random.normal([7, 5])
    layer = tf.keras.layers.Dense(10, activation=tf.nn.relu)
    with tf.GradientTape() as t2:
        # The inner tape only takes the gradient with respect to the input,
        # not the variables.
        with tf.GradientTape(watch_accessed_variables=False) as t1:
            t1.watch(x)
            y = layer(x)
            out = tf.reduce_sum(layer(x)**2)
        # 1. Calculate the input gradient.
        g1 = t1.gradient(out, x)
        # 2. Calculate the magnitude of the input gradient.
        g1_mag = tf.norm(g1)
    # 3. Calculate the gradient of the magnitude with respect to the model.
    dg1_mag = t2.gradient(g1_mag, layer.trainable_variables)
    assert [var.shape for var in dg1_mag] == [(5, 10), (10,)]

    def magnitude(kernel, bias):
        input_grad = jax.grad(lambda x_: jnp.sum(jax.nn.relu(x_ @ kernel + bias) ** 2))(x)
        return jnp.linalg.norm(input_grad)

    kernel, bias = layer.kernel.numpy(), layer.bias.numpy()
    np.testing.assert_allclose(y, jax.nn.relu(x @ kernel + bias), rtol=1e-6)
    expected = jax.jit(jax.grad(magnitude, argnums=(0, 1)))(kernel, bias)
    for got, want in zip(dg1_mag, expected):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_advanced_autodiff_jacobians_of_scalar_and_tensor_sources():
    # Scalar source
    x = tf.linspace(-10.0, 10.0, 200 + 1)
    delta = tf.Variable(0.0)
    with tf.GradientTape() as tape:
        y = tf.nn.sigmoid(x + delta)
    dy_dx = tape.jacobian(y, delta)
    print(y.shape)
    print(dy_dx.shape)
    assert y.shape == dy_dx.shape == (201,)
    s = _sigmoid(np.asarray(x))
    np.testing.assert_allclose(dy_dx, s * (1 - s), rtol=1e-5, atol=1e-7)

    # Tensor source
    x = tf.random.normal([7, 5])
    layer = tf.keras.layers.Dense(10, activation=tf.nn.relu)
    with tf.GradientTape(persistent=True) as tape:
        y = layer(x)
    assert y.shape == (7, 10) and layer.kernel.shape == (5, 10)
    j = tape.jacobian(y, layer.kernel)
    assert j.shape == (7, 10, 5, 10)
    g = tape.gradient(y, layer.kernel)
    print("g.shape:", g.shape)
    j_sum = tf.reduce_sum(j, axis=[0, 1])
    delta = tf.reduce_max(abs(g - j_sum)).numpy()
    assert delta < 1e-3
    print("delta:", delta)
    dense = _dense(layer, jax.nn.relu)
    np.testing.assert_allclose(y, dense(x), rtol=1e-6)
    np.testing.assert_allclose(
        j, jax.jit(jax.jacobian(lambda k: jax.nn.relu(x @ k + layer.bias.numpy())))(
            layer.kernel.numpy()), atol=1e-6)


def test_advanced_autodiff_hessian_of_layers_built_inside_the_tapes_and_a_newton_step():
    # Example: Hessian
    x = tf.random.normal([7, 5])
    layer1 = tf.keras.layers.Dense(8, activation=tf.nn.relu)
    layer2 = tf.keras.layers.Dense(6, activation=tf.nn.relu)
    x_in = x
    with tf.GradientTape() as t2:
        with tf.GradientTape() as t1:
            x = layer1(x)
            x = layer2(x)
            loss = tf.reduce_mean(x**2)
        g = t1.gradient(loss, layer1.kernel)
    h = t2.jacobian(g, layer1.kernel)
    print(f"layer.kernel.shape: {layer1.kernel.shape}")
    print(f"h.shape: {h.shape}")
    assert h.shape == (5, 8, 5, 8)

    def plain_loss(kernel1):
        hidden = jax.nn.relu(x_in @ kernel1 + layer1.bias.numpy())
        return jnp.mean(_dense(layer2, jax.nn.relu)(hidden) ** 2)

    kernel1 = layer1.kernel.numpy()
    np.testing.assert_allclose(g, jax.jit(jax.grad(plain_loss))(kernel1), rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_allclose(h, jax.jit(jax.hessian(plain_loss))(kernel1), rtol=1e-4,
                               atol=1e-6)

    n_params = tf.reduce_prod(layer1.kernel.shape)
    g_vec = tf.reshape(g, [n_params, 1])
    h_mat = tf.reshape(h, [n_params, n_params])
    eps = 1e-3
    eye_eps = tf.eye(h_mat.shape[0]) * eps
    # X(k+1) = X(k) - (∇²f(X(k)))^-1 @ ∇f(X(k))
    # h_mat = ∇²f(X(k))
    # g_vec = ∇f(X(k))
    update = tf.linalg.solve(h_mat + eye_eps, g_vec)
    # Reshape the update and apply it to the variable.
    _ = layer1.kernel.assign_sub(tf.reshape(update, layer1.kernel.shape))
    newton = np.linalg.solve(np.asarray(h_mat, np.float64) + 1e-3 * np.eye(40),
                             np.asarray(g_vec, np.float64))
    np.testing.assert_allclose(layer1.kernel.numpy(), kernel1 - newton.reshape(5, 8),
                               rtol=1e-3, atol=1e-4)


def test_advanced_autodiff_batch_jacobians_and_batch_norm_mixing_the_batch():
    x = tf.random.normal([7, 5])
    layer1 = tf.keras.layers.Dense(8, activation=tf.nn.elu)
    layer2 = tf.keras.layers.Dense(6, activation=tf.nn.elu)
    with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
        tape.watch(x)
        y = layer1(x)
        y = layer2(y)
    assert y.shape == (7, 6)
    j = tape.jacobian(y, x)
    assert j.shape == (7, 6, 7, 5)
    j_sum = tf.reduce_sum(j, axis=2)
    print(j_sum.shape)
    j_select = tf.einsum("bxby->bxy", j)
    print(j_select.shape)
    jb = tape.batch_jacobian(y, x)
    assert j_sum.shape == j_select.shape == jb.shape == (7, 6, 5)
    error = tf.reduce_max(abs(jb - j_sum))
    assert error < 1e-3
    print(error.numpy())
    one_row = jax.jacobian(lambda r: _dense(layer2, jax.nn.elu)(_dense(layer1, jax.nn.elu)(r)))
    np.testing.assert_allclose(jb, jax.jit(jax.vmap(one_row))(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(j_select, jb, rtol=1e-6)

    x = tf.random.normal([7, 5])
    layer1 = tf.keras.layers.Dense(8, activation=tf.nn.elu)
    bn = tf.keras.layers.BatchNormalization()
    layer2 = tf.keras.layers.Dense(6, activation=tf.nn.elu)
    with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
        tape.watch(x)
        y = layer1(x)
        y = bn(y, training=True)
        y = layer2(y)
    j = tape.jacobian(y, x)
    print(f"j.shape: {j.shape}")
    # These slices are not diagonal: batch statistics mix the rows, so
    # "Don't use `batch_jacobian`" (its block diagonal misses the rest)
    off_diagonal = np.asarray(j).copy()
    for i in range(7):
        off_diagonal[i, :, i, :] = 0.0
    assert np.abs(off_diagonal).max() > 1e-3
    # the batch norm's training call updated its moving mean from this batch (momentum 0.99)
    hidden = _dense(layer1, jax.nn.elu)(x)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.01 * np.mean(hidden, axis=0),
                               rtol=1e-4, atol=1e-7)
