"""keras.applications.MobileNetV2 against Keras 2.12: the parameter counts Keras documents,
the layer names and output shapes its summary prints, the argument rules and their errors,
'imagenet' weights fetched from a local HTTP server, a weights file round trip, a
get_config round trip, and transfer learning on a frozen base."""

import numpy as np
import pytest

import xlaflow as xf
from tests.keras.applications_server import serving, write_keras2_h5
from xlaflow.keras.applications import mobilenet_v2

keras = xf.keras
SMALL = {"alpha": 0.35, "input_shape": (96, 96, 3), "include_top": False}


def _params(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


@pytest.fixture(scope="module")
def full():
    # Keras numbers unnamed layers per session ('global_average_pooling2d_1' after another
    # test's pooling layer); its summary below is of a fresh session
    keras.backend.clear_session()
    return keras.applications.MobileNetV2(weights=None)


@pytest.fixture(scope="module")
def small():
    return keras.applications.MobileNetV2(weights=None, **SMALL)


def test_parameter_counts_as_keras_documents(full):
    # Keras 2.12's summary of MobileNetV2(): 3,538,984 total, 3,504,872 trainable
    assert full.count_params() == 3_538_984
    assert _params(full.trainable_weights) == 3_504_872
    assert _params(full.non_trainable_weights) == 34_112
    assert len(full.layers) == 156 and full.name == "mobilenetv2_1.00_224"
    # the transfer-learning tutorial's base: 154 layers, 2,257,984 parameters
    base = keras.applications.MobileNetV2(input_shape=(160, 160, 3), include_top=False,
                                          weights=None)
    assert len(base.layers) == 154 and base.name == "mobilenetv2_1.00_160"
    assert base.count_params() == 2_257_984
    assert _params(base.trainable_weights) == 2_223_872
    assert base.output_shape == (None, 5, 5, 1280)


def test_layer_names_shapes_and_params_as_keras_summary(full):
    # (name, output shape, parameters) rows of Keras 2.12's model.summary()
    rows = [("Conv1", (None, 112, 112, 32), 864), ("bn_Conv1", (None, 112, 112, 32), 128),
            ("Conv1_relu", (None, 112, 112, 32), 0),
            ("expanded_conv_depthwise", (None, 112, 112, 32), 288),
            ("expanded_conv_project", (None, 112, 112, 16), 512),
            ("block_1_expand", (None, 112, 112, 96), 1536),
            ("block_1_pad", (None, 113, 113, 96), 0),
            ("block_1_depthwise", (None, 56, 56, 96), 864),
            ("block_2_add", (None, 56, 56, 24), 0), ("block_3_pad", (None, 57, 57, 144), 0),
            ("block_6_depthwise", (None, 14, 14, 192), 1728),
            ("block_13_pad", (None, 15, 15, 576), 0),
            ("block_15_add", (None, 7, 7, 160), 0),
            ("block_16_project", (None, 7, 7, 320), 307200),
            ("block_16_project_BN", (None, 7, 7, 320), 1280),
            ("Conv_1", (None, 7, 7, 1280), 409600), ("Conv_1_bn", (None, 7, 7, 1280), 5120),
            ("out_relu", (None, 7, 7, 1280), 0),
            ("global_average_pooling2d", (None, 1280), 0),
            ("predictions", (None, 1000), 1281000)]
    for name, shape, params in rows:
        layer = full.get_layer(name)
        assert tuple(layer.output.shape) == shape, name
        assert layer.count_params() == params, name
    names = [layer.name for layer in full.layers]
    assert names[1:4] == ["Conv1", "bn_Conv1", "Conv1_relu"]
    assert sum(n.endswith("_add") for n in names) == 10
    assert sum(n.endswith("_pad") for n in names) == 4
    bn = full.get_layer("block_5_expand_BN")
    assert bn.epsilon == 1e-3 and bn.momentum == 0.999
    relu = full.get_layer("block_5_depthwise_relu")
    assert relu.max_value == 6.0


def test_argument_rules_and_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # nothing below may download
    monkeypatch.setattr(mobilenet_v2, "BASE_WEIGHT_PATH", "http://127.0.0.1:9/")
    build = keras.applications.MobileNetV2
    with pytest.raises(ValueError, match=r"alpha must be one of `0.35`, `0.50`, `0.75`, "
                                         r"`1.0`, `1.3` or `1.4` only; Received `alpha=0.6`"):
        build(alpha=0.6, include_top=False, input_shape=(96, 96, 3))
    with pytest.raises(ValueError, match=r"`classes` should be 1000.  Received: classes=10"):
        build(classes=10)
    with pytest.raises(ValueError, match=r"`input_shape` should be \(224, 224, 3\)"):
        build(input_shape=(200, 200, 3))  # 160 would take the 160 weights with the top
    with pytest.raises(ValueError, match=r"The `weights` argument should be either `None`.*"
                                         r"Received: weights=nowhere.h5"):
        build(weights="nowhere.h5")
    with pytest.raises(ValueError, match="Only `None` and `softmax` activations"):
        build(classifier_activation="relu")
    with pytest.raises(ValueError, match="Unknown argument"):
        build(weights=None, depth=3)
    with pytest.raises(TypeError, match="input_tensor must be a Keras tensor"):
        build(weights=None, input_tensor=np.zeros((1, 32, 32, 3), "float32"))
    assert list(tmp_path.iterdir()) == []
    # weights=None with the top takes any classes and activation
    logits = build(weights=None, alpha=0.35, input_shape=(96, 96, 3), classes=7,
                   classifier_activation=None)
    assert logits.output_shape == (None, 7) and logits.name == "mobilenetv2_0.35_96"


def test_input_tensor_and_pooling():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    model = keras.applications.MobileNetV2(input_tensor=x, weights=None, pooling="avg",
                                           alpha=0.35, include_top=False)
    assert model.inputs[0] is inputs and model.output_shape == (None, 1280)
    assert model.name == "mobilenetv2_0.35_None"  # Keras: input_shape stays None here
    assert type(model.layers[1]).__name__ == "Rescaling"  # the input_tensor's layers too
    maxed = keras.applications.MobileNetV2(input_shape=(32, 32, 3), weights=None,
                                           pooling="max", alpha=0.35, include_top=False)
    assert maxed.output_shape == (None, 1280)
    assert type(maxed.layers[-1]).__name__ == "GlobalMaxPooling2D"


def test_imagenet_weights_come_from_keras_url_with_the_real_loader(small, tmp_path,
                                                                   monkeypatch, caplog):
    served = tmp_path / "served"
    served.mkdir()
    fname = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    values = write_keras2_h5(served / fname, small, np.random.default_rng(0))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    with serving(served, fname) as base:
        monkeypatch.setattr(mobilenet_v2, "BASE_WEIGHT_PATH", base)
        model = keras.applications.MobileNetV2(weights="imagenet", **SMALL)
        # a non-square input loads the 224 weights, as Keras (served here: none)
        with pytest.raises(OSError, match=base + r"mobilenet_v2_weights_tf_dim_ordering_"
                                                 r"tf_kernels_0.35_224_no_top.h5"):
            keras.applications.MobileNetV2(weights="imagenet", alpha=0.35,
                                           input_shape=(96, 128, 3), include_top=False)
        assert "Weights for input shape (224, 224) will be loaded" in caplog.text
    assert (tmp_path / "home" / "models" / fname).exists()
    checked = 0
    for layer in model.layers:
        for weight in layer.weights:
            key = f"{layer.name}/{weight.name.split('/')[-1]}:0"
            np.testing.assert_array_equal(weight.numpy(), values[key])
            checked += 1
    assert checked == len(model.weights) == len(values) == 260


def test_weights_file_path_round_trip_and_config_round_trip(small, tmp_path):
    rng = np.random.default_rng(1)
    small.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") * 0.2
                       for w in small.weights])
    x = rng.uniform(-1, 1, (2, 96, 96, 3)).astype("float32")
    expected = np.asarray(small.predict(x, verbose=0))
    path = str(tmp_path / "weights.h5")
    small.save_weights(path)
    loaded = keras.applications.MobileNetV2(weights=path, **SMALL)
    np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), expected,
                               rtol=1e-5, atol=1e-5)
    again = keras.Model.from_config(small.get_config())
    assert [layer.name for layer in again.layers] == [layer.name for layer in small.layers]
    again.set_weights(small.get_weights())
    # predict, not again(x): an eager call of a new model compiles each of its ~150 ops
    # (~5 s on 2 cores); the forward pass checked is the same
    np.testing.assert_allclose(np.asarray(again.predict(x, verbose=0)), expected, rtol=1e-5,
                               atol=1e-5)


def test_frozen_base_fit_changes_only_the_head():
    base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35,
                                          include_top=False, weights=None)
    rng = np.random.default_rng(2)  # weights whose features are far from 0
    base.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") * 0.2
                      for w in base.weights])
    base.trainable = False
    inputs = keras.Input((32, 32, 3))
    x = base(inputs)  # a frozen BatchNormalization runs in inference mode (Keras 2)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert len(model.trainable_weights) == 2
    x = rng.uniform(-1, 1, (8, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 3, 8)
    before = [w.numpy().copy() for w in base.weights]
    head = [w.numpy().copy() for w in model.layers[-1].weights]
    # compiled, not eager: an eager call compiles each of the base's ops (~5 s on 2 cores)
    frozen_out = np.asarray(base.predict(x, verbose=0))
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    for old, weight in zip(before, base.weights):  # moving statistics included
        np.testing.assert_array_equal(weight.numpy(), old, err_msg=weight.name)
    assert all(np.abs(w.numpy() - h).max() > 0 for w, h in zip(model.layers[-1].weights,
                                                              head))
    # training=True still normalizes with the moving statistics on a frozen base
    called_in_training = xf.function(lambda images: base(images, training=True))
    np.testing.assert_allclose(np.asarray(called_in_training(x)), frozen_out, rtol=1e-5,
                               atol=1e-6)
    # the tutorial's fine-tuning: unfreeze, refreeze the first 100 layers; TF prints 56
    base.trainable = True
    for layer in base.layers[:100]:
        layer.trainable = False
    assert len(model.trainable_variables) == 56
