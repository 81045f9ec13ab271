"""Dataset download against a real local HTTP server; the offline digits; the TF program."""

import hashlib
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.datasets import download, mnist


@pytest.fixture
def http_server(tmp_path):
    """A real `python -m http.server` on 127.0.0.1 serving a small MNIST-shaped npz."""
    served = tmp_path / "served"
    served.mkdir()
    rng = np.random.default_rng(0)
    np.savez(served / "mnist.npz", x_train=rng.integers(0, 255, (20, 28, 28), np.uint8),
             y_train=rng.integers(0, 10, 20).astype(np.uint8),
             x_test=rng.integers(0, 255, (5, 28, 28), np.uint8),
             y_test=rng.integers(0, 10, 5).astype(np.uint8))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                             "127.0.0.1", "--directory", str(served)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/mnist.npz"
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    digest = hashlib.sha256((served / "mnist.npz").read_bytes()).hexdigest()
    yield url, digest, proc
    proc.terminate()
    proc.wait(timeout=10)


def test_mnist_download_verify_cache(http_server, tmp_path, monkeypatch):
    url, digest, proc = http_server
    monkeypatch.setenv("XLAFLOW_DATASETS_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist, "ORIGIN", url)
    monkeypatch.setattr(mnist, "SHA256", digest)
    (x, y), (xt, yt) = xf.keras.datasets.mnist.load_data()
    assert x.shape == (20, 28, 28) and x.dtype == np.uint8 and yt.shape == (5,)
    assert y.shape == (20,) and xt.shape == (5, 28, 28)
    assert os.listdir(tmp_path / "cache") == ["mnist.npz"]
    proc.terminate()
    proc.wait(timeout=10)
    (x2, _), _ = xf.keras.datasets.mnist.load_data()  # from the cache, server gone
    np.testing.assert_array_equal(x, x2)


def test_wrong_hash_keeps_nothing(http_server, tmp_path):
    url, _, _ = http_server
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="SHA-256 is .* expected 0+; the file was not kept"):
        download.get_file("mnist.npz", url, "0" * 64, directory=str(cache))
    assert os.listdir(cache) == []


def test_offline_error_says_where_to_put_the_file(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    with pytest.raises(OSError, match=r"copy the file to .*mnist.npz \(SHA-256 abc\)"):
        download.get_file("mnist.npz", f"http://127.0.0.1:{port}/mnist.npz", "abc",
                          directory=str(tmp_path), timeout=2)
    assert os.listdir(tmp_path) == []


def test_offline_digits_in_mnist_format():
    (x, y), (xt, yt) = xf.keras.datasets.digits.load_data()
    assert x.shape[1:] == (28, 28) and x.dtype == np.uint8 and x.max() == 255
    assert len(x) + len(xt) == 1797 and set(np.unique(y)) == set(range(10))
    assert len(y) == len(x) and len(yt) == len(xt)


def test_offline_digits_read_from_sklearns_file_equal_load_digits():
    # load_data reads the CSV file scikit-learn ships (importing scikit-learn costs about a
    # second of a fresh process): the same arrays as scikit-learn's own loader
    from sklearn.datasets import load_digits

    from xlaflow.datasets import digits
    assert digits.shipped_csv() is not None  # the fast path is the one taken here
    images, labels = digits._digits()
    want = load_digits()
    np.testing.assert_array_equal(images, want.images)
    np.testing.assert_array_equal(labels, want.target)


def test_the_tf_program_reaches_90_percent_on_offline_digits():
    import xlaflow as tf
    from xlaflow.keras import layers, models

    (x_train, y_train), (x_test, y_test) = tf.keras.datasets.digits.load_data()
    x_train, x_test = x_train / 255.0, x_test / 255.0
    tf.keras.utils.set_random_seed(0)
    model = models.Sequential([
        layers.Flatten(input_shape=(28, 28)),
        layers.Dense(128, activation='relu'),
        layers.Dense(10, activation='softmax')
    ])
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    model.fit(x_train, y_train, epochs=5, batch_size=32, verbose=0)
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    assert acc >= 0.90, acc
