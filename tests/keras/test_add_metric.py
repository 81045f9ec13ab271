"""Layer.add_metric / Model.add_metric (Keras 2) inside call: fit and evaluate average the
value into a Mean named `name` (all its elements, per call, as Keras 2's Mean), logged after
the compiled metrics and as `val_<name>`, reset each epoch. Oracles: NumPy means of the
values over the batches fit cuts (shuffle=False), and closed forms for a counter."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import Input, layers, models

X = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
Y = X.sum(1, keepdims=True)


class LogsItsMean(layers.Layer):
    """Adds the batch's mean (one scalar per batch) and its first column (per example)."""

    def call(self, inputs):
        self.add_metric(xf.reduce_mean(inputs), name="activation_mean")
        self.add_metric(inputs[:, 0], name="first_column")
        return inputs


def _batches(x, size):
    return [x[i:i + size] for i in range(0, len(x), size)]


def _model(**compile_args):
    model = models.Sequential([Input((3,)), LogsItsMean(), layers.Dense(1)])
    model.compile("sgd", "mse", **compile_args)
    return model


@pytest.mark.parametrize("compile_args", [{}, {"steps_per_execution": 2},
                                          {"run_eagerly": True}])
def test_fit_logs_the_epoch_mean_of_the_added_values(compile_args):
    model = _model(**compile_args)
    val = X[:7]
    history = model.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0,
                        validation_data=(val, Y[:7])).history
    assert list(history) == ["loss", "activation_mean", "first_column", "val_loss",
                             "val_activation_mean", "val_first_column"]
    # A scalar counts once per batch: the mean of the batch means (4, 4, 2 rows)...
    batch_means = np.mean([b.mean() for b in _batches(X, 4)])
    np.testing.assert_allclose(history["activation_mean"], [batch_means] * 2, rtol=1e-6)
    # ...a per-example tensor once per example.
    np.testing.assert_allclose(history["first_column"], [X[:, 0].mean()] * 2, rtol=1e-6)
    np.testing.assert_allclose(history["val_activation_mean"],
                               [np.mean([b.mean() for b in _batches(val, 4)])] * 2, rtol=1e-6)
    np.testing.assert_allclose(history["val_first_column"], [val[:, 0].mean()] * 2, rtol=1e-6)
    logs = model.evaluate(X, Y, batch_size=3, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["activation_mean"],
                               np.mean([b.mean() for b in _batches(X, 3)]), rtol=1e-6)
    assert model.metrics_names == ["loss", "activation_mean", "first_column"]


class CountsItsCalls(layers.Layer):
    """Adds how many training calls it has had: 1, 2, 3, ... over fit's steps."""

    def build(self, input_shape):
        self.calls = xf.Variable(0.0, trainable=False)

    def call(self, inputs, training=None):
        if training:
            self.calls.assign_add(1.0)
            self.add_metric(self.calls.value, name="calls")
        return inputs


def test_the_means_restart_each_epoch_and_evaluate_has_its_own():
    model = models.Sequential([Input((3,)), CountsItsCalls(), layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["mae"])
    history = model.fit(X, Y, batch_size=4, epochs=3, shuffle=False, verbose=0).history
    # 3 steps an epoch: calls 1..3, 4..6, 7..9 (never reset: 2, 3.5, 5)
    assert history["calls"] == [2.0, 5.0, 8.0]
    assert list(history) == ["loss", "mae", "calls"]  # after the compiled metrics
    # Added in training only: evaluate logs the name with an empty mean, as Keras 2 does.
    assert model.evaluate(X, Y, verbose=0, return_dict=True)["calls"] == 0.0


def test_a_model_called_outside_fit_records_nothing():
    model = _model()
    model.fit(X, Y, batch_size=5, epochs=1, shuffle=False, verbose=0)
    before = [float(m.result()) for m in model.metrics]
    model(X * 100.0)  # eagerly, outside any step
    xf.function(lambda x: model(x))(X * 100.0)  # and compiled, outside fit
    model.predict(X * 100.0, verbose=0)
    assert [float(m.result()) for m in model.metrics] == before


class CustomStep(models.Model):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(1)

    def call(self, inputs, training=None):
        self.add_metric(xf.reduce_sum(inputs), name="total")
        return self.dense(inputs)

    def train_step(self, data):
        x, y = data
        with xf.GradientTape() as tape:
            loss = self.compiled_loss(y, self(x, training=True))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {m.name: m.result() for m in self.metrics}


def test_a_custom_train_step_sees_the_added_metric_in_model_metrics():
    model = CustomStep()
    model.compile("sgd", "mse")
    history = model.fit(X, Y, batch_size=4, shuffle=False, verbose=0).history
    np.testing.assert_allclose(history["total"], np.mean([b.sum() for b in _batches(X, 4)]),
                               rtol=1e-5)


def test_a_functional_model_of_an_adding_layer_trains_and_logs_it():
    inputs = Input((3,))
    model = models.Model(inputs, layers.Dense(1)(LogsItsMean()(inputs)))
    model.compile("sgd", "mse")
    history = model.fit(X, Y, batch_size=10, verbose=0).history
    np.testing.assert_allclose(history["activation_mean"], [X.mean()], rtol=1e-6)


class Adds(layers.Layer):
    def __init__(self, name_to_add, aggregation="mean", **kwargs):
        super().__init__(**kwargs)
        self.name_to_add, self.aggregation = name_to_add, aggregation

    def call(self, inputs):
        self.add_metric(xf.reduce_mean(inputs), name=self.name_to_add,
                        aggregation=self.aggregation)
        return inputs


def _refused_before_training(make_layers, error, match):
    """Refused when a model built from Input runs the layers, and by fit for a model
    built from its data (a deferred build), before a step runs."""
    with pytest.raises(error, match=match):
        models.Sequential([Input((3,)), *make_layers(), layers.Dense(1)])
    model = models.Sequential([*make_layers(), layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["mae"])
    with pytest.raises(error, match=match):
        model.fit(X, Y, verbose=0)
    assert int(model.optimizer.iterations) == 0


def test_a_name_added_twice_in_one_forward_pass_is_refused():
    _refused_before_training(lambda: [Adds("m", name="a"), Adds("m", name="b")],
                             ValueError, r"metric 'm' was already added in this call of "
                             r"the model \(by a\)")


@pytest.mark.parametrize("taken", ["loss", "mae"])
def test_a_name_of_the_loss_or_a_compiled_metric_is_refused(taken):
    model = models.Sequential([Input((3,)), Adds(taken), layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["mae"])
    weights = model.get_weights()
    with pytest.raises(ValueError, match=f"names \\['{taken}'\\].*already log names"):
        model.fit(X, Y, verbose=0)
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("aggregation", ["sum", None])
def test_aggregations_other_than_mean_say_what_to_use(aggregation):
    _refused_before_training(lambda: [Adds("m", aggregation)], NotImplementedError,
                             r"only aggregation='mean'.*custom train_step")


def test_a_metric_needs_a_name_and_a_call():
    _refused_before_training(lambda: [Adds(None)], ValueError,
                             r"expected a name .* received name=None")
    model = models.Sequential([Input((3,)), layers.Dense(1)])
    with pytest.raises(ValueError, match="outside any call"):
        model.add_metric(xf.constant(1.0), name="one")


def test_a_layers_add_metric_of_a_symbolic_tensor_is_refused():
    inputs = Input((3,))
    with pytest.raises(NotImplementedError, match="symbolic.*from the call\\(\\) of a layer"):
        layers.Dense(1).add_metric(inputs, name="inputs")  # a functional model takes them


def test_add_metric_inside_a_loop_body_of_call_is_refused_naming_the_way_out():
    # A value traced in lax.scan's body cannot reach the step's Mean: JAX raised
    # UnexpectedTracerError from deep inside fit
    import jax

    class InScan(layers.Layer):
        def call(self, inputs):
            def body(carry, column):
                self.add_metric(xf.reduce_mean(column), name="column_mean")
                return carry + column, None
            total, _ = jax.lax.scan(body, inputs[:, 0] * 0, inputs.T)
            return total[:, None]

    model = models.Sequential([Input((3,)), InScan(), layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(NotImplementedError, match=r"add_metric\(name='column_mean'\) inside a "
                       r"tensor loop.*call add_metric on it afterwards"):
        model.fit(X, Y, batch_size=5, verbose=0)
