"""One loss given to compile() for a model with several outputs, as tf.keras 2: it applies to
every output, the total is their (weighted) sum, each output's loss is logged as
'<output>_loss' ('output_1', ... for a subclassed model); checked against NumPy and jax.grad."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models

RNG = np.random.default_rng(3)
N = 32
X = RNG.normal(size=(N, 4)).astype(np.float32)
Y1 = RNG.normal(size=(N, 2)).astype(np.float32)
Y2 = RNG.normal(size=(N, 3)).astype(np.float32)


class TwoHeads(models.Model):
    """A subclassed model returning two outputs (a tuple, or a dict when `as_dict`)."""

    def __init__(self, as_dict=False):
        super().__init__()
        self.as_dict = as_dict
        self.first = layers.Dense(2)
        self.second = layers.Dense(3)

    def call(self, inputs):
        a, b = self.first(inputs), self.second(inputs)
        return {"wide": b, "narrow": a} if self.as_dict else (a, b)


def functional():
    inputs = xf.keras.Input((4,))
    return models.Model(inputs, [layers.Dense(2, name="d1")(inputs),
                                 layers.Dense(3, name="d2")(inputs)])


def mse(y, p):
    return float(np.mean((np.asarray(p, np.float64) - y) ** 2))


def mae(y, p):
    return float(np.mean(np.abs(np.asarray(p, np.float64) - y)))


def frozen(model, **options):
    # A zero learning rate keeps the weights, so that the logs are the losses of predict()
    model.compile(optimizer=xf.keras.optimizers.SGD(0.0), **options)
    return model


def test_a_subclassed_model_applies_one_loss_to_each_output_and_sums_them():
    xf.random.set_global_seed(0)
    model = frozen(TwoHeads(), loss="mse")
    history = model.fit(X, [Y1, Y2], batch_size=8, epochs=2, verbose=0,
                        validation_data=(X, [Y1, Y2]))
    assert list(history.history) == ["loss", "output_1_loss", "output_2_loss", "val_loss",
                                     "val_output_1_loss", "val_output_2_loss"]
    p1, p2 = model.predict(X, verbose=0)
    l1, l2 = mse(Y1, p1), mse(Y2, p2)
    logs = model.evaluate(X, [Y1, Y2], batch_size=8, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "output_1_loss", "output_2_loss"]
    np.testing.assert_allclose([logs["loss"], logs["output_1_loss"], logs["output_2_loss"]],
                               [l1 + l2, l1, l2], rtol=1e-5)
    np.testing.assert_allclose(history.history["val_loss"], [l1 + l2] * 2, rtol=1e-5)
    # evaluate's list form: Keras 2's order, the total first
    np.testing.assert_allclose(model.evaluate(X, [Y1, Y2], verbose=0), [l1 + l2, l1, l2],
                               rtol=1e-5)


def test_a_functional_model_with_one_loss_object_logs_each_named_output():
    xf.random.set_global_seed(1)
    model = frozen(functional(), loss=xf.keras.losses.MeanAbsoluteError(),
                   loss_weights=[1.0, 0.5])
    history = model.fit(X, [Y1, Y2], batch_size=16, verbose=0)
    assert list(history.history) == ["loss", "d1_loss", "d2_loss"]
    p1, p2 = model.predict(X, verbose=0)
    l1, l2 = mae(Y1, p1), mae(Y2, p2)
    logs = model.evaluate(X, [Y1, Y2], verbose=0, return_dict=True)
    # the per-output logs are unweighted; the total carries the loss weights
    np.testing.assert_allclose([logs["loss"], logs["d1_loss"], logs["d2_loss"]],
                               [l1 + 0.5 * l2, l1, l2], rtol=1e-5)


def test_metrics_and_loss_weights_for_a_subclassed_model_with_one_loss():
    xf.random.set_global_seed(2)
    model = frozen(TwoHeads(), loss="mse", loss_weights=[2.0, 1.0], metrics=["mae"])
    logs = model.evaluate(X, [Y1, Y2], batch_size=8, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "output_1_loss", "output_2_loss", "output_1_mae",
                          "output_2_mae"]
    p1, p2 = model.predict(X, verbose=0)
    np.testing.assert_allclose(
        [logs["loss"], logs["output_1_loss"], logs["output_2_loss"], logs["output_1_mae"],
         logs["output_2_mae"]],
        [2 * mse(Y1, p1) + mse(Y2, p2), mse(Y1, p1), mse(Y2, p2), mae(Y1, p1), mae(Y2, p2)],
        rtol=1e-5)


def test_dict_outputs_are_named_by_their_sorted_keys():
    xf.random.set_global_seed(3)
    model = frozen(TwoHeads(as_dict=True), loss="mse")
    labels = {"narrow": Y1, "wide": Y2}
    logs = model.evaluate(X, labels, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "narrow_loss", "wide_loss"]
    out = model.predict(X, verbose=0)
    l1, l2 = mse(Y1, out["narrow"]), mse(Y2, out["wide"])
    np.testing.assert_allclose([logs["loss"], logs["narrow_loss"], logs["wide_loss"]],
                               [l1 + l2, l1, l2], rtol=1e-5)


def test_one_training_step_descends_the_sum_of_the_output_losses():
    """The gradient is that of loss_1 + loss_2, written out in jax.numpy."""
    xf.random.set_global_seed(4)
    model = TwoHeads()
    model.compile(optimizer=xf.keras.optimizers.SGD(0.1), loss="mse")
    model.build((None, 4))
    k1, b1, k2, b2 = [jnp.asarray(w) for w in model.get_weights()]

    def total(params):
        k1, b1, k2, b2 = params
        return jnp.mean((X @ k1 + b1 - Y1) ** 2) + jnp.mean((X @ k2 + b2 - Y2) ** 2)

    params = (k1, b1, k2, b2)
    grads = jax.grad(total)(params)
    logs = model.train_on_batch(X, [Y1, Y2], return_dict=True)
    np.testing.assert_allclose(logs["loss"], float(total(params)), rtol=1e-5)
    for got, p, g in zip(model.get_weights(), params, grads):
        np.testing.assert_allclose(got, p - 0.1 * g, rtol=1e-5, atol=1e-6)


def test_a_custom_train_step_sees_the_per_output_loss_through_compiled_loss():
    class Custom(TwoHeads):
        def train_step(self, data):
            x, y = data
            with xf.GradientTape() as tape:
                loss = self.compiled_loss(y, self(x, training=True))
            self.optimizer.apply_gradients(zip(tape.gradient(
                loss, self.trainable_variables), self.trainable_variables))
            return {"loss": loss}

    xf.random.set_global_seed(5)
    model = frozen(Custom(), loss="mse")
    logs = model.fit(X, [Y1, Y2], batch_size=N, verbose=0).history
    p1, p2 = model.predict(X, verbose=0)
    np.testing.assert_allclose(logs["loss"], [mse(Y1, p1) + mse(Y2, p2)], rtol=1e-5)


def test_loss_weights_that_do_not_fit_the_outputs_are_refused_before_training():
    xf.random.set_global_seed(6)
    model = TwoHeads()
    model.compile(optimizer="sgd", loss="mse", loss_weights=[1.0, 2.0, 3.0])
    model(X[:1])  # builds the weights; the outputs are named (and checked) by fit
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"loss_weights has 3 entries for a model with 2 "
                                         r"outputs \['output_1', 'output_2'\]"):
        model.fit(X, [Y1, Y2], verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
