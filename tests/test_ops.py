"""TF-named ops against NumPy as the oracle."""

import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 4, 5)).astype(np.float32)


@pytest.mark.parametrize("xf_op, np_op", [
    (xf.reduce_sum, np.sum), (xf.reduce_mean, np.mean), (xf.reduce_max, np.max),
    (xf.reduce_min, np.min), (xf.reduce_prod, np.prod)])
@pytest.mark.parametrize("axis", [None, 0, -1, [0, 2]])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(xf_op, np_op, axis, keepdims):
    np_axis = tuple(axis) if isinstance(axis, list) else axis
    np.testing.assert_allclose(xf_op(X, axis=axis, keepdims=keepdims),
                               np_op(X, axis=np_axis, keepdims=keepdims), rtol=1e-5)


def test_boolean_reductions():
    b = X > 0
    np.testing.assert_array_equal(xf.reduce_any(b, axis=1), b.any(axis=1))
    np.testing.assert_array_equal(xf.reduce_all(b, axis=[0, 1]), b.all(axis=(0, 1)))


@pytest.mark.parametrize("ta, tb", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_transposes(ta, tb):
    a = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    b = RNG.normal(size=(2, 4, 5)).astype(np.float32)
    a_in = np.swapaxes(a, -1, -2) if ta else a
    b_in = np.swapaxes(b, -1, -2) if tb else b
    np.testing.assert_allclose(xf.matmul(a_in, b_in, transpose_a=ta, transpose_b=tb), a @ b,
                               rtol=1e-5, atol=1e-5)


def test_matmul_adjoint():
    a = (RNG.normal(size=(3, 3)) + 1j * RNG.normal(size=(3, 3))).astype(np.complex64)
    np.testing.assert_allclose(xf.matmul(a, a, adjoint_a=True), a.conj().T @ a, rtol=1e-5)


def test_cast_truncates_toward_zero():
    np.testing.assert_array_equal(xf.cast(jnp.array([1.7, -1.7]), xf.int32), [1, -1])
    assert xf.cast(jnp.array([1, 0]), "bool").dtype == np.bool_


def test_range_shape_rank_size():
    np.testing.assert_array_equal(xf.range(5), np.arange(5))
    np.testing.assert_array_equal(xf.range(1, 10, 3), np.arange(1, 10, 3))
    assert xf.range(3, dtype=xf.float32).dtype == np.float32
    np.testing.assert_array_equal(xf.shape(X), [3, 4, 5])
    assert xf.shape(X).dtype == np.int32
    assert int(xf.rank(X)) == 3 and int(xf.size(X)) == 60


def test_shape_manipulation():
    np.testing.assert_array_equal(xf.reshape(X, [-1, 5]), X.reshape(-1, 5))
    np.testing.assert_array_equal(xf.reshape(X, jnp.array([12, 5])), X.reshape(12, 5))
    np.testing.assert_array_equal(xf.concat([X, X], axis=1), np.concatenate([X, X], 1))
    np.testing.assert_array_equal(xf.stack([X, X], axis=-1), np.stack([X, X], -1))
    np.testing.assert_array_equal(xf.squeeze(X[:, :1], axis=[1]), X[:, 0])
    np.testing.assert_array_equal(xf.expand_dims(X, 1), X[:, None])
    np.testing.assert_array_equal(xf.transpose(X), X.T)
    np.testing.assert_array_equal(xf.transpose(X, perm=[1, 0, 2]), X.transpose(1, 0, 2))


def test_creation_and_selection():
    assert xf.zeros((2, 3)).dtype == np.float32
    np.testing.assert_array_equal(xf.ones([2], dtype=xf.int32), [1, 1])
    np.testing.assert_array_equal(xf.fill([2, 2], 9), np.full((2, 2), 9))
    np.testing.assert_array_equal(xf.argmax(X), X.argmax(0))
    np.testing.assert_array_equal(xf.argmin(X, axis=2), X.argmin(2))
    np.testing.assert_array_equal(xf.clip_by_value(X, -0.5, 0.5), np.clip(X, -0.5, 0.5))
    np.testing.assert_array_equal(xf.one_hot([0, 2], 3), np.eye(3, dtype=np.float32)[[0, 2]])
    np.testing.assert_array_equal(xf.one_hot([1], 3, on_value=5.0, off_value=-1.0),
                                  [[-1.0, 5.0, -1.0]])


def test_print_eager_and_compiled(capsys):
    xf.print("x =", jnp.array([1, 2, 3]))
    assert capsys.readouterr().err == "x = [1 2 3]\n"  # stderr, as tf.print

    @xf.function
    def f(x):
        xf.print("value", x, sep="|")
        return x + 1

    f(jnp.array(1.0))
    f(jnp.array(2.0))
    jax.effects_barrier()
    assert capsys.readouterr().err == "value|1.0\nvalue|2.0\n"


def test_print_summarizes_and_streams():
    stream = io.StringIO()
    xf.print(jnp.arange(100), output_stream=stream)
    assert stream.getvalue() == "[ 0  1  2 ... 97 98 99]\n"
    stream = io.StringIO()
    xf.print(jnp.arange(8), output_stream=stream, summarize=-1)
    assert stream.getvalue() == "[0 1 2 3 4 5 6 7]\n"


def test_clip_by_global_norm_against_numpy():
    # TF: t_i * clip_norm / max(global_norm, clip_norm); None passes through.
    a, b = X[0], X[1, :2]
    norm = np.sqrt((a.astype(np.float64) ** 2).sum() + (b.astype(np.float64) ** 2).sum())
    clipped, got_norm = xf.clip_by_global_norm([a, None, b], 1.5)
    np.testing.assert_allclose(got_norm, norm, rtol=1e-5)
    assert clipped[1] is None
    np.testing.assert_allclose(clipped[0], a * 1.5 / norm, rtol=1e-5)
    np.testing.assert_allclose(clipped[2], b * 1.5 / norm, rtol=1e-5)
    unclipped, _ = xf.clip_by_global_norm([a, b], 10 * norm)  # under the limit: unchanged
    np.testing.assert_allclose(unclipped[0], a, rtol=1e-6)
    fixed, used = xf.clip_by_global_norm([a], 1.0, use_norm=4.0)
    assert float(used) == 4.0
    np.testing.assert_allclose(fixed[0], a / 4.0, rtol=1e-6)
    with pytest.raises(TypeError, match="t_list must be a list of tensors"):
        xf.clip_by_global_norm(a, 1.0)


def test_clip_by_norm_against_numpy():
    norm = np.sqrt((X.astype(np.float64) ** 2).sum())
    np.testing.assert_allclose(xf.clip_by_norm(X, 2.0), X * 2.0 / norm, rtol=1e-5)
    rows = np.sqrt((X.astype(np.float64) ** 2).sum(axis=-1, keepdims=True))
    np.testing.assert_allclose(xf.clip_by_norm(X, 1.0, axes=[-1]),
                               X / np.maximum(rows, 1.0), rtol=1e-5)


def test_math_namespace_reductions_and_safe_division_against_numpy():
    x64 = X.astype(np.float64)
    np.testing.assert_allclose(xf.math.reduce_std(X, axis=[0, 2]), x64.std(axis=(0, 2)),
                               rtol=1e-5)
    np.testing.assert_allclose(xf.math.reduce_variance(X, axis=1, keepdims=True),
                               x64.var(axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(xf.math.reduce_logsumexp(X, axis=-1),
                               np.log(np.exp(x64).sum(axis=-1)), rtol=1e-5)
    np.testing.assert_array_equal(
        xf.math.divide_no_nan(np.float32([1.0, 2.0, 0.0]), np.float32([0.0, 4.0, 0.0])),
        [0.0, 0.5, 0.0])
    np.testing.assert_allclose(xf.math.sigmoid(X), 1 / (1 + np.exp(-x64)), rtol=1e-5)
    # jnp's own function underneath (wrapped only to take symbolic Keras tensors), one
    # wrapper for the op whichever namespace publishes it
    assert xf.math.log.__wrapped__ is jnp.log and xf.math.reduce_sum is xf.reduce_sum
    np.testing.assert_array_equal(xf.math.is_nan(np.float32([np.nan, 1.0])), [True, False])


def test_clip_by_global_norm_with_an_infinite_norm_gives_nans_as_tf():
    # TF: "If global_norm == infinity then the entries in t_list are all set to NaN to
    # signal that an error occurred" (a zero list would hide the overflow)
    clipped, norm = xf.clip_by_global_norm(
        [np.array([np.inf, 1.0], np.float32), None, np.array([2.0], np.float32)], 1.0)
    assert np.isinf(norm) and clipped[1] is None
    assert np.isnan(clipped[0]).all() and np.isnan(clipped[2]).all()
    # a zero list is left as it is (scale 1, not 0/0)
    zeros, zero_norm = xf.clip_by_global_norm([np.zeros(3, np.float32)], 1.0)
    assert float(zero_norm) == 0.0
    np.testing.assert_array_equal(zeros[0], np.zeros(3))


def test_clip_by_norm_gradient_is_finite_at_a_zero_slice():
    # Near 0 the clip is inactive, so the op is the identity: gradient of the sum is 1.
    grad = jax.grad(lambda t: jnp.sum(xf.clip_by_norm(t, 1.0, axes=[1])))
    t = np.array([[0.0, 0.0], [3.0, 4.0]], np.float32)  # a zero row and a clipped row
    got = np.asarray(grad(t))
    np.testing.assert_array_equal(got[0], [1.0, 1.0])
    # the clipped row against jax.grad of the plain formula t / |t|
    plain = jax.grad(lambda r: jnp.sum(r / jnp.sqrt(jnp.sum(r * r))))(jnp.asarray(t[1]))
    np.testing.assert_allclose(got[1], plain, rtol=1e-6)


def test_shape_known_when_tracing_builds_shapes_inside_xf_function():
    # TF code sizes new tensors by tf.shape(x) (VAE sampling, masks); a traced shape cannot
    # size an array in JAX, so static sizes come back as constants
    @xf.function
    def sample_like(x):
        batch = xf.shape(x)[0]
        return (xf.random.normal(xf.shape(x)), xf.zeros(xf.shape(x)),
                xf.fill(xf.shape(x), 2.0), xf.reshape(x, [batch, -1]),
                xf.random.normal((batch, 2)), xf.shape(x))

    x = jnp.ones((3, 2, 2))
    noise, zeros, twos, flat, pairs, shape = sample_like(x)
    assert noise.shape == zeros.shape == twos.shape == (3, 2, 2)
    assert flat.shape == (3, 4) and pairs.shape == (3, 2)
    np.testing.assert_array_equal(np.asarray(twos), np.full((3, 2, 2), 2.0))
    np.testing.assert_array_equal(np.asarray(shape), [3, 2, 2])
    assert xf.shape(x).dtype == np.int32


def test_add_n_sums_a_list_and_refuses_mixed_shapes():
    parts = [RNG.normal(size=(2, 3)).astype(np.float32) for _ in range(3)]
    np.testing.assert_allclose(xf.add_n(parts), np.sum(parts, axis=0), rtol=1e-6)
    np.testing.assert_allclose(xf.math.add_n(parts[:1]), parts[0])
    with pytest.raises(ValueError, match="one shape and dtype"):
        xf.add_n([parts[0], parts[0][0]])
    with pytest.raises(ValueError, match="non-empty list"):
        xf.add_n([])


# TF converts Python lists (and nested lists) wherever a tensor is expected:
# tf.reduce_sum([1., 2.]) is 3.0. xlaflow's own wrappers must too (the jnp functions
# re-exported as they are keep jnp's rule). NumPy on the same list is the oracle.
_LIST = [[1.0, -2.0, 3.5], [4.0, 0.5, -6.0]]
_LIST_CASES = [
    ("reduce_sum", lambda m: m.reduce_sum(_LIST, axis=1), lambda a: a.sum(1)),
    ("reduce_mean", lambda m: m.reduce_mean(_LIST), lambda a: a.mean()),
    ("reduce_max", lambda m: m.reduce_max(_LIST, 0), lambda a: a.max(0)),
    ("reduce_min", lambda m: m.reduce_min(_LIST), lambda a: a.min()),
    ("reduce_prod", lambda m: m.reduce_prod(_LIST, [0, 1]), lambda a: a.prod()),
    ("reduce_any", lambda m: m.reduce_any([True, False]), lambda a: True),
    ("reduce_all", lambda m: m.reduce_all([True, False]), lambda a: False),
    ("squeeze", lambda m: m.squeeze([_LIST]), lambda a: a),
    ("expand_dims", lambda m: m.expand_dims(_LIST, 0), lambda a: a[None]),
    ("transpose", lambda m: m.transpose(_LIST), lambda a: a.T),
    ("argmax", lambda m: m.argmax(_LIST, 1), lambda a: a.argmax(1)),
    ("argmin", lambda m: m.argmin(_LIST), lambda a: a.argmin(0)),
    ("clip_by_value", lambda m: m.clip_by_value(_LIST, -1.0, 1.0),
     lambda a: np.clip(a, -1, 1)),
    ("reshape", lambda m: m.reshape(_LIST, [3, 2]), lambda a: a.reshape(3, 2)),
    ("concat", lambda m: m.concat([_LIST, [[7.0, 8.0, 9.0]]], 0),
     lambda a: np.concatenate([a, [[7, 8, 9]]])),
    ("stack", lambda m: m.stack([_LIST[0], _LIST[1]], axis=1), lambda a: a.T),
    ("math.reduce_variance", lambda m: m.math.reduce_variance(_LIST, 1), lambda a: a.var(1)),
    ("math.reduce_std", lambda m: m.math.reduce_std(_LIST), lambda a: a.std()),
    ("math.reduce_logsumexp", lambda m: m.math.reduce_logsumexp(_LIST, 0),
     lambda a: np.log(np.exp(a).sum(0))),
    ("math.pow", lambda m: m.math.pow(_LIST, 2.0), lambda a: a ** 2),
    ("math.is_nan", lambda m: m.math.is_nan(_LIST), lambda a: np.isnan(a)),
    ("math.is_inf", lambda m: m.math.is_inf(_LIST), lambda a: np.isinf(a)),
    ("math.is_finite", lambda m: m.math.is_finite(_LIST), lambda a: np.isfinite(a)),
    ("linspace", lambda m: m.linspace([0.0, 1.0], [1.0, 3.0], 3, axis=-1),
     lambda a: np.array([[0, 0.5, 1], [1, 2, 3]])),
    ("meshgrid", lambda m: m.meshgrid([1, 2], [3, 4, 5])[0],
     lambda a: np.meshgrid([1, 2], [3, 4, 5])[0]),
    ("einsum", lambda m: m.einsum("ij,j->i", _LIST, [1.0, 1.0, 1.0]), lambda a: a.sum(1)),
    ("tensordot", lambda m: m.tensordot(_LIST, [1.0, 1.0, 1.0], 1), lambda a: a.sum(1)),
    ("nn.relu", lambda m: m.nn.relu(_LIST), lambda a: np.maximum(a, 0)),
    ("nn.relu6", lambda m: m.nn.relu6(_LIST), lambda a: np.clip(a, 0, 6)),
    ("nn.leaky_relu", lambda m: m.nn.leaky_relu(_LIST), lambda a: np.where(a > 0, a, 0.2 * a)),
    ("nn.elu", lambda m: m.nn.elu(_LIST), lambda a: np.where(a > 0, a, np.expm1(a))),
    ("nn.selu", lambda m: m.nn.selu(_LIST),
     lambda a: 1.0507009873554805 * np.where(a > 0, a, 1.6732632423543772 * np.expm1(a))),
    ("nn.gelu", lambda m: m.nn.gelu(_LIST, approximate=True),
     lambda a: 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3)))),
    ("sigmoid", lambda m: m.sigmoid(_LIST), lambda a: 1 / (1 + np.exp(-a))),
    ("nn.tanh", lambda m: m.nn.tanh(_LIST), lambda a: np.tanh(a)),
    ("nn.softplus", lambda m: m.nn.softplus(_LIST), lambda a: np.log1p(np.exp(a))),
    ("nn.softsign", lambda m: m.nn.softsign(_LIST), lambda a: a / (1 + np.abs(a))),
    ("nn.softmax", lambda m: m.nn.softmax(_LIST),
     lambda a: np.exp(a) / np.exp(a).sum(-1, keepdims=True)),
    ("nn.log_softmax", lambda m: m.nn.log_softmax(_LIST),
     lambda a: a - np.log(np.exp(a).sum(-1, keepdims=True))),
    ("nn.l2_loss", lambda m: m.nn.l2_loss(_LIST), lambda a: (a ** 2).sum() / 2),
]


@pytest.mark.parametrize("case", _LIST_CASES, ids=[c[0] for c in _LIST_CASES])
def test_own_wrappers_take_python_lists_as_tf(case):
    _, xf_call, np_call = case
    expected = np_call(np.asarray(_LIST, np.float32))
    np.testing.assert_allclose(np.asarray(xf_call(xf)), expected, rtol=1e-5, atol=1e-7)


def test_tf2_top_level_comparisons_and_logical_ops():
    a, b = np.array([1, 2, 3]), np.array([3, 2, 1])
    np.testing.assert_array_equal(xf.not_equal(a, b), a != b)
    np.testing.assert_array_equal(xf.less_equal(a, b), a <= b)
    np.testing.assert_array_equal(xf.greater_equal(a, b), a >= b)
    p, q = a > 1, b > 1
    np.testing.assert_array_equal(xf.logical_and(p, q), p & q)
    np.testing.assert_array_equal(xf.logical_or(p, q), p | q)
    np.testing.assert_array_equal(xf.logical_not(p), ~p)


def test_size_and_rank_known_when_tracing_size_things_inside_a_function():
    # As xf.shape: TF code writes TensorArray(size=tf.size(x)) and zeros([tf.size(x)])
    @xf.function
    def flat_doubled(x):
        ta = xf.TensorArray(xf.float32, size=xf.size(x))
        flat = xf.reshape(x, [-1])
        for i in xf.range(xf.size(x)):
            ta = ta.write(i, flat[i] * 2.0)
        return ta.stack(), xf.zeros([xf.size(x), xf.rank(x)])

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    doubled, zeros = flat_doubled(x)
    np.testing.assert_array_equal(doubled, x.reshape(-1) * 2)
    assert zeros.shape == (6, 2)
    assert xf.size(x).dtype == np.int32 and int(xf.size(x)) == 6 and int(xf.rank(x)) == 2


def test_ops_that_are_jnp_functions_take_python_lists_as_tf_does():
    # TF's "Customization basics" opens with these; jnp refuses lists, TF converts them
    assert xf.math.add([1, 2], [3, 4]).tolist() == [4, 6]
    assert xf.math.add([1, 2], [3, 4]).dtype == np.int32
    np.testing.assert_allclose(xf.maximum([1.0, 5.0], (3.0, 2.0)), np.maximum([1, 5], [3, 2]))
    np.testing.assert_allclose(xf.math.multiply([1.5, 2.0], 2), [3.0, 4.0])
    np.testing.assert_allclose(xf.exp([0.0, 1.0]), np.exp([0.0, 1.0]), rtol=1e-6)
    assert xf.exp([0.0]).dtype == np.float32
    with pytest.raises(TypeError, match="requires ndarray or scalar arguments"):
        xf.math.add([1, [2]], 1)  # ragged: jnp's own error
    with pytest.raises(TypeError):
        xf.math.add("a", 1)


def test_python_lists_still_convert_once_a_keras_input_exists():
    # a keras.Input turns the wrappers' symbolic checks on; lists took that path unconverted
    xf.keras.Input((2,))
    assert xf.math.add([1, 2], [3, 4]).tolist() == [4, 6]
    np.testing.assert_allclose(xf.exp([0.0, 1.0]), np.exp([0.0, 1.0]), rtol=1e-6)
    np.testing.assert_array_equal(xf.maximum((1, 5), [3, 2], name="m"), [3, 5])


def test_a_list_of_keras_tensors_is_packed_as_tf_packs_it():
    # tf.math.add([kt, kt], 1.0) packs the list (tf.stack) before adding, as TF converts it
    inp = xf.keras.Input((2,))
    model = xf.keras.Model(inp, xf.math.add([inp, inp * 2.0], 1.0))
    x = np.array([[1.0, -1.0], [0.5, 3.0]], np.float32)
    expected = np.stack([x, x * 2.0]) + 1.0
    np.testing.assert_allclose(model(x), expected)
    assert model.output_shape == (2, None, 2)
    rebuilt = xf.keras.Model.from_config(model.get_config())
    np.testing.assert_allclose(rebuilt(x), expected)
