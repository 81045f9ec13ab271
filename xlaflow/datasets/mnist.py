"""MNIST as Keras ships it: `((x_train, y_train), (x_test, y_test))`, uint8 28x28 images."""

from __future__ import annotations

import numpy as np

from xlaflow.datasets.download import get_file

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def load_data(path="mnist.npz", timeout=30):
    """Download (once, verified) and load MNIST: 60,000 training and 10,000 test digits."""
    local = get_file(path, ORIGIN, SHA256, timeout=timeout)
    with np.load(local, allow_pickle=False) as data:
        return (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])
