"""Review of delayed restoration and the text shape ops: cases found wrong, each against
NumPy or TF 2.12's documented behaviour."""

import numpy as np
import pytest

import xlaflow as xf

TEXT = np.array([["a", "b", "c"], ["d", "e", "f"]])


def test_text_spec_is_compatible_with_any_width_of_text():
    # TF: one tf.string, so a spec accepts every text tensor of a fitting shape
    spec = xf.TensorSpec([None], xf.string)
    assert spec.is_compatible_with(xf.constant(["ab", "c"]))
    assert spec.is_compatible_with(np.array([b"x"], dtype=object))
    assert spec.is_compatible_with(xf.TensorSpec([3], np.dtype("<U5")))
    assert not spec.is_compatible_with(np.array([1.0]))
    assert not spec.is_compatible_with(xf.constant([["a"]]))
    assert not xf.TensorSpec([None]).is_compatible_with(xf.constant(["a"]))


def test_text_gather_batch_dims_refuses_unequal_batch_dimensions():
    # TF requires params.shape[:batch_dims] == indices.shape[:batch_dims]; zip truncated
    with pytest.raises(ValueError, match="batch_dims"):
        xf.gather(xf.constant(TEXT), [[0], [1], [2]], batch_dims=1)
    out = xf.gather(xf.constant(TEXT), [[2, 0], [1, 1]], batch_dims=1)
    assert out.tolist() == np.take_along_axis(TEXT, np.array([[2, 0], [1, 1]]), 1).tolist()


@pytest.mark.parametrize("tensor", [TEXT, np.arange(6.0).reshape(2, 3)])
def test_boolean_mask_refuses_scalar_mask(tensor):
    # TF 2.12: ValueError("mask cannot be scalar."); NumPy's x[True] added an axis instead
    with pytest.raises(ValueError, match="cannot be scalar"):
        xf.boolean_mask(xf.constant(tensor), True)


def test_numeric_boolean_mask_checks_the_mask_shape_from_axis():
    # TF checks tensor.shape[axis:axis + mask.ndim] against the mask's shape: a negative axis
    # selects the empty slice and is refused, where the numeric form masked axis 0
    x = np.arange(9.0).reshape(3, 3)
    with pytest.raises(ValueError, match="does not match"):
        xf.boolean_mask(x, [True, False, True], axis=-1)
    with pytest.raises(ValueError, match="does not match"):
        xf.boolean_mask(x, [True, False], axis=1)
    np.testing.assert_array_equal(xf.boolean_mask(x, [True, False, True], axis=1),
                                  x[:, [0, 2]])


class Scaled(xf.keras.Model):
    """A model whose call refuses a missing argument before it creates any variable."""

    def __init__(self):
        super().__init__()
        self.dense = xf.keras.layers.Dense(5)

    def call(self, x, scale=None):
        if scale is None:
            raise ValueError("give scale")
        return self.dense(x) * scale


def test_values_keep_waiting_after_a_first_call_that_failed_before_creating_variables(
        tmp_path):
    # TF restores at variable creation: a call that fails before creating any leaves the
    # values waiting; here the hook was spent and the second call ran on fresh weights
    x = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    saved = Scaled()
    saved(x, scale=1.0)
    kernel, bias = (v.numpy() for v in saved.dense.variables)
    path = xf.train.Checkpoint(m=saved).write(tmp_path / "c")
    fresh = Scaled()
    status = xf.train.Checkpoint(m=fresh).restore(path)
    with pytest.raises(ValueError, match="give scale"):
        fresh(x)
    assert not fresh.variables
    with pytest.raises(AssertionError, match="wait for the first call"):
        status.assert_consumed()
    np.testing.assert_allclose(fresh(x, scale=2.0), 2.0 * (x @ kernel + bias), rtol=1e-5,
                               atol=1e-5)
    status.assert_consumed()
