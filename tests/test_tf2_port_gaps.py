"""TF2 names that porting whole TF2 programs found missing, each checked against TF's
documented behaviour or NumPy (the programs themselves are in test_tf2_ports.py)."""

import numpy as np
import pytest

import xlaflow as xf


def test_newaxis_inserts_an_axis_as_numpy():
    # TF documents tf.newaxis as None, so x[..., tf.newaxis] is NumPy's indexing.
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert xf.newaxis is None
    np.testing.assert_array_equal(xf.constant(x)[..., xf.newaxis], x[..., np.newaxis])


def test_register_keras_serializable_makes_a_custom_layer_loadable(tmp_path):
    # TF 2.x: @tf.keras.utils.register_keras_serializable(package=...) registers the class
    # as "<package>>ClassName", and load_model then rebuilds it without custom_objects.
    from xlaflow import keras
    assert keras.saving.register_keras_serializable is keras.utils.register_keras_serializable

    @keras.utils.register_keras_serializable(package="port_gaps")
    class Doubler(keras.layers.Layer):
        def call(self, inputs):
            return 2.0 * inputs

    assert keras.utils.get_registered_name(Doubler) == "port_gaps>Doubler"
    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, Doubler()(inputs))
    model.save(tmp_path / "m")
    loaded = keras.models.load_model(tmp_path / "m")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert type(loaded.layers[-1]) is Doubler
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), 2.0 * x)


def test_metric_subclass_uses_add_weight_as_keras_2():
    # The Keras 2 guide's custom metric: state made by add_weight(name, initializer=...),
    # updated with assign_add, zeroed by the default reset_state.
    from xlaflow import keras

    class CountAbove(keras.metrics.Metric):
        def __init__(self, threshold, **kwargs):
            super().__init__(name="count_above", **kwargs)
            self.threshold = threshold
            self.count = self.add_weight(name="count", initializer="zeros")
            self.offset = self.add_weight(name="offset", shape=(2,), initializer="ones")

        def update_state(self, y_true, y_pred, sample_weight=None):
            above = xf.cast(xf.abs(y_true - y_pred) > self.threshold, xf.float32)
            self.count.assign_add(xf.reduce_sum(above))

        def result(self):
            return self.count + xf.reduce_sum(self.offset) * 0.0

    metric = CountAbove(0.5)
    assert not metric.count.trainable and metric.count.shape == ()
    np.testing.assert_array_equal(metric.offset.numpy(), [1.0, 1.0])
    y_true = np.array([0.0, 1.0, 2.0, 3.0], np.float32)
    y_pred = np.array([0.1, 2.0, 2.0, 0.0], np.float32)
    metric.update_state(y_true, y_pred)
    metric.update_state(y_true, y_pred)
    assert float(metric.result()) == 2 * np.sum(np.abs(y_true - y_pred) > 0.5)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_metric_add_weight_refuses_other_aggregations_by_name():
    from xlaflow import keras

    class M(keras.metrics.Metric):
        def __init__(self):
            super().__init__(name="m")
            self.v = self.add_weight(name="v", aggregation="mean")

    import pytest
    with pytest.raises(NotImplementedError, match="aggregation='mean'"):
        M()


def test_metric_add_weight_accepts_keras_defaults_spelled_out():
    from xlaflow import keras

    class M(keras.metrics.Metric):
        def __init__(self):
            super().__init__(name="m")
            self.v = self.add_weight(name="v", initializer=keras.initializers.Constant(3.0),
                                     aggregation=xf.VariableAggregation.SUM,
                                     synchronization=xf.VariableSynchronization.ON_READ)

    assert float(M().v.numpy()) == 3.0


def test_checkpointing_a_dataset_iterator_resumes_at_the_next_element(tmp_path):
    # TF 2's checkpoint guide tracks iterator=iter(dataset): restored, it continues where
    # the saved one was (tests/data/test_iterator_checkpoint.py has the pipelines)
    dataset = xf.data.Dataset.range(10).batch(2)
    iterator = iter(dataset)
    next(iterator)
    path = xf.train.Checkpoint(step=xf.Variable(0), iterator=iterator).save(
        str(tmp_path / "ckpt"))
    resumed = iter(dataset)
    xf.train.Checkpoint(step=xf.Variable(0), iterator=resumed).restore(path)
    assert [b.tolist() for b in resumed] == [[2, 3], [4, 5], [6, 7], [8, 9]]


def test_a_loaded_export_calls_its_restored_functions_and_names_missing_ones(tmp_path):
    # TF restores a tf.Module's tf.functions as methods of the loaded object, and so does
    # xlaflow; an attribute the saved object did not have is an AttributeError naming
    # what was restored.
    import pytest

    class Scale(xf.Module):
        def __init__(self):
            super().__init__()
            self.w = xf.Variable(2.0)

        @xf.function(input_signature=[xf.TensorSpec([None], xf.float32)])
        def __call__(self, x):
            return x * self.w

    xf.saved_model.save(Scale(), str(tmp_path / "m"))
    loaded = xf.saved_model.load(str(tmp_path / "m"))
    x = np.array([1.0, -3.0], np.float32)
    np.testing.assert_array_equal(loaded(x), 2.0 * x)
    with pytest.raises(AttributeError, match=r"no attribute 'scaled'.*\['w'\].*serving_default"):
        loaded.scaled  # noqa: B018
    assert not hasattr(loaded, "scaled")
    (out,) = loaded.signatures["serving_default"](x=x).values()
    np.testing.assert_array_equal(out, 2.0 * x)


def test_pad_sequences_follows_keras_padding_and_truncating():
    # Expected arrays written out from Keras 2's documented behaviour.
    from xlaflow import keras
    seqs = [[1, 2, 3], [4], [5, 6, 7, 8, 9], []]
    pad = keras.preprocessing.sequence.pad_sequences
    assert keras.utils.pad_sequences is pad
    np.testing.assert_array_equal(pad(seqs), [
        [0, 0, 1, 2, 3], [0, 0, 0, 0, 4], [5, 6, 7, 8, 9], [0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(pad(seqs, maxlen=3, padding="post", truncating="post"), [
        [1, 2, 3], [4, 0, 0], [5, 6, 7], [0, 0, 0]])
    np.testing.assert_array_equal(pad(seqs, maxlen=2, value=-1), [
        [2, 3], [-1, 4], [8, 9], [-1, -1]])
    assert pad(seqs).dtype == np.int32
    steps = pad([np.ones((2, 3)), np.ones((1, 3))], dtype="float32", padding="post")
    assert steps.shape == (2, 2, 3) and steps[1, 1].tolist() == [0.0, 0.0, 0.0]
    import pytest
    with pytest.raises(ValueError, match="padding must be 'pre' or 'post'; received 'mid'"):
        pad(seqs, padding="mid")


def test_two_tapes_in_one_with_statement_both_give_gradients_after_the_block():
    # TF's DCGAN tutorial writes `with tf.GradientTape() as gen_tape, tf.GradientTape() as
    # disc_tape:` and asks both for gradients afterwards; the two tapes share one recording
    # of the block. The nested and persistent forms give the same known derivatives
    # (d(w*x)/dw = x, d(v*w*x)/dv = w*x).
    import pytest
    w, v = xf.Variable(2.0), xf.Variable(3.0)

    @xf.function
    def one_statement(x):
        with xf.GradientTape() as t1, xf.GradientTape() as t2:
            a = w * x
            b = v * a
        return t1.gradient(a, [w]), t2.gradient(b, [v])

    @xf.function
    def nested(x):
        with xf.GradientTape() as t1:
            with xf.GradientTape() as t2:
                a = w * x
                b = v * a
            gb = t2.gradient(b, [v])
        return t1.gradient(a, [w]), gb

    @xf.function
    def persistent(x):
        with xf.GradientTape(persistent=True) as t:
            a = w * x
            b = v * a
        return t.gradient(a, [w]), t.gradient(b, [v])

    for fn in (one_statement, nested, persistent):
        (ga,), (gb,) = fn(xf.constant(5.0))
        assert float(ga) == 5.0 and float(gb) == 10.0

    @xf.function
    def twice(x):
        with xf.GradientTape() as t1, xf.GradientTape() as t2:
            a = w * x
        return t1.gradient(a, [w]), t2.gradient(a, [w]), t1.gradient(a, [w])

    with pytest.raises(RuntimeError, match="non-persistent GradientTape computes one set"):
        twice(xf.constant(5.0))  # each tape keeps its own persistence


def test_nested_tape_asked_for_a_target_from_outside_it_says_so_not_two_tapes():
    # Inside the outer block the nesting works; a target the inner tape did not record is
    # the ordinary "not computed inside the tape's with block" error, not the refusal of
    # `with t1, t2:` (whose gradient() calls come after both blocks)
    import pytest
    w = xf.Variable(2.0)

    @xf.function
    def step(x):
        with xf.GradientTape() as outer:
            before = w * x
            with xf.GradientTape() as inner:
                after = w * w
            wrong = inner.gradient(before, [w])
        return outer.gradient(after, [w]), wrong

    with pytest.raises(ValueError, match="not computed inside the tape's `with` block"):
        step(xf.constant(5.0))


def test_data_experimental_cardinality_counts_as_tf():
    # TF 2: 10 elements batched by 4 -> 3 batches; repeat() -> INFINITE (-1); filter ->
    # UNKNOWN (-2).
    ds = xf.data.Dataset.range(10)
    assert int(xf.data.experimental.cardinality(ds.batch(4))) == 3
    assert int(xf.data.experimental.cardinality(ds.repeat())) == \
        xf.data.INFINITE_CARDINALITY == -1
    assert int(xf.data.experimental.cardinality(ds.filter(lambda x: x > 3))) == \
        xf.data.experimental.UNKNOWN_CARDINALITY == -2


def test_root_mean_squared_error_metric_against_numpy():
    from xlaflow import keras
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(2, 6, 3)).astype(np.float32)
    metric = keras.metrics.RootMeanSquaredError()
    metric.update_state(a[:4], b[:4])
    metric.update_state(a[4:], b[4:])
    expected = np.sqrt(np.mean((a.astype(np.float64) - b) ** 2))
    np.testing.assert_allclose(metric.result(), expected, rtol=1e-5)
    assert metric.name == "root_mean_squared_error"
    assert type(keras.metrics.get("RootMeanSquaredError")) is keras.metrics.RootMeanSquaredError
    restored = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert type(restored) is keras.metrics.RootMeanSquaredError


def test_model_loss_is_what_compile_was_given():
    # Keras 2: model.loss holds compile's `loss` argument as passed (a name or an object).
    from xlaflow import keras
    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)])
    assert model.loss is None
    model.compile(optimizer="sgd", loss="mse")
    assert model.loss == "mse"
    huber = keras.losses.Huber(delta=2.0)
    model.compile(optimizer="sgd", loss=huber)
    assert model.loss is huber


def test_a_subclassed_model_may_still_assign_self_loss():
    from xlaflow import keras

    class WithLoss(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)
            self.loss = "my loss"

        def call(self, x):
            return self.dense(x)

    assert WithLoss().loss == "my loss"


def test_compile_replaces_an_assigned_loss_as_keras_2():
    # Keras 2's compile sets model.loss: what compile is given wins over an earlier
    # assignment (the subclass's or the user's); a compile that fails changes nothing.
    from xlaflow import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.loss = "assigned"
    with pytest.raises(ValueError, match="no_such_loss"):
        model.compile(optimizer="sgd", loss="no_such_loss")
    assert model.loss == "assigned"
    model.compile(optimizer="sgd", loss="mae")
    assert model.loss == "mae"
    x, y = np.array([[1.0, 2.0]], np.float32), np.array([[10.0]], np.float32)
    predicted = model.predict(x, verbose=0)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0),
                               np.abs(y - predicted).mean(), rtol=1e-6)
    model.loss = "assigned again"  # an assignment after compile still reads back
    assert model.loss == "assigned again"
    huber = keras.losses.Huber()
    model.compile(optimizer="sgd", loss=huber)
    assert model.loss is huber


def test_tf_modules_not_provided_say_what_to_write_instead():
    for name, hint in (("lookup", "dict"), ("compat", "TF 2")):
        with pytest.raises(AttributeError, match=f"tf.{name} is not provided.*{hint}"):
            getattr(xf, name)
        assert not hasattr(xf, name)  # still an AttributeError: hasattr keeps working
    with pytest.raises(AttributeError, match="no attribute 'no_such_thing'$"):
        xf.no_such_thing  # noqa: B018
    assert xf.strings.lower("A").numpy() == b"a"  # provided now: host text ops
    assert xf.ragged.constant([[1], []]).to_list() == [[1], []]  # provided now too
