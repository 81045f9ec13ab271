"""xf.Variable's TF constructor options: constraint, synchronization, aggregation, shape."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def test_constraint_is_stored_and_must_be_callable():
    def nonneg(w):
        return jnp.maximum(w, 0.0)

    v = xf.Variable([1.0, -1.0], constraint=nonneg)
    assert v.constraint is nonneg and xf.Variable(1.0).constraint is None
    with pytest.raises(ValueError, match=r"constraint must be a callable.*received str 'x'"):
        xf.Variable(1.0, constraint="x")


def test_synchronization_and_aggregation_as_tf():
    v = xf.Variable(0.0, synchronization=xf.VariableSynchronization.ON_READ,
                    aggregation=xf.VariableAggregation.SUM)
    # TF: an ON_READ Variable is non-trainable unless told, and cannot be trainable
    assert not v.trainable
    assert v.synchronization is xf.VariableSynchronization.ON_READ
    assert v.aggregation is xf.VariableAggregation.SUM
    plain = xf.Variable(0.0)
    assert plain.trainable and plain.aggregation is xf.VariableAggregation.NONE
    assert plain.synchronization is xf.VariableSynchronization.AUTO
    with pytest.raises(ValueError, match="ON_READ is for non-trainable"):
        xf.Variable(0.0, trainable=True, synchronization=xf.VariableSynchronization.ON_READ)
    with pytest.raises(ValueError, match=r"aggregation must be an xf.VariableAggregation "
                                         r"member .*received 'sum'"):
        xf.Variable(0.0, aggregation="sum")
    assert {m.name for m in xf.VariableAggregation} == {
        "NONE", "SUM", "MEAN", "ONLY_FIRST_REPLICA"}
    assert {m.name for m in xf.VariableSynchronization} == {
        "AUTO", "NONE", "ON_WRITE", "ON_READ"}


def test_aggregated_variable_computes_as_a_plain_one_in_a_function():
    total = xf.Variable(0.0, synchronization=xf.VariableSynchronization.ON_READ,
                        aggregation=xf.VariableAggregation.SUM)

    @xf.function
    def add(x):
        total.assign_add(jnp.sum(x))

    add(jnp.arange(4.0))
    assert float(total.numpy()) == 6.0


def test_shape_with_none_dims_allows_other_sizes():
    v = xf.Variable(jnp.zeros((2, 3)), shape=[None, 3])
    assert v.declared_shape == (None, 3)
    v.assign(jnp.ones((5, 3)))
    assert v.shape == (5, 3)

    @xf.function
    def grow(n):
        v.assign(jnp.full((4, 3), n))
        return jnp.sum(v.value)

    assert float(grow(jnp.float32(2.0))) == 24.0
    np.testing.assert_array_equal(v.numpy(), np.full((4, 3), 2.0))
    with pytest.raises(ValueError, match=r"expected shape \(None, 3\), received \(4, 2\)"):
        v.assign(jnp.ones((4, 2)))
    np.testing.assert_array_equal(v.numpy(), np.full((4, 3), 2.0))  # unchanged


def test_shape_is_checked_against_the_initial_value():
    assert xf.Variable([1.0, 2.0], shape=(2,)).declared_shape == (2,)
    with pytest.raises(ValueError, match=r"initial value's shape \(2,\) does not match "
                                         r"shape=\(3,\)"):
        xf.Variable([1.0, 2.0], shape=(3,))
    with pytest.raises(TypeError, match="unknown rank is not supported"):
        xf.Variable([1.0, 2.0], shape="?")
    fixed = xf.Variable([1.0, 2.0])
    with pytest.raises(ValueError, match=r"expected shape \(2,\), received \(3,\)"):
        fixed.assign([1.0, 2.0, 3.0])
