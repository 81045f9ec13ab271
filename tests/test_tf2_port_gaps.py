"""TF2 names that porting whole TF2 programs found missing, each checked against TF's
documented behaviour or NumPy (the programs themselves are in test_tf2_ports.py)."""

import numpy as np

import xlaflow as xf


def test_newaxis_inserts_an_axis_as_numpy():
    # TF documents tf.newaxis as None, so x[..., tf.newaxis] is NumPy's indexing.
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert xf.newaxis is None
    np.testing.assert_array_equal(xf.constant(x)[..., xf.newaxis], x[..., np.newaxis])
