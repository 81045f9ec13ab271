"""xf.switch_case and xf.case against TF's documented rules: out-of-range indices go to
the default (or the largest key), the first true predicate wins, exclusive and no-default
violations raise InvalidArgumentError."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.errors import InvalidArgumentError


def _branches(calls):
    def make(k):
        def branch():
            calls.append(k)
            return jnp.float32(10 * k)
        return branch
    return [make(k) for k in range(3)]


def test_switch_case_concrete_index_runs_only_its_branch():
    calls = []
    assert float(xf.switch_case(1, _branches(calls))) == 10.0
    assert calls == [1]
    # out of range, no default: the largest key's branch (TF: "the max-keyed branch_fn")
    assert float(xf.switch_case(7, _branches(calls))) == 20.0
    assert float(xf.switch_case(np.int64(-1), _branches(calls))) == 20.0
    assert float(xf.switch_case(xf.constant(5), _branches(calls),
                                default=lambda: jnp.float32(-1))) == -1.0
    assert float(xf.switch_case(0, {1: lambda: 1.0, 0: lambda: 0.5})) == 0.5  # dict keys
    assert float(xf.switch_case(1, [(1, lambda: 3.0), (0, lambda: 4.0)])) == 3.0


def test_switch_case_traced_index_matches_numpy_and_routes_out_of_range():
    @xf.function
    def pick(i, x):
        return xf.switch_case(i, [lambda: x + 1, lambda: x * 2, lambda: -x],
                              default=lambda: jnp.zeros_like(x))

    @xf.function
    def pick_no_default(i, x):
        return xf.switch_case(i, [lambda: x + 1, lambda: x * 2, lambda: -x])

    x = np.array([1.0, 2.0], np.float32)
    expected = {0: x + 1, 1: x * 2, 2: -x}
    for i in (-3, -1, 0, 1, 2, 3, 100):
        # lax.switch alone would clamp -1 to branch 0: TF sends it to default / last
        np.testing.assert_allclose(pick(xf.constant(i), x), expected.get(i, 0 * x))
        np.testing.assert_allclose(pick_no_default(xf.constant(i), x), expected.get(i, -x))


def test_switch_case_branch_assigning_a_variable_persists():
    v = xf.Variable(0.0)

    @xf.function
    def bump(i):
        return xf.switch_case(i, [lambda: v.assign_add(1.0), lambda: v.assign_add(10.0)])

    bump(xf.constant(1))
    bump(xf.constant(0))
    assert float(v.numpy()) == 11.0


def test_switch_case_argument_errors():
    with pytest.raises(ValueError, match=r"contiguous range \[0, 2\); received \[0, 2\]"):
        xf.switch_case(0, {0: lambda: 1, 2: lambda: 2})
    with pytest.raises(TypeError, match="must be callable"):
        xf.switch_case(0, [(0, 5)])
    with pytest.raises(TypeError, match="integer scalar"):
        xf.switch_case(1.5, [lambda: 1])


def test_case_first_true_predicate_wins_eager_and_traced():
    # tf.case docs: r = case([(x < y, f1), (x > z, f2)], default=f3)
    def run(x, y, z):
        return xf.case([(x < y, lambda: xf.constant(17)), (x > z, lambda: xf.constant(23))],
                       default=lambda: xf.constant(-1))

    compiled = xf.function(run)
    for x, y, z in [(1, 2, 0), (3, 2, 0), (1, 0, 5), (1, 2, 5)]:
        oracle = 17 if x < y else 23 if x > z else -1
        assert int(run(xf.constant(x), xf.constant(y), xf.constant(z))) == oracle
        assert int(compiled(xf.constant(x), xf.constant(y), xf.constant(z))) == oracle
    calls = []
    xf.case([(False, lambda: calls.append("a")), (True, lambda: calls.append("b"))],
            default=lambda: calls.append("c"))
    assert calls == ["b"]  # Python predicates: only the chosen function runs


def test_case_exclusive_and_missing_default_raise_invalid_argument():
    pairs = [(True, lambda: xf.constant(1)), (True, lambda: xf.constant(2))]
    with pytest.raises(InvalidArgumentError, match="more than one condition"):
        xf.case(pairs, exclusive=True)
    assert int(xf.case(pairs)) == 1  # not exclusive: the first true one
    with pytest.raises(InvalidArgumentError, match="none of the conditions"):
        xf.case([(False, lambda: xf.constant(1)), (False, lambda: xf.constant(2))])

    @xf.function
    def strict(x):
        return xf.case([(x > 0, lambda: x), (x > 1, lambda: -x)], exclusive=True)

    assert int(strict(xf.constant(1))) == 1
    with pytest.raises(InvalidArgumentError, match="more than one condition"):
        strict(xf.constant(2))
    with pytest.raises(InvalidArgumentError, match="none of the conditions"):
        strict(xf.constant(0))
    with pytest.raises(TypeError, match="boolean scalars"):
        xf.case([(xf.constant([True, False]), lambda: 1)])
