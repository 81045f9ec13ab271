"""keras.applications.imagenet_utils and keras.utils.get_file: preprocess_input against the
closed forms of Keras' three modes, decode_predictions and get_file against a local HTTP
server, the input-shape rules and their errors, and the refused architectures."""

import hashlib
import json
import os

import numpy as np
import pytest

import xlaflow as xf
from tests.keras.applications_server import md5, serving
from xlaflow.keras.applications import imagenet_utils

keras = xf.keras
CAFFE_BGR_MEAN = np.array([103.939, 116.779, 123.68], "float32")


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _images(dtype="float32"):
    return np.random.default_rng(0).integers(0, 256, (2, 4, 5, 3)).astype(dtype)


def test_modes_on_numpy_match_the_closed_forms():
    x = _images()
    np.testing.assert_allclose(
        imagenet_utils.preprocess_input(x.copy(), mode="tf"), x / 127.5 - 1, rtol=1e-6, atol=1e-6)
    torch = imagenet_utils.preprocess_input(x.copy(), mode="torch")
    np.testing.assert_allclose(
        torch, (x / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225], rtol=1e-5)
    caffe = imagenet_utils.preprocess_input(x.copy())  # Keras' default mode
    np.testing.assert_allclose(caffe, x[..., ::-1] - CAFFE_BGR_MEAN, rtol=1e-6, atol=1e-6)
    # the Keras 2 module functions pick the mode their weights were trained with
    np.testing.assert_allclose(
        keras.applications.mobilenet_v2.preprocess_input(x.copy()), x / 127.5 - 1, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        keras.applications.resnet50.preprocess_input(x.copy()), caffe, rtol=1e-6, atol=1e-6)


def test_numpy_float_input_is_written_over_integers_are_cast():
    x = _images()
    out = imagenet_utils.preprocess_input(x, mode="tf")
    assert out is x  # Keras: "the preprocessed data are written over the input data"
    ints = _images("uint8")
    out = imagenet_utils.preprocess_input(ints, mode="tf")
    assert out.dtype == np.float32 and ints.dtype == np.uint8
    np.testing.assert_allclose(out, ints / 127.5 - 1, rtol=1e-6, atol=1e-6)


def test_channels_first_numpy_reverses_and_centres_axis_1():
    x = np.transpose(_images(), (0, 3, 1, 2))
    out = imagenet_utils.preprocess_input(x.copy(), data_format="channels_first")
    np.testing.assert_allclose(out, x[:, ::-1] - CAFFE_BGR_MEAN.reshape(3, 1, 1), rtol=1e-6, atol=1e-6)
    single = imagenet_utils.preprocess_input(x[0].copy(), data_format="channels_first")
    np.testing.assert_allclose(single, out[0], rtol=1e-6, atol=1e-6)


def test_tensors_and_symbolic_tensors_give_the_same_values():
    x = _images()
    for mode in ("caffe", "tf", "torch"):
        expected = imagenet_utils.preprocess_input(x.copy(), mode=mode)
        got = imagenet_utils.preprocess_input(xf.constant(x), mode=mode)
        assert not isinstance(got, np.ndarray) and got.dtype == np.float32
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-5)
        # in a functional model (the transfer-learning tutorial's preprocess_input(x))
        inputs = keras.Input(shape=(4, 5, 3))
        model = keras.Model(inputs, imagenet_utils.preprocess_input(inputs, mode=mode))
        np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-5, atol=1e-5)
    as_int = imagenet_utils.preprocess_input(xf.constant(x.astype("int32")), mode="tf")
    assert as_int.dtype == np.float32
    np.testing.assert_allclose(np.asarray(as_int), x / 127.5 - 1, rtol=1e-6, atol=1e-6)


def test_bad_mode_and_data_format_are_refused():
    with pytest.raises(ValueError, match="Expected mode to be one of `caffe`, `tf` or "
                                         "`torch`. Received: mode=bgr"):
        imagenet_utils.preprocess_input(_images(), mode="bgr")
    with pytest.raises(ValueError, match="Received: data_format=NHWC"):
        imagenet_utils.preprocess_input(_images(), data_format="NHWC")


@pytest.fixture
def class_index_server(tmp_path, monkeypatch):
    """The class index (1000 made-up classes) served locally, KERAS_HOME in tmp_path."""
    served = tmp_path / "served"
    served.mkdir()
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    (served / "imagenet_class_index.json").write_text(json.dumps(index))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", None)
    with serving(served, "imagenet_class_index.json") as base:
        monkeypatch.setattr(imagenet_utils, "CLASS_INDEX_PATH",
                            base + "imagenet_class_index.json")
        monkeypatch.setattr(imagenet_utils, "CLASS_INDEX_HASH",
                            md5(served / "imagenet_class_index.json"))
        yield tmp_path / "keras_home"


def test_decode_predictions_downloads_the_index_once(class_index_server):
    preds = np.random.default_rng(1).uniform(size=(2, 1000)).astype("float32")
    decoded = keras.applications.mobilenet_v2.decode_predictions(preds, top=3)
    for row, pred in zip(decoded, preds):
        best = np.argsort(-pred)[:3]
        assert [r[0] for r in row] == [f"n{i:08d}" for i in best]
        assert [r[1] for r in row] == [f"class_{i}" for i in best]
        np.testing.assert_array_equal([r[2] for r in row], pred[best])
    path = class_index_server / "models" / "imagenet_class_index.json"
    assert path.exists()
    assert len(keras.applications.resnet50.decode_predictions(preds)[0]) == 5


def test_decode_predictions_refuses_a_wrong_shape():
    with pytest.raises(ValueError, match=r"expects a batch of predictions \(i.e. a 2D array "
                                         r"of shape \(samples, 1000\)\). Received array "
                                         r"with shape: \(2, 10\)"):
        imagenet_utils.decode_predictions(np.zeros((2, 10)))


def test_get_file_keras_signature_caches_and_checks_hashes(tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    (served / "data.bin").write_bytes(b"weights" * 100)
    home = tmp_path / "home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    with serving(served, "data.bin") as base:
        good = md5(served / "data.bin")
        path = keras.utils.get_file("data.bin", base + "data.bin", cache_subdir="models",
                                    file_hash=good)
        assert path == os.path.join(home, "models", "data.bin")
        assert _read(path) == b"weights" * 100
        with pytest.raises(ValueError, match="md5 file hash does not match the provided "
                                             "value of 0+"):
            keras.utils.get_file("other.bin", base + "data.bin", file_hash="0" * 32,
                                 cache_dir=str(tmp_path / "elsewhere"))
        assert os.listdir(tmp_path / "elsewhere" / "datasets") == []  # nothing kept
        # a cached copy whose hash differs is downloaded again (Keras)
        with open(path, "wb") as f:
            f.write(b"stale")
        keras.utils.get_file("data.bin", base + "data.bin", cache_subdir="models",
                             file_hash=good)
        assert _read(path) == b"weights" * 100
        # a 64-digit hash is SHA-256; the name defaults to the URL's last part
        sha = hashlib.sha256(b"weights" * 100).hexdigest()
        got = keras.utils.get_file(origin=base + "data.bin", cache_dir=str(tmp_path / "s"),
                                   file_hash=sha)
        assert got == os.path.join(tmp_path, "s", "datasets", "data.bin")
    # served no more: the cached file is returned without a request
    assert keras.utils.get_file("data.bin", "http://127.0.0.1:9/x", cache_subdir="models",
                                file_hash=good) == path
    with pytest.raises(ValueError, match="hash_algorithm must be 'auto', 'md5' or 'sha256'; "
                                         "received 'crc'"):
        keras.utils.get_file("data.bin", "http://127.0.0.1:9/x", hash_algorithm="crc")
    with pytest.raises(NotImplementedError, match="shutil.unpack_archive"):
        keras.utils.get_file("a.tar.gz", "http://127.0.0.1:9/a.tar.gz", extract=True)


def test_obtain_input_shape_rules_and_errors():
    shape = imagenet_utils.obtain_input_shape
    assert shape(None, 224, 32, "channels_last", True, "imagenet") == (224, 224, 3)
    assert shape(None, 224, 32, "channels_last", False, "imagenet") == (None, None, 3)
    assert shape((64, 48, 3), 224, 32, "channels_last", False, None) == (64, 48, 3)
    with pytest.raises(ValueError, match=r"`input_shape` should be \(224, 224, 3\)\.  "
                                         r"Received: input_shape=\(160, 160, 3\)"):
        shape((160, 160, 3), 224, 32, "channels_last", True, "imagenet")
    with pytest.raises(ValueError, match=r"must have 3 channels; Received `input_shape="
                                         r"\(64, 64, 1\)`"):
        shape((64, 64, 1), 224, 32, "channels_last", False, "imagenet")
    with pytest.raises(ValueError, match=r"at least 32x32; Received: input_shape=\(16, 64"):
        shape((16, 64, 3), 224, 32, "channels_last", False, None)
    with pytest.raises(ValueError, match="must be a tuple of three integers"):
        shape((64, 64), 224, 32, "channels_last", False, None)
    with pytest.raises(ValueError, match="specify a static `input_shape`"):
        shape((None, None, 3), 224, 32, "channels_last", True, None)
    with pytest.warns(UserWarning, match="passed an input_shape with 5 input channels"):
        assert shape((64, 64, 5), 224, 32, "channels_last", False, None) == (64, 64, 5)


def test_correct_pad_matches_same_padding_of_stride_2():
    odd, even = keras.Input((7, 7, 3)), keras.Input((8, 8, 3))
    assert imagenet_utils.correct_pad(odd, 3) == ((1, 1), (1, 1))
    assert imagenet_utils.correct_pad(even, 3) == ((0, 1), (0, 1))
    assert imagenet_utils.correct_pad(keras.Input((None, None, 3)), 3) == ((0, 1), (0, 1))


def test_other_architectures_are_refused_naming_what_exists():
    assert hasattr(keras, "applications")
    for name in ("VGG16", "InceptionV3", "vgg16", "EfficientNetB0"):
        with pytest.raises(AttributeError, match=r"not provided; xlaflow has MobileNetV2, "
                                                 r"ResNet50, ResNet101 and ResNet152"):
            getattr(keras.applications, name)
    assert not hasattr(keras.applications, "Xception")
    with pytest.raises(AttributeError, match="has no attribute 'Foo'$"):
        keras.applications.Foo  # noqa: B018
