"""xlaflow's public ops and Python operators applied to symbolic Keras tensors (Keras 2's
TFOpLambda): each becomes a layer node; a model of them computes what the same ops compute.

Oracles: NumPy on the same concrete inputs (the Dense weights read back), and the shapes
the ops give on arrays of two batch sizes.
"""

import pickle

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow import _op_dispatch
from xlaflow.keras import layers, models
from xlaflow.layers.op_layer import TFOpLambda

RNG = np.random.default_rng(5)
A = RNG.normal(size=(6, 4)).astype(np.float32)
B = RNG.uniform(0.5, 2.0, size=(6, 4)).astype(np.float32)
IMAGES = RNG.normal(size=(6, 3, 5, 2)).astype(np.float32)
W = RNG.normal(size=(4, 3)).astype(np.float32)


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# (ops on symbolic a, b (None, 4) and images (None, 3, 5, 2), the same on NumPy arrays)
CASES = {
    "reduce_mean": (lambda a, b, i: xf.math.reduce_mean(a, axis=-1, keepdims=True),
                    lambda a, b, i: a.mean(-1, keepdims=True)),
    "concat": (lambda a, b, i: xf.concat([a, b], axis=-1),
               lambda a, b, i: np.concatenate([a, b], -1)),
    "relu_scale": (lambda a, b, i: xf.nn.relu(a) * 2.0 + 1.0,
                   lambda a, b, i: np.maximum(a, 0) * 2 + 1),
    "softmax": (lambda a, b, i: xf.nn.softmax(a), lambda a, b, i: _softmax(a)),
    "reshape_transpose": (lambda a, b, i: xf.transpose(xf.reshape(a, [-1, 2, 2]), [0, 2, 1]),
                          lambda a, b, i: a.reshape(-1, 2, 2).transpose(0, 2, 1)),
    "cast_dtype": (lambda a, b, i: xf.cast(a > 0, xf.float32),
                   lambda a, b, i: (a > 0).astype(np.float32)),
    "where": (lambda a, b, i: xf.where(a > 0, a, b), lambda a, b, i: np.where(a > 0, a, b)),
    "tensor_kwargs": (lambda a, b, i: xf.clip_by_value(t=a, clip_value_min=-b,
                                                       clip_value_max=b),
                      lambda a, b, i: np.clip(a, -b, b)),
    "einsum": (lambda a, b, i: xf.einsum("bi,bj->bij", a, b),
               lambda a, b, i: a[:, :, None] * b[:, None, :]),
    "matmul_constant": (lambda a, b, i: xf.linalg.matmul(a, W), lambda a, b, i: a @ W),
    "stack_unstack": (lambda a, b, i: xf.unstack(xf.stack([a, b], axis=1), axis=1)[1],
                      lambda a, b, i: b),
    "gather_list": (lambda a, b, i: xf.gather(a, [3, 0], axis=1),
                    lambda a, b, i: a[:, [3, 0]]),
    "one_hot_argmax": (lambda a, b, i: xf.one_hot(xf.argmax(a, axis=-1), 4),
                       lambda a, b, i: np.eye(4, dtype=np.float32)[a.argmax(-1)]),
    "add_n": (lambda a, b, i: xf.math.add_n([a, b, a]), lambda a, b, i: a + b + a),
    "image_flip": (lambda a, b, i: xf.image.flip_left_right(i), lambda a, b, i: i[:, :, ::-1]),
    "batch_mean": (lambda a, b, i: a - xf.reduce_mean(a, axis=0, keepdims=True),
                   lambda a, b, i: a - a.mean(0, keepdims=True)),
    "operators": (lambda a, b, i: (a // 0.5) + (a % 0.7) + abs(a) ** 2 - (2.0 ** b) / -b,
                  lambda a, b, i: (a // 0.5) + np.mod(a, np.float32(0.7)) + np.abs(a) ** 2
                  - (2.0 ** b) / -b),
    "comparisons": (lambda a, b, i: xf.cast(a < b, "int32") + xf.cast(a <= 0, "int32")
                    + xf.cast(a > 0.5, "int32") + xf.cast(1.0 >= b, "int32"),
                    lambda a, b, i: (a < b).astype(np.int32) + (a <= 0) + (a > 0.5)
                    + (1.0 >= b)),
    "getitem": (lambda a, b, i: i[:, 1:, ..., None, 0], lambda a, b, i: i[:, 1:, ..., None, 0]),
}


def _inputs():
    return xf.keras.Input((4,)), xf.keras.Input((4,)), xf.keras.Input((3, 5, 2))


@pytest.mark.parametrize("name", list(CASES))
def test_an_op_on_symbolic_tensors_computes_what_it_computes_on_arrays(name):
    build, oracle = CASES[name]
    a, b, images = _inputs()
    out = build(a, b, images)
    model = models.Model([a, b, images], out)
    expected = oracle(A, B, IMAGES)
    got = model.predict([A, B, IMAGES], verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert got.dtype == expected.dtype
    assert out.shape == (None, *expected.shape[1:])  # the batch axis stays None


def test_the_briefs_model_matches_jax_numpy_on_its_dense_weights():
    inputs = xf.keras.Input((8,))
    dense = layers.Dense(4)
    x = xf.nn.relu(dense(inputs)) * 2.0 + 1.0
    x = xf.concat([x, inputs], axis=-1)
    x = xf.reduce_mean(x, axis=-1, keepdims=True)
    model = models.Model(inputs, x[:, :1])
    data = RNG.normal(size=(5, 8)).astype(np.float32)
    kernel, bias = (jnp.asarray(w) for w in dense.get_weights())
    hidden = jnp.maximum(data @ kernel + bias, 0) * 2.0 + 1.0
    expected = jnp.mean(jnp.concatenate([hidden, data], -1), -1, keepdims=True)[:, :1]
    np.testing.assert_allclose(model.predict(data, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_a_size_that_does_not_follow_the_batch_stays_known():
    a = xf.keras.Input((4,))
    total = xf.math.reduce_sum(a, axis=0)  # over the batch: (4,), no batch axis
    assert total.shape == (4,)
    assert xf.shape(a).shape == (2,)
    both = xf.concat([a, a], axis=0)
    assert both.shape == (None, 4)
    np.testing.assert_allclose(models.Model(a, xf.subtract(a, total))(A), A - A.sum(0),
                               rtol=1e-5, atol=1e-5)


def test_op_layers_are_named_as_keras_names_them():
    xf.keras.backend.clear_session()  # name counters from 0
    a, b, _ = _inputs()
    out = xf.reduce_mean(xf.concat([a + b, a - b, -a], axis=-1), axis=-1)
    out = xf.math.reduce_mean(xf.expand_dims(out, -1) * 2, axis=-1, keepdims=True,
                              name="my_mean")
    model = models.Model([a, b], xf.tanh(out))  # tf.tanh is tf.math.tanh
    assert [layer.name for layer in model.layers  # (Keras 2 lists the Inputs too)
            if not isinstance(layer, xf.keras.layers.InputLayer)] == [
        "tf.__operators__.add", "tf.math.subtract", "tf.math.negative", "tf.concat",
        "tf.math.reduce_mean", "tf.expand_dims", "tf.math.multiply", "my_mean", "tf.math.tanh"]
    again = xf.math.reduce_mean(a, axis=-1)
    assert again.node.layer.name == "tf.math.reduce_mean_1" and again.name == again.node.layer.name
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    # Keras 2.12 cuts a name wider than its column and goes on on the next line
    # (a 32-column field, less the two spaces before the next: 30 characters)
    assert "\n tf.math.reduce_mean (TFOpLambd  (None,)" in text and "\n a)  " in text
    # Keras 2 records operators as TFOpLambda layers too (x + y: tf.__operators__.add)
    assert "\n tf.__operators__.add (TFOpLamb  (None, 4)" in text and "\n da)  " in text
    # and leaves two spaces before the output shape
    assert all("(None" not in line or "  (None" in line or "  [(None" in line
               for line in lines)


def test_ops_cost_only_a_type_check_on_arrays_and_keep_their_names():
    xf.keras.Input((2,))  # the checks are on from here
    assert xf.add.__wrapped__ is jnp.add and xf.math.reduce_sum is xf.reduce_sum
    np.testing.assert_array_equal(xf.add(np.float32([1, 2]), 1.0), [2, 3])
    assert isinstance(xf.concat([jnp.ones(2), jnp.ones(2)], 0), type(jnp.ones(2)))
    assert xf.math.reduce_mean.__name__ == "reduce_mean"
    assert pickle.loads(pickle.dumps(xf.math.reduce_mean)) is xf.math.reduce_mean
    assert pickle.loads(pickle.dumps(xf.linalg.adjoint)) is xf.linalg.adjoint
    x = xf.keras.Input((2,))
    assert _op_dispatch.has_symbolic([1, ({"k": [x]},)]) and not _op_dispatch.has_symbolic(
        [1, ({"k": [jnp.ones(2)]},)])


def test_ops_run_inside_xf_function_and_lambda_layers_as_before():
    @xf.function
    def f(x):
        return xf.math.reduce_sum(xf.nn.relu(x), axis=-1)

    np.testing.assert_allclose(f(A), np.maximum(A, 0).sum(-1), rtol=1e-5)
    inputs = xf.keras.Input((4,))
    model = models.Model(inputs, layers.Lambda(lambda t: xf.math.reduce_max(t, axis=-1))(inputs))
    np.testing.assert_allclose(model(A), A.max(-1))


# -- what a graph cannot hold: errors that name the op and the way out ----------------------
@pytest.mark.parametrize("call, op", [
    (lambda x: xf.nn.dropout(x, 0.5), "tf.nn.dropout"),
    (lambda x: xf.random.shuffle(x), "tf.random.shuffle"),
    (lambda x: xf.image.random_flip_left_right(xf.reshape(x, [-1, 2, 2, 1])),
     "tf.image.random_flip_left_right"),
    (lambda x: xf.map_fn(lambda t: t * 2, x), "tf.map_fn"),
    (lambda x: xf.cond(xf.reduce_all(x > 0), lambda: x, lambda: -x), "tf.cond"),
    (lambda x: xf.print(x), "tf.print"),
    (lambda x: xf.py_function(np.sin, [x], "float32"), "tf.py_function"),
    (lambda x: xf.debugging.check_numerics(x, "bad"), "tf.debugging.check_numerics"),
], ids=["dropout", "random", "random_image", "map_fn", "cond", "print", "py_function",
        "debugging"])
def test_stateful_random_and_function_taking_ops_refuse_naming_lambda(call, op):
    x = xf.keras.Input((4,))
    with pytest.raises(TypeError, match=rf"{op} cannot be a step.*keras\.layers\.Lambda"):
        call(x)


def test_a_variable_or_a_function_argument_is_refused_by_name():
    x = xf.keras.Input((4,))
    v = xf.Variable(np.ones(4, np.float32), name="scale")
    with pytest.raises(TypeError, match=r"tf\.math\.multiply.*Variable 'scale'.*add_weight"):
        xf.multiply(x, v)
    with pytest.raises(TypeError, match=r"tf\.nn\.relu.*function.*keras\.layers\.Lambda"):
        xf.nn.relu(x, np.sin)


def test_an_op_that_fails_on_the_shapes_names_itself_and_them():
    a, b = xf.keras.Input((4,)), xf.keras.Input((3,))
    with pytest.raises(TypeError, match=r"tf\.linalg\.matmul(_\d+)?: the op fails on symbolic "
                                        r"tensors of shapes \[\(None, 4\), \(None, 3\)\]"):
        xf.matmul(a, b)
    with pytest.raises(ValueError, match=r"tf\.reshape.*\[\(None, 4\)\].*Input to reshape "
                                         r"is a tensor with \d+ values"):
        xf.reshape(a, [3, -1])
    with pytest.raises(ValueError, match=r"TFOpLambda: function 'math\.no_such_op' names no "
                                         r"public xlaflow op"):
        TFOpLambda("math.no_such_op")
    with pytest.raises(TypeError, match="returns no tensor.*keras.layers.Lambda"):
        TFOpLambda(lambda t: None)(a)


def test_equality_stays_identity_and_comparisons_are_elementwise():
    a = xf.keras.Input((4,))
    same = a
    assert a == same and a != xf.keras.Input((4,)) and a in [a]  # bookkeeping relies on it
    assert (a < 1).dtype == np.bool_


def test_elementwise_ops_take_tfs_name_argument_eagerly_and_on_symbolic_tensors():
    # tf.maximum(x, y, name=...) and tf.math.square(x, name=...): every TF op takes name=;
    # the JAX functions underneath do not, so it was a TypeError from the ufunc
    x = np.array([[1.0, -2.0, 3.0]], np.float32)
    assert np.array_equal(xf.maximum(x, 0.0, name="relu_ish"), np.maximum(x, 0.0))
    assert np.array_equal(xf.math.square(x, name="sq"), np.square(x))
    a = xf.keras.Input((3,), name="a")
    b = xf.keras.Input((3,), name="b")
    out = xf.math.square(xf.maximum(a, b, name="mx"), name="sq")
    model = xf.keras.Model([a, b], out)
    assert [layer.name for layer in model.layers][2:] == ["mx", "sq"]
    y = np.zeros_like(x)
    np.testing.assert_allclose(model.predict([x, y], verbose=0), np.square(np.maximum(x, y)))
    restored = xf.keras.Model.from_config(model.get_config())
    np.testing.assert_allclose(restored.predict([x, y], verbose=0), np.square(np.maximum(x, y)))
    with pytest.raises(TypeError, match="name"):
        xf.maximum(x, 0.0, name=3)


def test_a_variable_in_an_operator_on_symbolic_tensors_is_refused_not_frozen():
    # As xf ops refuse it: the value would be copied into the graph, so the model would
    # neither train nor save the Variable, and a later assign would not reach it
    a = xf.keras.Input((3,))
    v = xf.Variable(2.0, name="scale")
    for combine in (lambda: a * v, lambda: v * a, lambda: a + v, lambda: v - a):
        with pytest.raises(TypeError, match="Variable 'scale'.*add_weight"):
            combine()
    assert float(v + 1.0) == 3.0  # Variables keep their arithmetic elsewhere
