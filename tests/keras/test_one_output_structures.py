"""compile() structures given per output on a model with ONE output, as Keras 2.12 takes them:
loss=["mse"] or {"<output name>": "mse"}, loss_weights=[w] or {name: w}, metrics=[["mae"]]
(compile_utils.map_to_output_names unwraps a one-output dict; LossesContainer flattens a
list and zips it with the outputs; a key naming no output is refused). Oracle: NumPy."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models

RNG = np.random.default_rng(22)
N = 24
X = RNG.normal(size=(N, 3)).astype(np.float32)
Y = RNG.normal(size=(N, 2)).astype(np.float32)


def functional():
    xf.random.set_global_seed(1)
    inputs = xf.keras.Input((3,))
    return models.Model(inputs, layers.Dense(2, name="out")(inputs))


class OneHead(models.Model):
    """A subclassed model returning one tensor (Keras 2 names its output 'output_1')."""

    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(2)

    def call(self, inputs):
        return self.dense(inputs)


def frozen(model, **options):
    # A zero learning rate keeps the weights: the logs are those of predict()'s outputs
    model.compile(optimizer=xf.keras.optimizers.SGD(0.0), **options)
    return model


def numpy_mse(model):
    p = np.asarray(model.predict(X, verbose=0), np.float64)
    return np.mean((p - Y) ** 2), np.mean(np.abs(p - Y))


@pytest.mark.parametrize("options, factor", [
    (dict(loss=["mse"]), 1.0),
    (dict(loss=("mse",)), 1.0),
    (dict(loss={"out": "mse"}), 1.0),
    (dict(loss="mse", loss_weights=[2.5]), 2.5),
    (dict(loss=["mse"], loss_weights={"out": 0.5}), 0.5),
])
def test_one_entry_losses_and_loss_weights_of_a_functional_model(options, factor):
    model = frozen(functional(), metrics=[["mae"]], **options)
    history = model.fit(X, Y, batch_size=N, epochs=1, verbose=0)
    logs = model.evaluate(X, Y, verbose=0, return_dict=True)
    mse, mae = numpy_mse(model)
    assert list(logs) == ["loss", "mae"]
    np.testing.assert_allclose([history.history["loss"][0], logs["loss"], logs["mae"]],
                               [factor * mse, factor * mse, mae], rtol=1e-5)


def test_one_entry_structures_of_a_subclassed_model_and_a_sequential():
    model = frozen(OneHead(), loss={"output_1": "mse"}, loss_weights=[3.0],
                   metrics=[["mae"]])
    logs = model.evaluate(X, Y, verbose=0, return_dict=True)
    mse, mae = numpy_mse(model)
    np.testing.assert_allclose([logs["loss"], logs["mae"]], [3 * mse, mae], rtol=1e-5)
    seq = frozen(models.Sequential([layers.Dense(2, input_shape=(3,), name="head")]),
                 loss={"head": "mse"}, loss_weights={"head": 2.0})
    mse, _ = numpy_mse(seq)
    np.testing.assert_allclose(seq.evaluate(X, Y, verbose=0), 2 * mse, rtol=1e-5)


def test_a_one_entry_sparse_loss_still_checks_the_labels_before_training():
    model = frozen(functional(), loss=["sparse_categorical_crossentropy"])
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"integer labels in \[0, 2\)"):
        model.fit(X, np.full((N,), 5), verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("options, message", [
    (dict(loss={"typo": "mse"}), r"loss has keys \['typo'\] that name no model output"),
    (dict(loss="mse", loss_weights={"typo": 2.0}), r"loss_weights has keys \['typo'\]"),
    (dict(loss=["mse", "mae"]), r"loss has 2 entries for a model with 1 outputs"),
    (dict(loss="mse", loss_weights=[1.0, 2.0]), r"loss_weights has 2 entries"),
])
def test_structures_that_do_not_fit_one_output_are_refused_at_compile(options, message):
    with pytest.raises(ValueError, match=message):
        functional().compile(optimizer="sgd", **options)


def test_a_compile_config_with_one_entry_lists_survives_save_and_load(tmp_path):
    model = frozen(functional(), loss=["mse"], loss_weights=[2.0], metrics=[["mae"]])
    before = model.evaluate(X, Y, verbose=0, return_dict=True)
    model.save(tmp_path / "m")
    loaded = xf.keras.models.load_model(tmp_path / "m")
    assert loaded.loss == ["mse"]
    after = loaded.evaluate(X, Y, verbose=0, return_dict=True)
    np.testing.assert_allclose([after["loss"], after["mae"]],
                               [before["loss"], before["mae"]], rtol=1e-6)
