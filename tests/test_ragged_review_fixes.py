"""Fixes from an adversarial review of xf.RaggedTensor against TF 2.12's documented
behaviour; each test's oracle is a Python list or NumPy computation."""

import jax
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.errors import InvalidArgumentError


def test_traced_operands_with_different_value_counts_fail_as_tf():
    # same number of rows, different number of values: the partitions cannot match, so
    # the traced op refuses it (before, JAX's broadcasting TypeError escaped)
    a = xf.ragged.constant([[1, 2, 3], [], [4]])
    b = xf.ragged.constant([[1], [2, 3, 4], [5, 6]])
    with pytest.raises(InvalidArgumentError, match="4 and 6 values"):
        jax.jit(lambda x, y: x + y)(a, b)
    with pytest.raises(InvalidArgumentError):
        a + b
    assert jax.jit(lambda x, y: x + y)(a, a).to_list() == [[2, 4, 6], [], [8]]


def test_text_ragged_compares_with_eq_and_ne():
    rows = [[b"hello", b"world"], [], [b"a", b"b", b"a"]]
    words = xf.ragged.constant(rows)
    assert (words == "a").to_list() == [[w == b"a" for w in r] for r in rows]
    assert (words == b"a").to_list() == [[w == b"a" for w in r] for r in rows]
    assert (words != "a").to_list() == [[w != b"a" for w in r] for r in rows]
    same = words
    assert (words == same).to_list() == [[True] * len(r) for r in rows]
    with pytest.raises(TypeError, match="== and != only"):
        _ = words < "b"

