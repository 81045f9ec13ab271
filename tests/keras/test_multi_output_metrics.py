"""compile(metrics=..., weighted_metrics=...) on models with several outputs, as Keras 2:
per-output metrics named '<output>_<metric>', checked against NumPy over whole epochs."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models

RNG = np.random.default_rng(11)
N = 64
X = RNG.normal(size=(N, 6)).astype(np.float32)
Y_CLS = RNG.integers(0, 3, size=N).astype(np.int32)
Y_BIN = RNG.integers(0, 2, size=(N, 1)).astype(np.float32)
W = RNG.uniform(0.1, 3.0, size=N).astype(np.float32)


def two_heads(seed=5):
    """A classifier head 'cls' (3 classes) and a binary head 'bin'."""
    xf.random.set_global_seed(seed)
    inputs = xf.keras.Input((6,))
    hidden = layers.Dense(8, activation="tanh")(inputs)
    cls = layers.Dense(3, activation="softmax", name="cls")(hidden)
    binary = layers.Dense(1, activation="sigmoid", name="bin")(hidden)
    return models.Model(inputs, [cls, binary])


def compile_frozen(model, **options):
    # A zero learning rate keeps the weights: fit's epoch metrics are then the metrics of
    # predict() over the whole data set, which NumPy computes independently.
    options.setdefault("loss", ["sparse_categorical_crossentropy", "binary_crossentropy"])
    model.compile(optimizer=xf.keras.optimizers.SGD(0.0), **options)
    return model


def predictions(model):
    cls, binary = model.predict(X, verbose=0)
    return np.asarray(cls, np.float64), np.asarray(binary, np.float64)


def crossentropies(cls, binary):
    p = np.clip(binary, 1e-7, 1 - 1e-7)
    per_cls = -np.log(np.clip(cls[np.arange(N), Y_CLS], 1e-7, 1))
    per_bin = -(Y_BIN * np.log(p) + (1 - Y_BIN) * np.log(1 - p))[:, 0]
    return per_cls, per_bin


def accuracies(cls, binary):
    return ((cls.argmax(-1) == Y_CLS).astype(np.float64),
            ((binary > 0.5) == Y_BIN).astype(np.float64)[:, 0])


def test_a_flat_list_applies_to_every_output_with_accuracy_resolved_per_loss():
    model = compile_frozen(two_heads(), metrics=["accuracy"])
    history = model.fit(X, [Y_CLS, Y_BIN], epochs=2, batch_size=16, verbose=0)
    assert model.metrics_names == ["loss", "cls_loss", "bin_loss", "cls_accuracy",
                                   "bin_accuracy"]
    assert list(history.history) == model.metrics_names
    cls, binary = predictions(model)
    acc_cls, acc_bin = accuracies(cls, binary)
    per_cls, per_bin = crossentropies(cls, binary)
    expected = [per_cls.mean() + per_bin.mean(), per_cls.mean(), per_bin.mean(),
                acc_cls.mean(), acc_bin.mean()]
    for name, value in zip(model.metrics_names, expected):
        np.testing.assert_allclose(history.history[name][-1], value, rtol=1e-4, err_msg=name)
    # evaluate returns [loss, each output's loss..., each output's metrics...] as Keras 2
    np.testing.assert_allclose(model.evaluate(X, [Y_CLS, Y_BIN], batch_size=10, verbose=0),
                               expected, rtol=1e-4)


def test_lists_of_lists_weighted_metrics_by_name_and_per_output_sample_weights():
    model = compile_frozen(two_heads(), metrics=[["accuracy"], ["mse", "accuracy"]],
                           weighted_metrics={"bin": ["mse"]})
    logs = model.evaluate(X, {"cls": Y_CLS, "bin": Y_BIN}, sample_weight={"bin": W},
                          batch_size=16, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "cls_loss", "bin_loss", "cls_accuracy", "bin_mse",
                          "bin_accuracy", "bin_weighted_mse"]
    cls, binary = predictions(model)
    acc_cls, acc_bin = accuracies(cls, binary)
    per_cls, per_bin = crossentropies(cls, binary)
    squared = (binary[:, 0] - Y_BIN[:, 0]) ** 2
    # only 'bin' is weighted; its loss sums weighted terms over the examples (Keras 2's
    # sum_over_batch_size), its weighted metric divides by the weights
    np.testing.assert_allclose(
        [logs[k] for k in logs],
        [per_cls.mean() + (per_bin * W).sum() / N, per_cls.mean(), (per_bin * W).sum() / N,
         acc_cls.mean(), squared.mean(), acc_bin.mean(), (squared * W).sum() / W.sum()],
        rtol=1e-4)


def test_a_dict_of_metrics_leaves_other_outputs_without_and_loss_weights_by_name():
    both = ["accuracy", "sparse_categorical_accuracy"]
    model = compile_frozen(two_heads(), metrics={"cls": both},
                           loss_weights={"cls": 0.25, "bin": 2.0})
    logs = model.evaluate(X, [Y_CLS, Y_BIN], batch_size=16, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "cls_loss", "bin_loss", "cls_accuracy",
                          "cls_sparse_categorical_accuracy"]
    cls, binary = predictions(model)
    acc_cls, _ = accuracies(cls, binary)
    per_cls, per_bin = crossentropies(cls, binary)
    np.testing.assert_allclose(
        list(logs.values()),
        [0.25 * per_cls.mean() + 2.0 * per_bin.mean(), per_cls.mean(), per_bin.mean(),
         acc_cls.mean(), acc_cls.mean()], rtol=1e-4)


def test_accuracy_from_shapes_and_one_metric_object_copied_per_output():
    xf.random.set_global_seed(2)
    inputs = xf.keras.Input((6,))
    onehot = layers.Dense(3, activation="softmax", name="onehot")(inputs)
    score = layers.Dense(1, name="score")(inputs)
    model = models.Model(inputs, [onehot, score])
    y_onehot = np.eye(3, dtype=np.float32)[Y_CLS]
    y_score = Y_BIN
    mae = xf.keras.metrics.MeanAbsoluteError(name="abs")
    model.compile(optimizer=xf.keras.optimizers.SGD(0.0),
                  loss=["categorical_crossentropy", "mse"], metrics=["acc", mae])
    logs = model.evaluate(X, [y_onehot, y_score], batch_size=16, verbose=0, return_dict=True)
    assert list(logs)[3:] == ["onehot_acc", "onehot_abs", "score_acc", "score_abs"]
    p_onehot, p_score = (np.asarray(p, np.float64) for p in model.predict(X, verbose=0))
    np.testing.assert_allclose(
        [logs["onehot_acc"], logs["onehot_abs"], logs["score_acc"], logs["score_abs"]],
        [np.mean(p_onehot.argmax(-1) == Y_CLS), np.mean(np.abs(p_onehot - y_onehot)),
         np.mean((p_score > 0.5) == y_score), np.mean(np.abs(p_score - y_score))],
        rtol=1e-4)


def test_fit_with_steps_per_execution_and_validation_matches_numpy():
    model = compile_frozen(two_heads(), metrics=["accuracy"], weighted_metrics=["accuracy"],
                           steps_per_execution=2)
    history = model.fit(X, [Y_CLS, Y_BIN], sample_weight=W, epochs=1, batch_size=8,
                        validation_data=(X[:40], [Y_CLS[:40], Y_BIN[:40]]), verbose=0)
    cls, binary = predictions(model)
    acc_cls, acc_bin = accuracies(cls, binary)
    expected = {"cls_accuracy": acc_cls.mean(), "bin_accuracy": acc_bin.mean(),
                "cls_weighted_accuracy": (acc_cls * W).sum() / W.sum(),
                "bin_weighted_accuracy": (acc_bin * W).sum() / W.sum(),
                "val_cls_accuracy": acc_cls[:40].mean(),
                "val_bin_weighted_accuracy": acc_bin[:40].mean()}
    for name, value in expected.items():
        np.testing.assert_allclose(history.history[name][0], value, rtol=1e-5, err_msg=name)


def test_training_updates_every_output_and_logs_per_output_metrics():
    model = two_heads()
    model.compile(optimizer=xf.keras.optimizers.Adam(0.05),
                  loss=["sparse_categorical_crossentropy", "binary_crossentropy"],
                  metrics=["accuracy"])
    history = model.fit(X, [Y_CLS, Y_BIN], epochs=15, batch_size=16, verbose=0)
    assert history.history["cls_loss"][-1] < history.history["cls_loss"][0]
    assert history.history["bin_loss"][-1] < history.history["bin_loss"][0]
    acc_cls, acc_bin = accuracies(*predictions(model))
    logs = model.evaluate(X, [Y_CLS, Y_BIN], verbose=0, return_dict=True)
    np.testing.assert_allclose([logs["cls_accuracy"], logs["bin_accuracy"]],
                               [acc_cls.mean(), acc_bin.mean()], rtol=1e-6)


def test_a_masked_output_weighs_its_metrics_by_its_mask_only():
    xf.random.set_global_seed(4)
    tokens = xf.keras.Input((5,), dtype="int32")
    embedded = layers.Embedding(7, 4, mask_zero=True)(tokens)
    steps = layers.Dense(1, name="steps")(embedded)  # carries the mask
    pooled = layers.Dense(1, name="pooled")(layers.GlobalAveragePooling1D()(embedded))
    model = models.Model(tokens, [steps, pooled])
    model.compile(optimizer=xf.keras.optimizers.SGD(0.0), loss="mse", metrics=["mae"])
    ids = RNG.integers(1, 7, size=(32, 5)).astype(np.int32)
    ids[:, 3:] *= RNG.integers(0, 2, size=(32, 2))  # some padded steps
    y_steps = RNG.normal(size=(32, 5, 1)).astype(np.float32)
    y_pooled = RNG.normal(size=(32, 1)).astype(np.float32)
    logs = model.evaluate(ids, [y_steps, y_pooled], batch_size=8, verbose=0,
                          return_dict=True)
    p_steps, p_pooled = model.predict(ids, verbose=0)
    mask = (ids != 0).astype(np.float64)
    step_errors = np.abs(np.asarray(p_steps, np.float64) - y_steps)[..., 0]
    np.testing.assert_allclose(logs["steps_mae"], (step_errors * mask).sum() / mask.sum(),
                               rtol=1e-5)
    np.testing.assert_allclose(logs["pooled_mae"], np.mean(np.abs(p_pooled - y_pooled)),
                               rtol=1e-5)


@pytest.mark.two_devices
def test_mirrored_strategy_gives_the_same_per_output_metrics():
    strategy = xf.distribute.MirroredStrategy()
    with strategy.scope():
        model = compile_frozen(two_heads(), metrics=["accuracy"],
                               weighted_metrics={"bin": "accuracy"})
    logs = model.evaluate(X, [Y_CLS, Y_BIN], sample_weight=W, batch_size=16, verbose=0,
                          return_dict=True)
    acc_cls, acc_bin = accuracies(*predictions(model))
    np.testing.assert_allclose(
        [logs["cls_accuracy"], logs["bin_accuracy"], logs["bin_weighted_accuracy"]],
        [acc_cls.mean(), acc_bin.mean(), (acc_bin * W).sum() / W.sum()], rtol=1e-5)


class TwoOutputs(models.Model):
    def __init__(self):
        super().__init__()
        self.cls = layers.Dense(3, activation="softmax")
        self.bin = layers.Dense(1, activation="sigmoid")

    def call(self, inputs):
        return [self.cls(inputs), self.bin(inputs)]


def test_a_subclassed_model_names_its_outputs_output_1_and_output_2():
    xf.random.set_global_seed(1)
    model = compile_frozen(TwoOutputs(), metrics=["accuracy"])
    logs = model.evaluate(X, [Y_CLS, Y_BIN], batch_size=16, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "output_1_loss", "output_2_loss", "output_1_accuracy",
                          "output_2_accuracy"]
    acc_cls, acc_bin = accuracies(*predictions(model))
    np.testing.assert_allclose([logs["output_1_accuracy"], logs["output_2_accuracy"]],
                               [acc_cls.mean(), acc_bin.mean()], rtol=1e-5)
    # one loss for both outputs: covered in tests/keras/test_training_single_loss.py


def test_bad_structures_are_refused_at_compile_naming_the_argument():
    with pytest.raises(ValueError, match=r"metrics has keys \['clss'\] that name no model "
                                         r"output; expected keys among .*'cls', 'bin'"):
        compile_frozen(two_heads(), metrics={"clss": "accuracy"})
    with pytest.raises(ValueError, match="weighted_metrics has 3 entries for a model with 2 "
                                         "outputs"):
        compile_frozen(two_heads(), weighted_metrics=[["mse"], ["mse"], ["mse"]])
    with pytest.raises(ValueError, match=r"loss_weights has keys \['b'\]"):
        compile_frozen(two_heads(), loss_weights={"b": 1.0})
    model = compile_frozen(two_heads(), metrics=["accuracy"])
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="class_weight is only supported for models with a "
                                         "single output"):
        model.fit(X, [Y_CLS, Y_BIN], class_weight={0: 1.0, 1: 2.0, 2: 1.0}, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_per_output_metric_names_survive_save_and_load(tmp_path):
    model = compile_frozen(two_heads(), metrics={"bin": [xf.keras.metrics.MeanAbsoluteError(
        name="abs")]}, weighted_metrics=["accuracy"])
    before = model.evaluate(X, [Y_CLS, Y_BIN], verbose=0, return_dict=True)
    assert list(before)[3:] == ["cls_accuracy", "bin_abs", "bin_accuracy"]
    model.save(tmp_path / "m")
    loaded = xf.keras.models.load_model(tmp_path / "m")
    after = loaded.evaluate(X, [Y_CLS, Y_BIN], verbose=0, return_dict=True)
    assert list(after) == list(before)
    _, binary = predictions(model)
    np.testing.assert_allclose(after["bin_abs"], np.mean(np.abs(binary - Y_BIN)), rtol=1e-5)


def test_a_serialized_metric_in_a_flat_list_applies_to_every_output():
    config = xf.keras.metrics.serialize(xf.keras.metrics.MeanAbsoluteError(name="abs"))
    model = compile_frozen(two_heads(), loss=["mse", "mse"], metrics=[config])
    y_cls = np.eye(3, dtype=np.float32)[Y_CLS]
    logs = model.evaluate(X, [y_cls, Y_BIN], verbose=0, return_dict=True)
    cls, binary = predictions(model)
    np.testing.assert_allclose([logs["cls_abs"], logs["bin_abs"]],
                               [np.mean(np.abs(cls - y_cls)), np.mean(np.abs(binary - Y_BIN))],
                               rtol=1e-5)
