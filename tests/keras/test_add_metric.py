"""Layer.add_metric / Model.add_metric (Keras 2) are refused with the supported ways to log
a value: compile(metrics=...) or a custom train_step returning it. Nothing trains first."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import Input, layers, models

X = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
Y = X.sum(1, keepdims=True)


class LogsItsMean(layers.Layer):
    def call(self, inputs):
        self.add_metric(xf.reduce_mean(inputs), name="activation_mean")
        return inputs


REFUSAL = (r"add_metric\(name='activation_mean'\) is not implemented: .*"
           r"compile\(metrics=\.\.\.\).*custom train_step")


def test_a_layer_calling_add_metric_says_what_to_use_instead():
    inputs = Input((3,))
    with pytest.raises(NotImplementedError, match=REFUSAL):  # the functional call runs it
        models.Model(inputs, layers.Dense(1)(LogsItsMean()(inputs)))
    model = models.Sequential([LogsItsMean(), layers.Dense(1)])  # a deferred build
    model.compile("sgd", "mse")
    with pytest.raises(NotImplementedError, match=REFUSAL):
        model.fit(X, Y, epochs=1, verbose=0)


def test_model_add_metric_is_refused_too():
    model = models.Sequential([Input((3,)), layers.Dense(1)])
    with pytest.raises(NotImplementedError, match="compile\\(metrics=...\\)"):
        model.add_metric(xf.constant(1.0), name="one")
