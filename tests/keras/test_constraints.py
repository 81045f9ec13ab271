"""Weight constraints (applied by the optimizer after each update) and activity regularizers
(output penalties in `losses`), checked against Keras 2's formulas written in numpy."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from tests.local_platform import HERE
from xlaflow.keras import constraints, layers, models, regularizers

EPS = 1e-7  # Keras' backend.epsilon()
RNG = np.random.default_rng(11)
X = RNG.normal(size=(8, 3)).astype(np.float32)
Y = RNG.normal(size=(8, 2)).astype(np.float32)


def _norms(w, axis):
    return np.sqrt(np.sum(w ** 2, axis=axis, keepdims=True))


# -- the formulas --------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [0, 1, [0, 1]])
def test_max_norm_scales_down_only_the_long_slices(axis):
    w = RNG.normal(size=(3, 4, 5)).astype(np.float32) * 2
    norms = _norms(w, tuple(axis) if isinstance(axis, list) else axis)
    expected = w * (np.clip(norms, 0, 2.5) / (EPS + norms))
    np.testing.assert_allclose(constraints.MaxNorm(2.5, axis=axis)(w), expected, rtol=1e-6)


def test_min_max_norm_moves_the_norms_by_rate():
    w = RNG.normal(size=(6, 4)).astype(np.float32) * np.array([0.1, 1, 3, 10], np.float32)
    norms = _norms(w, 0)
    desired = 0.3 * np.clip(norms, 0.5, 2.0) + 0.7 * norms
    np.testing.assert_allclose(constraints.MinMaxNorm(0.5, 2.0, rate=0.3)(w),
                               w * desired / (EPS + norms), rtol=1e-6)
    out = np.asarray(constraints.MinMaxNorm(0.5, 2.0)(w))  # rate 1: inside the bounds
    assert np.all(_norms(out, 0) <= 2.0 + 1e-5) and np.all(_norms(out, 0) >= 0.5 - 1e-5)


def test_non_neg_and_unit_norm():
    w = RNG.normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_array_equal(constraints.NonNeg()(w), np.where(w >= 0, w, 0))
    np.testing.assert_allclose(constraints.UnitNorm(axis=1)(w), w / (EPS + _norms(w, 1)),
                               rtol=1e-6)
    np.testing.assert_array_equal(constraints.Constraint()(w), w)


def _keras_radial(kernel):
    """Keras 2's RadialConstraint._kernel_constraint, step by step in numpy."""
    n = kernel.shape[0]
    start = n // 2
    if n % 2:
        new, i = kernel[start - 1:start, start - 1:start], 0
    else:
        new, i = kernel[start - 1:start, start - 1:start] + np.zeros((2, 2), kernel.dtype), 1
    while i < start:
        new = np.pad(new, 1, constant_values=kernel[start + i, start + i])
        i += 1
    return new


@pytest.mark.parametrize("size", [2, 3, 4, 5, 6])
def test_radial_constraint_follows_keras_code(size):
    w = RNG.normal(size=(size, size, 2, 3)).astype(np.float32)
    expected = np.stack([np.stack([_keras_radial(w[:, :, c, k]) for k in range(3)], -1)
                         for c in range(2)], -2)
    out = np.asarray(constraints.RadialConstraint()(w))
    np.testing.assert_array_equal(out, expected)
    assert len(set(out[..., 0, 0].ravel())) == -(-size // 2)  # one value per ring


# -- names, configs, bad input ---------------------------------------------------------------
@pytest.mark.parametrize("name, cls", [
    ("max_norm", constraints.MaxNorm), ("maxnorm", constraints.MaxNorm),
    ("MaxNorm", constraints.MaxNorm), ("non_neg", constraints.NonNeg),
    ("nonneg", constraints.NonNeg), ("unit_norm", constraints.UnitNorm),
    ("unitnorm", constraints.UnitNorm), ("min_max_norm", constraints.MinMaxNorm),
    ("radial_constraint", constraints.RadialConstraint)])
def test_names_and_aliases(name, cls):
    assert type(constraints.get(name)) is cls


def test_serialize_round_trip_and_callables():
    c = constraints.MinMaxNorm(0.1, 3.0, rate=0.5, axis=[0, 1])
    config = constraints.serialize(c)
    assert config == {"class_name": "MinMaxNorm", "config": {
        "min_value": 0.1, "max_value": 3.0, "rate": 0.5, "axis": [0, 1]}}
    back = constraints.deserialize(config)
    assert type(back) is constraints.MinMaxNorm and back.get_config() == c.get_config()
    assert constraints.get(None) is None and constraints.serialize(None) is None
    fn = lambda w: jnp.clip(w, -1, 1)
    assert constraints.get(fn) is fn


@pytest.mark.parametrize("make, match", [
    (lambda: constraints.get("l2"), r"Unknown constraint 'l2'"),
    (lambda: constraints.MaxNorm(max_value="2"), r"MaxNorm: max_value must be a number; "
                                                 r"received '2'"),
    (lambda: constraints.MinMaxNorm(2.0, 1.0), r"min_value must be <= max_value"),
    (lambda: constraints.UnitNorm(axis=1.5), r"UnitNorm: axis must be an int or a list"),
    (lambda: constraints.MaxNorm(axis=2)(np.ones((2, 2))), r"axis=2 is out of range"),
    (lambda: constraints.RadialConstraint()(np.ones((3, 2, 1, 1))), r"rows == cols"),
    (lambda: layers.Dense(2, kernel_constraint="l2"), r"Dense: kernel_constraint: Unknown"),
])
def test_bad_input_is_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# -- layers: every constraint argument reaches its weight --------------------------------------
NN = constraints.NonNeg
LAYER_CASES = [  # (layer, input, {weight attribute or name: constraint argument})
    (lambda **k: layers.Dense(2, **k), (2, 3), ["kernel", "bias"]),
    (lambda **k: layers.Conv2D(2, 3, **k), (1, 4, 4, 2), ["kernel", "bias"]),
    (lambda **k: layers.Conv2DTranspose(2, 3, **k), (1, 4, 4, 2), ["kernel", "bias"]),
    (lambda **k: layers.DepthwiseConv2D(3, **k), (1, 4, 4, 2), ["depthwise", "bias"]),
    (lambda **k: layers.SeparableConv2D(2, 3, **k), (1, 4, 4, 2),
     ["depthwise", "pointwise", "bias"]),
    (lambda **k: layers.Embedding(5, 2, **k), None, ["embeddings"]),
    (lambda **k: layers.BatchNormalization(**k), (2, 3), ["gamma", "beta"]),
    (lambda **k: layers.LayerNormalization(**k), (2, 3), ["gamma", "beta"]),
    (lambda **k: layers.PReLU(**k), (2, 3), ["alpha"]),
    (lambda **k: layers.LSTM(2, **k), (1, 3, 2), ["kernel", "recurrent", "bias"]),
    (lambda **k: layers.GRU(2, **k), (1, 3, 2), ["kernel", "recurrent", "bias"]),
    (lambda **k: layers.SimpleRNN(2, **k), (1, 3, 2), ["kernel", "recurrent", "bias"]),
]


def _prefix(weight):
    base = weight.name.rsplit("/", 1)[-1]
    return {"recurrent_kernel": "recurrent", "depthwise_kernel": "depthwise",
            "pointwise_kernel": "pointwise"}.get(base, base)


@pytest.mark.parametrize("case", range(len(LAYER_CASES)), ids=lambda i: str(i))
def test_each_constraint_argument_reaches_its_weight_and_config(case):
    make, shape, prefixes = LAYER_CASES[case]
    given = {p: constraints.MaxNorm(1.0 + i) for i, p in enumerate(prefixes)}
    layer = make(**{f"{p}_constraint": c for p, c in given.items()})
    layer(np.zeros(shape, np.float32) if shape else np.zeros((1, 2), np.int32))
    seen = set()
    for w in layer.weights:
        prefix = _prefix(w)
        if prefix in given:
            assert w.constraint is given[prefix], w.name
            seen.add(prefix)
        else:
            assert w.constraint is None, w.name  # moving statistics: none
    assert seen == set(given)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert config[f"{prefixes[0]}_constraint"] == {
        "class_name": "MaxNorm", "config": {"max_value": 1.0, "axis": 0}}


def test_multi_head_attention_constraint_and_regularizer_reach_every_projection():
    mha = layers.MultiHeadAttention(2, 3, kernel_constraint="non_neg",
                                    kernel_regularizer=regularizers.L1(1.0))
    q = RNG.normal(size=(1, 4, 5)).astype(np.float32)
    mha(q, q)
    kernels = [w for w in mha.weights if w.name.endswith("kernel")]
    assert len(kernels) == 4 and all(isinstance(w.constraint, NN) for w in kernels)
    np.testing.assert_allclose(sum(float(p) for p in mha.losses),
                               sum(np.abs(w.numpy()).sum() for w in kernels), rtol=1e-5)


def test_add_weight_takes_a_constraint_and_creation_does_not_apply_it():
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight("w", (3,), initializer="ones", constraint="non_neg")

        def call(self, x):
            return x * self.w

    layer = Scale()
    layer(np.zeros((1, 3), np.float32))
    assert isinstance(layer.w.constraint, NN)
    dense = layers.Dense(4, kernel_constraint="non_neg", kernel_initializer="random_normal")
    dense(X)
    assert (dense.kernel.numpy() < 0).any()  # as Keras: only updates are projected


# -- the optimizer applies the constraint after each update ------------------------------------
def _model(constraint, bias_constraint=None):
    model = models.Sequential([layers.Dense(2, input_shape=(3,), kernel_constraint=constraint,
                                            bias_constraint=bias_constraint)])
    model.compile(optimizer=xf.keras.optimizers.SGD(0.5), loss="mse")
    return model


def _sgd_step(w, b, lr=0.5):
    residual = X @ w + b - Y
    grad_w = 2 * X.T @ residual / residual.size
    grad_b = 2 * residual.sum(0) / residual.size
    return w - lr * grad_w, b - lr * grad_b


@pytest.mark.parametrize("constraint, project", [
    (constraints.NonNeg(), lambda w: np.where(w >= 0, w, 0)),
    (constraints.MaxNorm(0.3), lambda w: w * np.clip(_norms(w, 0), 0, 0.3) /
     (EPS + _norms(w, 0))),
    (lambda w: jnp.clip(w, -0.05, 0.05), lambda w: np.clip(w, -0.05, 0.05)),
])
def test_fit_projects_each_update(constraint, project):
    model = _model(constraint, bias_constraint="non_neg")
    w, b = model.get_weights()
    model.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    w1, b1 = _sgd_step(w, b)
    new_w, new_b = model.get_weights()
    np.testing.assert_allclose(new_w, project(w1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_b, np.maximum(b1, 0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("compiled", [False, True])
def test_custom_loops_apply_gradients_and_minimize_project(compiled):
    model = _model(constraints.MaxNorm(0.3))
    dense = model.layers[0]
    optimizer = xf.keras.optimizers.SGD(0.5)

    def loss():
        return jnp.mean((model(X) - Y) ** 2)

    def step():
        _, grads = xf.value_and_grad(loss, wrt=model.trainable_variables)()
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

    def minimize():
        optimizer.minimize(loss, model.trainable_variables)

    for run in (step, minimize):
        w, b = model.get_weights()
        (xf.function(run) if compiled else run)()
        w1, b1 = _sgd_step(w, b)
        expected = w1 * np.clip(_norms(w1, 0), 0, 0.3) / (EPS + _norms(w1, 0))
        np.testing.assert_allclose(dense.kernel.numpy(), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(dense.bias.numpy(), b1, rtol=1e-5, atol=1e-6)


def test_a_constraint_changing_the_shape_is_named():
    model = _model(lambda w: w[0])
    with pytest.raises(ValueError, match=r"returned shape \(2,\); it must keep the "
                                         r"variable's shape \(3, 2\)"):
        model.fit(X, Y, batch_size=8, epochs=1, verbose=0)


def test_constraints_survive_save_and_load(tmp_path):
    model = _model(constraints.MaxNorm(0.3, axis=[0]))
    model.save(tmp_path / "m", platforms=HERE)
    loaded = models.load_model(tmp_path / "m")
    kernel = loaded.layers[0].kernel
    assert isinstance(kernel.constraint, constraints.MaxNorm)
    assert kernel.constraint.get_config() == {"max_value": 0.3, "axis": [0]}
    w, b = loaded.get_weights()
    loaded.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    w1, _ = _sgd_step(w, b)
    np.testing.assert_allclose(loaded.get_weights()[0], w1 * np.clip(_norms(w1, 0), 0, 0.3) /
                               (EPS + _norms(w1, 0)), rtol=1e-5, atol=1e-6)


class _Clip(constraints.Constraint):
    def __init__(self, bound=0.1):
        self.bound = bound

    def __call__(self, w):
        return jnp.clip(w, -self.bound, self.bound)

    def get_config(self):
        return {"bound": self.bound}


def test_a_user_constraint_class_trains_and_loads_with_custom_objects(tmp_path):
    model = _model(_Clip(0.05))
    model.save(tmp_path / "m", platforms=HERE)
    loaded = models.load_model(tmp_path / "m", custom_objects={"_Clip": _Clip})
    assert type(loaded.layers[0].kernel.constraint) is _Clip
    w, b = loaded.get_weights()
    loaded.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(loaded.get_weights()[0], np.clip(_sgd_step(w, b)[0], -0.05, 0.05),
                               rtol=1e-5, atol=1e-6)


def test_a_plain_variables_constraint_is_applied_by_the_optimizer():
    # TF: an optimizer projects any Variable that has a constraint, not only layer weights
    v = xf.Variable([2.0, -1.0], constraint=lambda w: jnp.clip(w, 0.0, 1.0))
    xf.keras.optimizers.SGD(0.1).apply_gradients([(jnp.ones(2), v)])
    np.testing.assert_allclose(v.numpy(), np.clip(np.array([2.0, -1.0]) - 0.1, 0.0, 1.0))
