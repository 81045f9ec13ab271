"""keras.applications.ResNet50/101/152 against Keras 2.12: the parameter counts Keras
documents, its summary's layer names and shapes, 'imagenet' weights from a local HTTP
server under Keras' pinned MD5 (a wrong file refused), and a weights file round trip."""

import numpy as np
import pytest

import xlaflow as xf
from tests.keras.applications_server import md5, serving, write_keras2_h5
from xlaflow.keras.applications import resnet

keras = xf.keras


def _params(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


@pytest.fixture(scope="module")
def resnet50():
    return keras.applications.ResNet50(weights=None)


@pytest.fixture(scope="module")
def notop():
    """ResNet50 without its top on 32x32 images, average-pooled: the template of the served
    weights file (its layers' names and shapes only) and the round trip's model, built
    once for both (a build draws its ~24 M weights)."""
    return keras.applications.ResNet50(weights=None, include_top=False, pooling="avg",
                                       input_shape=(32, 32, 3))


@pytest.mark.slow
def test_counts_names_and_shapes_as_keras(resnet50):
    # Keras documents 25,636,712 parameters (25,583,592 trainable) for ResNet50()
    assert resnet50.count_params() == 25_636_712
    assert _params(resnet50.trainable_weights) == 25_583_592
    assert len(resnet50.layers) == 177 and resnet50.name == "resnet50"
    rows = [("conv1_pad", (None, 230, 230, 3), 0), ("conv1_conv", (None, 112, 112, 64), 9472),
            ("conv1_bn", (None, 112, 112, 64), 256), ("pool1_pad", (None, 114, 114, 64), 0),
            ("pool1_pool", (None, 56, 56, 64), 0),
            ("conv2_block1_0_conv", (None, 56, 56, 256), 16640),
            ("conv2_block1_out", (None, 56, 56, 256), 0),
            ("conv3_block1_0_conv", (None, 28, 28, 512), 131584),
            ("conv3_block4_add", (None, 28, 28, 512), 0),
            ("conv4_block6_out", (None, 14, 14, 1024), 0),
            ("conv5_block3_2_conv", (None, 7, 7, 512), 2359808),
            ("conv5_block3_3_bn", (None, 7, 7, 2048), 8192),
            ("conv5_block3_out", (None, 7, 7, 2048), 0), ("avg_pool", (None, 2048), 0),
            ("predictions", (None, 1000), 2049000)]
    for name, shape, params in rows:
        layer = resnet50.get_layer(name)
        assert tuple(layer.output.shape) == shape, name
        assert layer.count_params() == params, name
    assert resnet50.get_layer("conv4_block2_1_bn").epsilon == 1.001e-5
    # without the top: 23,587,712; pooling names its layer as Keras
    notop = keras.applications.ResNet50(weights=None, include_top=False, pooling="max",
                                        input_shape=(64, 64, 3))
    assert notop.count_params() == 23_587_712 and len(notop.layers) == 176
    assert notop.layers[-1].name == "max_pool" and notop.output_shape == (None, 2048)
    # ResNet101 and ResNet152: the same blocks, Keras' 44,707,176 and 60,419,944
    assert keras.applications.ResNet101(weights=None).count_params() == 44_707_176
    assert keras.applications.ResNet152(weights=None).count_params() == 60_419_944


def test_preprocess_input_module_and_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(resnet, "BASE_WEIGHTS_PATH", "http://127.0.0.1:9/")
    assert keras.applications.resnet50.ResNet50 is keras.applications.ResNet50
    with pytest.raises(ValueError, match=r"`classes` should be 1000"):
        keras.applications.ResNet50(classes=5)
    with pytest.raises(ValueError, match=r"at least 32x32; Received: input_shape=\(16, 16"):
        keras.applications.ResNet50(weights=None, include_top=False, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="Only `None` and `softmax` activations"):
        keras.applications.ResNet50(classifier_activation="sigmoid")
    with pytest.raises(NotImplementedError, match=r"ResNetV2\) is not provided"):
        resnet.ResNet(lambda x: x, True, True, weights=None)
    assert list(tmp_path.iterdir()) == []


def test_imagenet_weights_checked_by_md5_then_loaded(notop, tmp_path, monkeypatch):
    small = {"input_shape": (32, 32, 3), "pooling": "avg"}  # notop's (the file's template)
    served = tmp_path / "served"
    served.mkdir()
    fname = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    values = write_keras2_h5(served / fname, notop, np.random.default_rng(0))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    with serving(served, fname) as base:
        monkeypatch.setattr(resnet, "BASE_WEIGHTS_PATH", base)
        # Keras' pinned MD5 is the real file's: the one served here is refused, not kept
        assert resnet.WEIGHTS_HASHES["resnet50"][1] == "4d473c1dd8becc155b73f8504c6f6626"
        with pytest.raises(ValueError, match="md5 file hash does not match the provided "
                                             "value of 4d473c1dd8becc155b73f8504c6f6626"):
            keras.applications.ResNet50(include_top=False, **small)
        assert not (tmp_path / "home" / "models" / fname).exists()
        monkeypatch.setitem(resnet.WEIGHTS_HASHES, "resnet50",
                            ("0" * 32, md5(served / fname)))
        loaded = keras.applications.ResNet50(include_top=False, **small)
    assert (tmp_path / "home" / "models" / fname).exists()
    for layer in loaded.layers:
        for weight in layer.weights:
            key = f"{layer.name}/{weight.name.split('/')[-1]}:0"
            np.testing.assert_array_equal(weight.numpy(), values[key])
    assert len(values) == len(loaded.weights) == 318


def test_weights_file_round_trip_predicts_the_same(notop, tmp_path):
    model = notop
    rng = np.random.default_rng(1)
    for layer in model.layers:  # moving statistics away from 0 and 1
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([gamma, beta + 0.1, rng.normal(0, 0.1, mean.shape),
                               rng.uniform(0.5, 2.0, var.shape)])
    x = rng.uniform(-100, 100, (2, 32, 32, 3)).astype("float32")
    expected = np.asarray(model.predict(x, verbose=0))
    assert np.abs(expected).max() > 0
    path = str(tmp_path / "resnet.h5")
    model.save_weights(path)
    loaded = keras.applications.ResNet50(weights=path, include_top=False, pooling="avg",
                                         input_shape=(32, 32, 3))
    np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), expected,
                               rtol=1e-4, atol=1e-5)
