"""Handwritten digits that work offline, in MNIST's format.

scikit-learn ships 1,797 8x8 digit scans (the UCI optical digits); each is scaled 3x to
24x24, padded to 28x28 and mapped to 0-255, then split into training and test sets with a
fixed seed. Install it with `pip install 'xlaflow[datasets]'`.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np


def shipped_csv():
    """The path of the CSV file scikit-learn ships the digits in (64 pixel columns, then the
    label), found without importing scikit-learn; None where it is not there."""
    spec = importlib.util.find_spec("sklearn")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(root, "datasets", "data", "digits.csv.gz")
        if os.path.isfile(path):
            return path
    return None


def _digits():
    """scikit-learn's digits: images (n, 8, 8) of 0-16 and their labels. Read from its CSV
    file where it is found: importing scikit-learn costs about a second of a fresh process
    (each notebook and doc example pays it); else through load_digits."""
    path = shipped_csv()
    if path is not None:
        data = np.loadtxt(path, delimiter=",")
        return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError("the offline digits need scikit-learn: pip install "
                          "'xlaflow[datasets]'") from e
    digits = load_digits()
    return digits.images, digits.target


def load_data(test_fraction=0.2, seed=0):
    """`((x_train, y_train), (x_test, y_test))`: uint8 images of shape (n, 28, 28)."""
    digit_images, digit_labels = _digits()
    images = np.kron(digit_images, np.ones((3, 3)))  # 8x8 -> 24x24
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))  # -> 28x28, centred like MNIST
    images = np.round(images * (255.0 / 16.0)).astype(np.uint8)
    labels = digit_labels.astype(np.uint8)
    order = np.random.default_rng(seed).permutation(len(labels))
    cut = int(len(labels) * (1 - test_fraction))
    train, test = order[:cut], order[cut:]
    return (images[train], labels[train]), (images[test], labels[test])
