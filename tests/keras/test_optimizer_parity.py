"""Optimizers against plain-NumPy oracles of Keras' (2.11+) documented update rules.

The oracles are written here in float64 from Keras' update_step formulas, not from optax:
Keras puts RMSprop's epsilon inside the square root, folds Adam's bias correction into the
rate and adds epsilon after sqrt(v), and accumulates learning-rate-scaled steps in momentum.
"""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import backend, mixed_precision, optimizers
from xlaflow.keras.optimizers import schedules

RNG = np.random.default_rng(0)
W0 = RNG.normal(size=3).astype(np.float32)
# Shrinking gradients: where epsilon's placement and amsgrad's max matter.
GRADS = [(RNG.normal(size=3) * s).astype(np.float32) for s in (1.0, 0.5, 0.1, 1e-2, 1e-3, 1e-4)]


def ours(opt, grads=GRADS):
    v = xf.Variable(W0.copy())
    for g in grads:
        opt.apply_gradients([(g, v)])
    return np.asarray(v.numpy(), np.float64)


def rates(lr, n):
    return [lr(t) for t in range(n)] if callable(lr) else [lr] * n


def sgd(lr, momentum=0.0, nesterov=False, grads=GRADS):
    w, m = W0.astype(np.float64), np.zeros(3)
    for g, lr_t in zip(grads, rates(lr, len(grads))):
        if momentum:
            m = momentum * m - lr_t * g
            w = w + (momentum * m - lr_t * g if nesterov else m)
        else:
            w = w - lr_t * g
    return w


def adam(lr, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False, wd=None, grads=GRADS):
    w, m, v, v_hat = W0.astype(np.float64), np.zeros(3), np.zeros(3), np.zeros(3)
    for t, (g, lr_t) in enumerate(zip(grads, rates(lr, len(grads))), 1):
        if wd:
            w = w - lr_t * wd * w
        alpha = lr_t * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        if amsgrad:
            v_hat = np.maximum(v_hat, v)
            w = w - alpha * m / (np.sqrt(v_hat) + eps)
        else:
            w = w - alpha * m / (np.sqrt(v) + eps)
    return w


def rmsprop(lr, rho=0.9, momentum=0.0, eps=1e-7, centered=False, grads=GRADS):
    w, vel, avg, mom = W0.astype(np.float64), np.zeros(3), np.zeros(3), np.zeros(3)
    for g, lr_t in zip(grads, rates(lr, len(grads))):
        vel = rho * vel + (1 - rho) * g * g
        if centered:
            avg = rho * avg + (1 - rho) * g
            increment = lr_t * g / np.sqrt(vel - avg * avg + eps)
        else:
            increment = lr_t * g / np.sqrt(vel + eps)
        if momentum:
            mom = momentum * mom + increment
            w = w - mom
        else:
            w = w - increment
    return w


def adagrad(lr, init=0.1, eps=1e-7, grads=GRADS):
    w, acc = W0.astype(np.float64), np.full(3, init)
    for g in grads:
        acc = acc + g * g
        w = w - lr * g / np.sqrt(acc + eps)
    return w


def adamax(lr, b1=0.9, b2=0.999, eps=1e-7, grads=GRADS):
    w, m, u = W0.astype(np.float64), np.zeros(3), np.zeros(3)
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g))
        w = w - lr * m / ((1 - b1 ** t) * (u + eps))
    return w


def nadam(lr, b1=0.9, b2=0.999, eps=1e-7, grads=GRADS):
    w, m, v, product = W0.astype(np.float64), np.zeros(3), np.zeros(3), 1.0
    for t, g in enumerate(grads, 1):
        u_t, u_next = b1 * (1 - 0.5 * 0.96 ** t), b1 * (1 - 0.5 * 0.96 ** (t + 1))
        product_t = product * u_t
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = u_next * m / (1 - product_t * u_next) + (1 - u_t) * g / (1 - product_t)
        v_hat = v / (1 - b2 ** t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        product = product_t
    return w


PIECEWISE = schedules.PiecewiseConstantDecay([1, 3], [0.1, 0.01, 0.001])


def piecewise(t):
    return 0.1 if t <= 1 else 0.01 if t <= 3 else 0.001


CASES = {
    "sgd": (lambda: optimizers.SGD(0.1), lambda: sgd(0.1)),
    "sgd_momentum": (lambda: optimizers.SGD(0.1, momentum=0.9), lambda: sgd(0.1, 0.9)),
    "sgd_nesterov": (lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                     lambda: sgd(0.1, 0.9, True)),
    "sgd_momentum_schedule": (lambda: optimizers.SGD(PIECEWISE, momentum=0.9),
                              lambda: sgd(piecewise, 0.9)),
    "sgd_nesterov_schedule": (lambda: optimizers.SGD(PIECEWISE, momentum=0.9, nesterov=True),
                              lambda: sgd(piecewise, 0.9, True)),
    "adam": (lambda: optimizers.Adam(0.01), lambda: adam(0.01)),
    "adam_eps_1": (lambda: optimizers.Adam(0.01, epsilon=1.0), lambda: adam(0.01, eps=1.0)),
    "adam_eps_1e-3": (lambda: optimizers.Adam(0.01, epsilon=1e-3),
                      lambda: adam(0.01, eps=1e-3)),
    "adam_amsgrad": (lambda: optimizers.Adam(0.01, amsgrad=True),
                     lambda: adam(0.01, amsgrad=True)),
    "adam_amsgrad_eps": (lambda: optimizers.Adam(0.01, amsgrad=True, epsilon=1e-2),
                         lambda: adam(0.01, amsgrad=True, eps=1e-2)),
    "adamw": (lambda: optimizers.AdamW(0.01, weight_decay=0.1, epsilon=1e-3),
              lambda: adam(0.01, wd=0.1, eps=1e-3)),
    "adamw_schedule": (lambda: optimizers.AdamW(PIECEWISE, weight_decay=0.5),
                       lambda: adam(piecewise, wd=0.5)),
    "rmsprop": (lambda: optimizers.RMSprop(0.01), lambda: rmsprop(0.01)),
    "rmsprop_eps": (lambda: optimizers.RMSprop(0.01, epsilon=0.1),
                    lambda: rmsprop(0.01, eps=0.1)),
    "rmsprop_centered": (lambda: optimizers.RMSprop(0.01, centered=True, epsilon=0.1),
                         lambda: rmsprop(0.01, centered=True, eps=0.1)),
    "rmsprop_momentum_schedule": (
        lambda: optimizers.RMSprop(PIECEWISE, momentum=0.9, epsilon=1e-3),
        lambda: rmsprop(piecewise, momentum=0.9, eps=1e-3)),
    "rmsprop_all": (
        lambda: optimizers.RMSprop(0.01, rho=0.8, momentum=0.5, centered=True, epsilon=1e-2),
        lambda: rmsprop(0.01, rho=0.8, momentum=0.5, centered=True, eps=1e-2)),
    "adagrad": (lambda: optimizers.Adagrad(0.1, epsilon=0.5), lambda: adagrad(0.1, eps=0.5)),
    "adamax": (lambda: optimizers.Adamax(0.01, epsilon=1e-3), lambda: adamax(0.01, eps=1e-3)),
    "nadam": (lambda: optimizers.Nadam(0.01, epsilon=1e-3), lambda: nadam(0.01, eps=1e-3)),
}


def check_rule(make, oracle):
    """The optimizer `make()` moves W0 along GRADS as the NumPy `oracle()` does."""
    expected = oracle()
    got = ours(make())
    # Relative to how far the weights moved, so a misplaced epsilon cannot hide.
    np.testing.assert_allclose(got - W0, expected - W0, rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize("name", sorted(CASES))
def test_update_rule_matches_keras(name):
    check_rule(*CASES[name])


def test_by_name():
    assert type(optimizers.get("nadam")) is optimizers.Nadam
    assert type(optimizers.get("Adamax")) is optimizers.Adamax
    assert type(optimizers.get(optimizers.Adam)) is optimizers.Adam


def test_learning_rate_change_does_not_rescale_past_momentum():
    # Keras: momentum holds lr-scaled steps, so a rate of 0 stops new steps only.
    v = xf.Variable(np.zeros(1, np.float32))
    opt = optimizers.SGD(1.0, momentum=0.9)
    opt.apply_gradients([(np.float32([1.0]), v)])  # m = -1, w = -1
    opt.learning_rate = 0.0
    opt.apply_gradients([(np.float32([1.0]), v)])  # m = -0.9, w = -1.9
    np.testing.assert_allclose(v.numpy(), [-1.9], rtol=1e-6)
    r = xf.Variable(np.zeros(1, np.float32))
    rms = optimizers.RMSprop(1.0, momentum=0.5, epsilon=0.0, rho=0.0)
    rms.apply_gradients([(np.float32([1.0]), r)])  # mom = 1, w = -1
    rms.learning_rate.assign(0.0)
    rms.apply_gradients([(np.float32([1.0]), r)])  # mom = 0.5, w = -1.5
    np.testing.assert_allclose(r.numpy(), [-1.5], rtol=1e-6)


def test_compiled_step_learning_rate_assignment_does_not_retrace():
    opt = optimizers.SGD(1.0, momentum=0.5)
    w = xf.Variable(0.0)
    step = xf.function(lambda g: opt.apply_gradients([(g, w)]))
    step(np.float32(1.0))  # m = -1
    backend.set_value(opt.learning_rate, 0.5)
    step(np.float32(1.0))  # m = -0.5 - 0.5 = -1
    np.testing.assert_allclose(w.numpy(), -2.0, rtol=1e-6)
    assert step.tracing_count == 1
    assert backend.get_value(opt.lr) == np.float32(0.5)


# -- variables: None gradients, subsets, unknown ones ---------------------------------------
def _pair():
    return xf.Variable(np.ones(2, np.float32), name="a"), \
        xf.Variable(np.ones(2, np.float32), name="b")


G = np.ones(2, np.float32)


def test_none_gradient_after_building_for_all_skips_that_variable():
    a, b = _pair()
    opt = optimizers.SGD(0.1, momentum=0.5)
    opt.apply_gradients([(G, a), (G, b)])
    with pytest.warns(UserWarning, match=r"gradients do not exist for variables \['a'\]"):
        opt.apply_gradients([(None, a), (G, b)])
    np.testing.assert_allclose(a.numpy(), [0.9, 0.9], rtol=1e-6)
    np.testing.assert_allclose(b.numpy(), [1 - 0.1 - 0.15] * 2, rtol=1e-6)
    assert int(opt.iterations.numpy()) == 2


def test_first_call_with_a_none_gradient_builds_for_every_variable():
    a, b = _pair()
    opt = optimizers.Adam(0.1)
    with pytest.warns(UserWarning):
        opt.apply_gradients([(None, a), (G, b)])
    opt.apply_gradients([(G, a), (G, b)])  # a's slots exist: no error
    # a's first update is the optimizer's step t = 2 (Keras: the bias correction follows
    # `iterations`), from zero moments.
    alpha = 0.1 * np.sqrt(1 - 0.999 ** 2) / (1 - 0.9 ** 2)
    expected = 1.0 - alpha * 0.1 / (np.sqrt(0.001) + 1e-7)
    np.testing.assert_allclose(a.numpy(), [expected] * 2, rtol=1e-5)


def test_slots_follow_their_variable_in_any_order_or_subset():
    a, b = _pair()
    opt = optimizers.SGD(0.1, momentum=0.9)
    opt.apply_gradients([(G, a), (2 * G, b)])  # m_a = -0.1, m_b = -0.2
    opt.apply_gradients([(2 * G, b), (G, a)])  # m_b = -0.38, m_a = -0.19
    opt.apply_gradients([(G, a)])  # m_a = -0.271
    np.testing.assert_allclose(a.numpy(), [1 - 0.1 - 0.19 - 0.271] * 2, rtol=1e-6)
    np.testing.assert_allclose(b.numpy(), [1 - 0.2 - 0.38] * 2, rtol=1e-6)


def test_unknown_variable_is_a_clear_error():
    a, b = _pair()
    opt = optimizers.Adam()
    opt.apply_gradients([(G, a)])
    with pytest.raises(ValueError, match=r"cannot update \['b'\].*build"):
        opt.apply_gradients([(G, a), (G, b)])
    assert int(opt.iterations.numpy()) == 1


def test_all_none_gradients_raise_before_any_change():
    a, b = _pair()
    opt = optimizers.SGD(0.1)
    with pytest.raises(ValueError, match=r"No gradients provided for any variable: \['a', 'b'\]"):
        opt.apply_gradients([(None, a), (None, b)])
    assert int(opt.iterations.numpy()) == 0 and opt._state is None
    scaled = mixed_precision.LossScaleOptimizer(optimizers.SGD(0.1))
    with pytest.raises(ValueError, match="No gradients provided for any variable"):
        scaled.apply_gradients([(None, a)])


# -- learning rate API ---------------------------------------------------------------------
def test_learning_rate_is_an_assignable_variable_with_lr_alias():
    opt = optimizers.Adam(0.1)
    assert opt.lr is opt.learning_rate
    opt.learning_rate.assign(0.5)
    assert float(opt.learning_rate.numpy()) == 0.5
    opt.lr = 0.25
    assert float(opt.learning_rate) == 0.25
    assert optimizers.Adam(lr=0.3).get_config()["learning_rate"] == pytest.approx(0.3)
    scheduled = optimizers.SGD(schedules.ExponentialDecay(1.0, 1, 0.5))
    with pytest.raises(TypeError, match="schedule"):
        backend.set_value(scheduled.learning_rate, 0.1)
    with pytest.raises(TypeError, match="follows a schedule"):
        scheduled.learning_rate = 0.1


def test_zero_argument_callable_learning_rate():
    rate = xf.Variable(0.1)
    opt = optimizers.SGD(lambda: rate.value)
    w = xf.Variable(np.zeros(1, np.float32))
    opt.apply_gradients([(np.float32([1.0]), w)])
    rate.assign(1.0)
    opt.apply_gradients([(np.float32([1.0]), w)])
    np.testing.assert_allclose(w.numpy(), [-1.1], rtol=1e-6)
    assert float(opt.learning_rate) == pytest.approx(1.0)


def test_keras_config_keys_with_their_defaults_are_accepted():
    config = {"name": "Adam", "learning_rate": 0.001, "weight_decay": None, "clipnorm": None,
              "global_clipnorm": None, "clipvalue": None, "use_ema": False,
              "ema_momentum": 0.99, "ema_overwrite_frequency": None, "jit_compile": True,
              "is_legacy_optimizer": False, "beta_1": 0.9, "beta_2": 0.999,
              "epsilon": 1e-07, "amsgrad": False}
    assert optimizers.Adam.from_config(config).beta_2 == 0.999
    with pytest.raises(NotImplementedError, match="use_ema"):
        optimizers.Adam(use_ema=True)


# -- minimize ------------------------------------------------------------------------------
def test_minimize_with_a_callable_and_with_a_tape():
    w = xf.Variable(np.float32(3.0))
    opt = optimizers.SGD(0.1)
    opt.minimize(lambda: w * w, [w])  # grad 6
    np.testing.assert_allclose(w.numpy(), 2.4, rtol=1e-6)

    @xf.function
    def step():
        with xf.GradientTape() as tape:
            loss = w * w
        opt.minimize(loss, lambda: [w], tape=tape)  # grad 4.8

    step()
    np.testing.assert_allclose(w.numpy(), 2.4 - 0.48, rtol=1e-6)
    with pytest.raises(ValueError, match="tape"):
        opt.minimize(w * w, [w])


# -- loss scaling --------------------------------------------------------------------------
def test_skipped_loss_scale_step_still_counts_in_iterations():
    opt = mixed_precision.LossScaleOptimizer(
        optimizers.SGD(schedules.PiecewiseConstantDecay([0], [1.0, 0.5])), initial_scale=2.0)
    v = xf.Variable(np.ones(2, np.float32))
    opt.apply_gradients([(np.array([np.inf, 1.0], np.float32), v)])
    assert int(opt.iterations.numpy()) == 1  # Keras 2: the skipped step counts
    np.testing.assert_array_equal(v.numpy(), [1.0, 1.0])
    opt.apply_gradients([(np.ones(2, np.float32), v)])  # scale 1 now; lr at step 1: 0.5
    np.testing.assert_allclose(v.numpy(), [0.5, 0.5])
    assert int(opt.iterations.numpy()) == 2


def test_loss_scale_learning_rate_is_the_inner_one():
    inner = optimizers.SGD(0.1)
    opt = mixed_precision.LossScaleOptimizer(inner)
    opt.learning_rate = 0.5
    assert float(inner.learning_rate) == 0.5 and opt.lr is inner.learning_rate


# -- state round trips ---------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda: optimizers.Nadam(0.01),
                                  lambda: optimizers.RMSprop(0.01, momentum=0.9,
                                                             centered=True),
                                  lambda: optimizers.Adam(0.01, amsgrad=True)])
def test_checkpoint_round_trip_continues_identically(make, tmp_path):
    def model_and_opt():
        model = xf.keras.Sequential([xf.keras.layers.Dense(2, input_shape=(3,))])
        model.compile(optimizer=make(), loss="mse")
        return model

    x = RNG.normal(size=(8, 3)).astype(np.float32)
    y = RNG.normal(size=(8, 2)).astype(np.float32)
    model = model_and_opt()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    path = xf.train.Checkpoint(model=model, optimizer=model.optimizer).write(
        str(tmp_path / "c"))
    copy = model_and_opt()
    xf.train.Checkpoint(model=copy, optimizer=copy.optimizer).restore(path)
    for a, b in zip(model.optimizer.variables, copy.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    copy.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), copy.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


# -- schedules: decay_steps and boundaries as given (not truncated) -------------------------
def test_schedules_take_fractional_decay_steps_and_boundaries():
    assert float(schedules.ExponentialDecay(1.0, 2.5, 0.5)(5)) == pytest.approx(0.25)
    assert float(schedules.InverseTimeDecay(1.0, 2.5, 1.0)(5)) == pytest.approx(1 / 3)
    np.testing.assert_allclose(float(schedules.PolynomialDecay(1.0, 2.5, 0.0)(1)), 0.6,
                               rtol=1e-6)
    np.testing.assert_allclose(float(schedules.CosineDecay(1.0, 2.5)(1)),
                               0.5 * (1 + np.cos(np.pi * 1 / 2.5)), rtol=1e-6)
    piecewise = schedules.PiecewiseConstantDecay([2.5], [1.0, 0.5])
    assert [float(piecewise(t)) for t in (2, 3)] == [1.0, 0.5]
    assert piecewise.get_config()["boundaries"] == [2.5]
    config = schedules.ExponentialDecay(1.0, 2.5, 0.5).get_config()
    assert config["decay_steps"] == 2.5


@pytest.mark.parametrize("make", [lambda: schedules.ExponentialDecay(1.0, 0, 0.5),
                                  lambda: schedules.InverseTimeDecay(1.0, -1, 0.5),
                                  lambda: schedules.CosineDecay(1.0, 0),
                                  lambda: schedules.PolynomialDecay(1.0, 0.0)])
def test_non_positive_decay_steps_is_an_error(make):
    with pytest.raises(ValueError, match="decay_steps must be positive"):
        make()


def test_loss_scale_minimize_scales_and_skips_non_finite_steps():
    from xlaflow.keras import mixed_precision
    opt = mixed_precision.LossScaleOptimizer(xf.keras.optimizers.SGD(0.1), initial_scale=4.0)
    z = xf.Variable(np.float32(1.0))
    opt.minimize(lambda: z * jnp.float32(np.nan), [z])
    assert float(z.numpy()) == 1.0 and float(opt.scale.numpy()) == 2.0  # skipped, halved
    opt.minimize(lambda: z * 2.0, [z])
    assert float(z.numpy()) == pytest.approx(0.8)  # 1 - 0.1 * 2, unscaled
    with pytest.raises(NotImplementedError, match="scaled inside the tape"):
        opt.minimize(z * 2.0, [z], tape=object())


def test_build_twice_keeps_the_state_compiled_steps_use():
    v = xf.Variable(np.zeros(2, np.float32))
    opt = xf.keras.optimizers.SGD(0.1, momentum=0.9)

    @xf.function
    def step():
        opt.apply_gradients([(jnp.ones(2), v)])

    step()
    step()
    opt.build([v])  # Keras: a no-op once built
    step()
    m = 0.0
    for _ in range(3):
        m = 0.9 * m - 0.1
    np.testing.assert_allclose(opt.variables[-1].numpy(), [m, m], rtol=1e-6)
    np.testing.assert_allclose(v.numpy(), [-0.561, -0.561], rtol=1e-5)


@pytest.mark.parametrize("bound", ["clipnorm", "clipvalue", "global_clipnorm"])
def test_a_zero_clip_bound_means_no_clipping_as_keras(bound):
    w = xf.Variable(np.zeros(2, np.float32))
    xf.keras.optimizers.SGD(1.0, **{bound: 0.0}).apply_gradients(
        [(np.ones(2, np.float32), w)])
    np.testing.assert_allclose(w.numpy(), [-1.0, -1.0])


def test_setting_a_schedule_on_a_number_rate_names_the_alternative():
    opt = xf.keras.optimizers.Adam()
    with pytest.raises(TypeError, match="create the optimizer with learning_rate=<the "
                                        "schedule>"):
        opt.learning_rate = xf.keras.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5)
    opt.learning_rate = 0.5
    assert float(opt.learning_rate.numpy()) == 0.5
