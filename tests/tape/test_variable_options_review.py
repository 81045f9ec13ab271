"""Variable options under review: None for synchronization or aggregation means TF's
default (AUTO, NONE), as TF's validate_synchronization_aggregation_trainable reads it."""

import pytest

import xlaflow as xf


def test_none_options_mean_the_defaults_as_in_tf():
    v = xf.Variable(1.0, synchronization=None, aggregation=None)
    assert v.synchronization is xf.VariableSynchronization.AUTO
    assert v.aggregation is xf.VariableAggregation.NONE
    assert v.trainable
    with pytest.raises(ValueError, match="aggregation must be an xf.VariableAggregation"):
        xf.Variable(1.0, aggregation="sum")
