"""The eighth round of whole TF2 programs (see test_tf2_ports.py): TF's autodiff guides
(gradient tapes, custom gradients, Jacobians) and its tf.function guide (retracing, side
effects, concrete functions), with only the imports changed.

Each asserts an outcome known without xlaflow: derivatives in closed form, Jacobians by
finite structure (a sigmoid's diagonal), trace counts as the guides print them, and a
TensorArray loop against NumPy's cumulative sum. The module, masking and serialization
guides are in test_tf2_ports_eighth_b.py.
"""

import os

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# TF's guides run these tapes eagerly; xlaflow records a tape by converting its block, so
# each runs in a tf.function (an eager tape is refused, naming this form).

def test_autodiff_guide_sources_targets_and_none_gradients():
    x = tf.Variable(3.0)

    @tf.function
    def square():
        with tf.GradientTape() as tape:
            y = x**2
        return tape.gradient(y, x)

    assert float(square()) == 6.0

    w = tf.Variable(tf.random.normal((3, 2)), name="w")
    b = tf.Variable(tf.zeros(2, dtype=tf.float32), name="b")
    x_in = [[1.0, 2.0, 3.0]]

    @tf.function
    def list_and_dict_sources():
        with tf.GradientTape(persistent=True) as tape:
            y = x_in @ w + b
            loss = tf.reduce_mean(y**2)
        [dl_dw, dl_db] = tape.gradient(loss, [w, b])
        my_vars = {"w": w, "b": b}
        grad = tape.gradient(loss, my_vars)
        return dl_dw, dl_db, grad

    dl_dw, dl_db, grad = list_and_dict_sources()
    y = np.array(x_in) @ w.numpy() + b.numpy()  # d mean(y^2) = y / 1 per output, times x
    np.testing.assert_allclose(dl_dw, np.array(x_in).T @ y, rtol=1e-5)
    np.testing.assert_allclose(dl_db, y[0], rtol=1e-5)
    np.testing.assert_allclose(grad["b"], dl_db)
    np.testing.assert_allclose(grad["w"], dl_dw)

    x0 = tf.Variable(3.0, name="x0")
    x1 = tf.Variable(3.0, name="x1", trainable=False)
    x2 = tf.Variable(2.0, name="x2") + 1.0  # a Variable plus a tensor is a tensor
    x3 = tf.constant(3.0, name="x3")
    watched = []

    @tf.function
    def only_trainable_variables():
        with tf.GradientTape() as tape:
            y = (x0**2) + (x1**2) + (x2**2)
        watched.extend(var.name for var in tape.watched_variables())
        return tape.gradient(y, [x0, x1, x2, x3])

    grads = only_trainable_variables()
    assert float(grads[0]) == 6.0 and grads[1:] == [None, None, None]
    assert watched == ["x0"]  # TF prints 'x0:0': xlaflow's names have no output index

    v0, v1 = tf.Variable(0.0), tf.Variable(10.0)

    @tf.function
    def watch_only_x1():
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(v1)
            y0 = tf.math.sin(v0)
            y1 = tf.nn.softplus(v1)
            y = y0 + y1
            ys = tf.reduce_sum(y)
        return tape.gradient(ys, {"x0": v0, "x1": v1})

    grad = watch_only_x1()
    assert grad["x0"] is None and float(grad["x1"]) == pytest.approx(_sigmoid(10.0))

    @tf.function
    def intermediate_and_persistent(x):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = x * x
            z = y * y
        return tape.gradient(z, y), tape.gradient(z, x), tape.gradient(y, x)

    dz_dy, dz_dx, dy_dx = intermediate_and_persistent(tf.constant([1.0, 3.0]))
    np.testing.assert_allclose(dz_dy, [2.0, 18.0])  # 2y at y = x^2
    np.testing.assert_allclose(dz_dx, [4.0, 108.0])  # 4x^3
    np.testing.assert_allclose(dy_dx, [2.0, 6.0])

    xv = tf.Variable(2.0)

    @tf.function
    def non_scalar_targets():
        with tf.GradientTape() as tape:
            y0 = xv**2
            y1 = 1 / xv
        summed = tape.gradient({"y0": y0, "y1": y1}, xv)
        with tf.GradientTape() as tape:
            y = xv * [3.0, 4.0]
        return summed, tape.gradient(y, xv)

    summed, of_vector = non_scalar_targets()
    assert float(summed) == 3.75 and float(of_vector) == 7.0  # 2x - 1/x^2; 3 + 4

    grid = tf.linspace(-10.0, 10.0, 200 + 1)

    @tf.function
    def elementwise(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.nn.sigmoid(x)
        return tape.gradient(y, x)

    s = _sigmoid(np.asarray(grid))
    np.testing.assert_allclose(elementwise(grid), s * (1 - s), rtol=1e-5, atol=1e-7)


def test_autodiff_guide_control_flow_unconnected_integers_and_state():
    v0, v1 = tf.Variable(2.0), tf.Variable(2.0)

    @tf.function
    def branch(x):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            if x > 0.0:
                result = v0
            else:
                result = v1**2
        dv0, dv1 = tape.gradient(result, [v0, v1])
        return dv0, dv1, tape.gradient(result, x)

    dv0, dv1, dx = branch(tf.constant(1.0))
    # eager TF gives dv1 None; a tf.cond (x is a tensor here) gives the untaken branch zeros
    assert float(dv0) == 1.0 and float(dv1) == 0.0
    assert dx is None  # x only decides the branch

    x, y = tf.Variable(2.0), tf.Variable(3.0)
    xs = tf.Variable([2.0, 2.0])

    @tf.function
    def unconnected():
        with tf.GradientTape(persistent=True) as tape:
            z = y * y
        return (tape.gradient(z, x),
                tape.gradient(z, xs, unconnected_gradients=tf.UnconnectedGradients.ZERO))

    none, zeros = unconnected()
    assert none is None
    np.testing.assert_array_equal(zeros, [0.0, 0.0])

    @tf.function
    def integers(x):
        with tf.GradientTape() as g:
            g.watch(x)
            y = x * x
        return g.gradient(y, x)

    assert integers(tf.constant(10)) is None  # integers are not differentiable

    a, acc = tf.Variable(3.0), tf.Variable(0.0)

    @tf.function
    def through_assign():
        with tf.GradientTape() as tape:
            acc.assign_add(a)  # TF: the tape starts again from the assigned Variable
            y = acc**2
        return tape.gradient(y, a)

    assert through_assign() is None

    # The guide's fix for "replaced a Variable with a tensor": assign_add in the loop
    counter = tf.Variable(2.0)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            y = counter * counter + 1
        return tape.gradient(y, counter)

    grads = []
    for _ in range(3):
        grads.append(float(step()))
        counter.assign_add(1)
    assert grads == [4.0, 6.0, 8.0] and float(counter) == 5.0


def test_advanced_autodiff_stop_recording_custom_gradients_and_jacobians():
    x, y = tf.Variable(2.0), tf.Variable(3.0)

    @tf.function
    def stopped():
        with tf.GradientTape(persistent=True) as t:
            x_sq = x * x
            with t.stop_recording():
                y_sq = y * y
            z = x_sq + y_sq
            w = x**2 + tf.stop_gradient(y**2)
        return t.gradient(z, {"x": x, "y": y}), t.gradient(w, {"x": x, "y": y})

    by_recording, by_stop_gradient = stopped()
    for grad in (by_recording, by_stop_gradient):
        assert float(grad["x"]) == 4.0 and grad["y"] is None

    @tf.custom_gradient
    def clip_gradients(y):
        def backward(dy):
            return tf.clip_by_norm(dy, 0.5)
        return y, backward

    v = tf.Variable(2.0)

    @tf.function
    def clipped():
        with tf.GradientTape() as t:
            output = clip_gradients(v * v)
        return t.gradient(output, v)

    assert float(clipped()) == 2.0  # the upstream 1 clipped to 0.5, times dv^2/dv = 4

    @tf.custom_gradient
    def log1pexp(x):
        e = tf.exp(x)

        def grad(upstream):
            return upstream * (1 - 1 / (1 + e))
        return tf.math.log(1 + e), grad

    @tf.function
    def stable(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = log1pexp(x)
        return value, tape.gradient(value, x)

    value, slope = stable(tf.constant(0.0))
    assert float(value) == pytest.approx(np.log(2.0)) and float(slope) == 0.5
    _, slope = stable(tf.constant(100.0))
    assert float(slope) == 1.0  # the naive gradient is inf / inf = nan here

    # TF's guide records two tapes in one `with`; xlaflow takes one persistent tape
    @tf.function
    def two_sources(x0, x1):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x0)
            tape.watch(x1)
            ys = tf.reduce_sum(tf.math.sin(x0) + tf.nn.sigmoid(x1))
        return tape.gradient(ys, x0), tape.gradient(ys, x1)

    d0, d1 = two_sources(tf.constant(0.0), tf.constant(0.0))
    assert float(d0) == 1.0 and float(d1) == 0.25

    grid = tf.linspace(-10.0, 10.0, 200 + 1)
    delta = tf.Variable(0.0)

    @tf.function
    def jacobian_of_a_shift():
        with tf.GradientTape() as tape:
            y = tf.nn.sigmoid(grid + delta)
        return tape.jacobian(y, delta)

    s = _sigmoid(np.asarray(grid))
    np.testing.assert_allclose(jacobian_of_a_shift(), s * (1 - s), rtol=1e-5, atol=1e-7)

    x = tf.random.normal([7, 5])
    layer1 = keras.layers.Dense(8, activation=tf.nn.elu)
    layer2 = keras.layers.Dense(6, activation=tf.nn.elu)
    layer1.build(x.shape)
    layer2.build((7, 8))

    @tf.function
    def jacobians(x):
        with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
            tape.watch(x)
            y = layer2(layer1(x))
        return tape.jacobian(y, x), tape.batch_jacobian(y, x)

    j, jb = jacobians(x)
    assert j.shape == (7, 6, 7, 5) and jb.shape == (7, 6, 5)
    j = np.asarray(j)
    for i in range(7):  # rows are independent: batch_jacobian is the block diagonal
        np.testing.assert_allclose(jb[i], j[i, :, i, :], rtol=1e-6)
        off = np.delete(j[i], i, axis=1)
        assert np.all(off == 0.0)


def test_tf_function_guide_retracing_side_effects_and_concrete_functions(capsys):
    traced = []

    @tf.function
    def double(a):
        traced.append(a.dtype)  # a Python side effect: runs only while tracing
        return a + a

    assert int(double(tf.constant(1))) == 2
    assert float(double(tf.constant(1.1))) == pytest.approx(2.2)
    assert int(double(tf.constant(2))) == 4  # same dtype and shape: no new trace
    assert len(traced) == 2 == double.experimental_get_tracing_count()

    @tf.function
    def f(x):
        print("Traced with", x)
        tf.print("Executed with", x)

    f(1)
    f(1)
    f(2)
    out = capsys.readouterr()
    assert out.out.splitlines() == ["Traced with 1", "Traced with 2"]  # Python values
    assert out.err.splitlines() == ["Executed with 1", "Executed with 1", "Executed with 2"]

    # The guide prints the tensor here; xlaflow turns print() of a tensor into a run-time
    # print (as AutoGraph's print conversion does), so a list counts the traces instead
    collatz_traces = []

    @tf.function(input_signature=(tf.TensorSpec(shape=[None], dtype=tf.int32),))
    def next_collatz(x):
        collatz_traces.append(x.shape)
        return tf.where(x % 2 == 0, x // 2, 3 * x + 1)

    np.testing.assert_array_equal(next_collatz(tf.constant([1, 2])), [4, 1])
    np.testing.assert_array_equal(next_collatz(tf.constant([1, 2, 3, 4, 5])),
                                  [4, 1, 10, 2, 16])
    assert len(collatz_traces) == 1  # one trace serves every length
    with pytest.raises(ValueError, match="expected shape"):
        next_collatz(tf.constant([[1, 2], [3, 4]]))
    with pytest.raises(TypeError, match="expected dtype int32"):
        next_collatz(tf.constant([1.0, 2.0]))

    @tf.function(reduce_retracing=True)
    def g(x):
        return x

    for n in (3, 5, 2, 7):
        np.testing.assert_array_equal(g(tf.range(n)), np.arange(n))
    assert g.experimental_get_tracing_count() == 2  # the second shape generalises

    steps_seen = []

    @tf.function
    def train(num_steps):
        steps_seen.append(num_steps)
        total = tf.constant(0)
        for _ in tf.range(num_steps):
            total += 1
        return total

    assert int(train(num_steps=10)) == 10 and int(train(num_steps=20)) == 20
    assert train.experimental_get_tracing_count() == 2  # Python numbers: one per value
    assert int(train(num_steps=tf.constant(10))) == 10
    assert int(train(num_steps=tf.constant(20))) == 20
    assert train.experimental_get_tracing_count() == 3  # tensors: one trace for both

    @tf.function
    def plus_itself(a):
        return a + a

    concrete = plus_itself.get_concrete_function(tf.TensorSpec(shape=[None], dtype=tf.float32))
    np.testing.assert_array_equal(concrete(tf.constant([1.0, 2.0])), [2.0, 4.0])
    args, kwargs = concrete.structured_input_signature
    assert args == (tf.TensorSpec(shape=[None], dtype=tf.float32),) and kwargs == {}
    assert concrete.structured_outputs == tf.TensorSpec(shape=[None], dtype=tf.float32)
    with pytest.raises(TypeError, match="int32"):
        concrete(tf.constant([1, 2]))


def test_tf_function_guide_variables_lists_modules_and_tensor_arrays():
    class Count(tf.Module):
        def __init__(self):
            self.count = None

        @tf.function
        def __call__(self):
            if self.count is None:
                self.count = tf.Variable(0)
            return self.count.assign_add(1)

    c = Count()
    assert [int(c()) for _ in range(3)] == [1, 2, 3]

    @tf.function
    def leaky(x):
        v = tf.Variable(1.0)
        return v + x

    with pytest.raises(ValueError, match="only be created on the first trace"):
        leaky(1.0)

    external_list = []

    @tf.function
    def side_effect(x):
        external_list.append(x)

    for _ in range(3):
        side_effect(1)
    assert len(external_list) == 1

    @tf.function
    def python_list(x):
        outs = []
        for i in range(3):  # a Python loop: unrolled while tracing
            outs.append(x * i)
        return tf.stack(outs)

    np.testing.assert_array_equal(python_list(tf.constant([1.0, 2.0])),
                                  [[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]])

    class SimpleModel(tf.Module):
        def __init__(self):
            super().__init__()
            self.v = tf.Variable(1.0)

        @tf.function
        def __call__(self, x):
            return self.v * x

    m1, m2 = SimpleModel(), SimpleModel()
    m2.v.assign(2.0)
    assert float(m1(tf.constant(3.0))) == 3.0 and float(m2(tf.constant(3.0))) == 6.0
    m1.v.assign(5.0)
    assert float(m1(tf.constant(3.0))) == 15.0  # the Variable is read, not baked in
    assert m1.__call__.experimental_get_tracing_count() == 1

    external_var = tf.Variable(3)
    foo = 1

    @tf.function
    def buggy_add():
        return 1 + foo

    @tf.function
    def variable_add():
        return 1 + external_var

    assert int(buggy_add()) == 2 and int(variable_add()) == 4
    foo = 100
    external_var.assign(100)
    assert int(buggy_add()) == 2 and int(variable_add()) == 101

    def rnn_step(inp, state):
        return inp + state

    @tf.function
    def dynamic_rnn(rnn_step, input_data, initial_state):
        input_data = tf.transpose(input_data, [1, 0, 2])
        max_seq_len = input_data.shape[0]
        states = tf.TensorArray(tf.float32, size=max_seq_len)
        state = initial_state
        for i in tf.range(max_seq_len):
            state = rnn_step(input_data[i], state)
            states = states.write(i, state)
        return tf.transpose(states.stack(), [1, 0, 2])

    data = tf.random.uniform([2, 3, 4])
    np.testing.assert_allclose(dynamic_rnn(rnn_step, data, tf.zeros([2, 4])),
                               np.cumsum(np.asarray(data), axis=1), rtol=1e-6)
