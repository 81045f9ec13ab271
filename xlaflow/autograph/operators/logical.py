"""`and`, `or`, `not` with Python's value semantics; a traced operand selects at run time.

Operands stay lazy (unevaluated) while the operands before them are Python values; once a
traced value decides, the remaining operands are evaluated and combined with a select.
"""

from __future__ import annotations

import operator

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow.autograph.operators.dispatch import caller, is_traced, scalar_predicate


def and_(first, *rest):
    """`first and rest[0]() and ...`."""
    value = first
    for operand in rest:
        if is_traced(value):
            value = _select(value, operand(), when_true_take_other=True)
        elif not value:
            return value
        else:
            value = operand()
    return value


def or_(first, *rest):
    """`first or rest[0]() or ...`."""
    value = first
    for operand in rest:
        if is_traced(value):
            value = _select(value, operand(), when_true_take_other=False)
        elif value:
            return value
        else:
            value = operand()
    return value


def _select(value, other, when_true_take_other, where=None):
    # `a and b` is b when a is truthy, else a; `a or b` is a when a is truthy, else b.
    where = where or caller(3)  # user -> and_ -> here
    pred = scalar_predicate(value, "`and`/`or` operand", where)
    for operand in (value, other):
        if not isinstance(operand, (bool, int, float, complex, np.generic, np.ndarray,
                                    jax.Array)) and not hasattr(operand, "__jax_array__"):
            # jnp.asarray would stack a tuple or fail on a list: neither is Python's operand
            raise TypeError(
                f"{where}: a tensor decides this `and`/`or`, so its value is chosen when the "
                f"program runs, but one operand is a {type(operand).__name__}; only tensors "
                "and numbers can be chosen between (a tuple would be stacked into one). "
                "Use an `if` statement, or make both operands tensors.")
    if _is_bool(value) and _is_bool(other):
        return (jnp.logical_and if when_true_take_other else jnp.logical_or)(value, other)
    dtype = jnp.result_type(value, other)
    value, other = jnp.asarray(value, dtype), jnp.asarray(other, dtype)
    return jnp.where(pred, other, value) if when_true_take_other else \
        jnp.where(pred, value, other)


def _is_bool(x):
    return isinstance(x, bool) or (hasattr(x, "dtype") and jnp.result_type(x) == jnp.bool_)


_COMPARE = {"Eq": operator.eq, "NotEq": operator.ne, "Lt": operator.lt,
            "LtE": operator.le, "Gt": operator.gt, "GtE": operator.ge, "Is": operator.is_,
            "IsNot": operator.is_not}


def compare_chain(left, ops, *operands):
    """`left ops[0] operands[0]() ops[1] operands[1]() ...`: each operand evaluated once,
    and only while the comparisons so far may be true, as Python does; a traced comparison
    combines with the rest as `and` does (converters/logical.py names the ops)."""
    from xlaflow.autograph.operators.py_builtins import in_

    value, previous = None, left
    for op, operand in zip(ops, operands):
        if value is not None and not is_traced(value) and not value:
            return value
        right = operand()
        if op in ("In", "NotIn"):
            test = in_(previous, right)
            test = not_(test) if op == "NotIn" else test
        else:
            test = _COMPARE[op](previous, right)
        # `value and test`, as and_ would, naming the user's line (not this frame)
        value = test if value is None or not is_traced(value) else \
            _select(value, test, when_true_take_other=True, where=caller())
        previous = right
    return value


def not_(value):
    """`not value`; a traced value gives a traced bool (elementwise for arrays, as jnp)."""
    if is_traced(value):
        return jnp.logical_not(value)
    return not value


def scalar_test(value, what):
    """A truth test moved out of its statement (converters/loop_exits.py): a traced one must
    be a scalar, and the error names `what` at the test's own line, as the statement would."""
    if is_traced(value):
        return scalar_predicate(value, what, caller())
    return value


def comprehension_test(value, kind):
    """A comprehension's `if` clause: Python decides which items it keeps, so a traced test
    (a data-dependent number of items) is refused with the select to write instead."""
    if is_traced(value):
        raise NotImplementedError(
            f"{caller()}: the `if` clause of this {kind} tests a tensor, so which items it "
            "keeps, and how many, would be known only when the program runs. Keep every "
            "item and select its value instead: `sum(jnp.where(v > 2, v, 0) for v in x)`, "
            "`[jnp.where(v > 2, v, 0.0) for v in x]`, or on the whole tensor "
            "`jnp.sum(jnp.where(x > 2, x, 0))`.")
    return value


def python_test(value):
    """A truth test that must stay in Python (its expression binds a name with `:=`)."""
    if is_traced(value):
        raise NotImplementedError(
            f"{caller()}: this `and`/`or`/conditional expression assigns a name with `:=` in "
            "an operand evaluated only sometimes, and a tensor decides which. Both operands "
            "would have to run; assign the name in a statement before the expression, or use "
            "an `if` statement.")
    return value


def match_subject(value):
    """The subject of a `match` kept in Python (converters/matches.py) whose value patterns
    would test a tensor's truth: refused with the `if` chain to write instead."""
    if is_traced(value):
        raise NotImplementedError(
            f"{caller()}: this `match` compares a tensor subject with value patterns, but it "
            "also has a sequence, mapping or class pattern (or a guard on an `as` capture), "
            "so it cannot become tensor control flow. Use only value patterns "
            "(`case 0:`, `case 1 | 2:`, `case _:`), or write it as `if x == 0: ... elif ...`.")
    return value


def match_guard(value):
    """The guard of a `match` kept in Python (converters/matches.py): a tensor guard would
    decide which case runs, which only an `if` chain can do with a tensor."""
    if is_traced(value):
        raise NotImplementedError(
            f"{caller()}: the guard of this `match` case tests a tensor, and the match has "
            "a sequence, mapping or class pattern (or a guard on an `as` capture), so it "
            "cannot become tensor control flow. Write it as an `if`/`elif` chain.")
    return value
