"""Handwritten digits that work offline, in MNIST's format.

scikit-learn ships 1,797 8x8 digit scans (the UCI optical digits); each is scaled 3x to
24x24, padded to 28x28 and mapped to 0-255, then split into training and test sets with a
fixed seed. Install it with `pip install 'xlaflow[datasets]'`.
"""

from __future__ import annotations

import numpy as np


def load_data(test_fraction=0.2, seed=0):
    """`((x_train, y_train), (x_test, y_test))`: uint8 images of shape (n, 28, 28)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError("the offline digits need scikit-learn: pip install "
                          "'xlaflow[datasets]'") from e
    digits = load_digits()
    images = np.kron(digits.images, np.ones((3, 3)))  # 8x8 -> 24x24
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))  # -> 28x28, centred like MNIST
    images = np.round(images * (255.0 / 16.0)).astype(np.uint8)
    labels = digits.target.astype(np.uint8)
    order = np.random.default_rng(seed).permutation(len(labels))
    cut = int(len(labels) * (1 - test_fraction))
    train, test = order[:cut], order[cut:]
    return (images[train], labels[train]), (images[test], labels[test])
