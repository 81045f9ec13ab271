"""tf.switch_case and tf.case: a choice among several branches, by index or by the first
true predicate.

A concrete index or predicate picks its branch in Python (only that branch runs, as in TF's
eager mode). A traced one builds a chain of xf.cond, one per branch, so that everything
xf.cond supports holds here too: Variables assigned in a branch persist, and the branches'
outputs must agree in structure, shape and dtype. (A single lax.switch could not carry a
branch's Variable writes out of the branch, which xf.cond's state threading does.)
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from xlaflow import _runtime_checks
from xlaflow.autograph.operators.dispatch import is_traced
from xlaflow.control_flow import cond
from xlaflow.errors import InvalidArgumentError
from xlaflow.variables import Variable


def _branches(branch_fns, default):
    """The branch callables in key order (keys 0..n-1), `default` appended when given."""
    if isinstance(branch_fns, dict):
        pairs = list(branch_fns.items())
    elif isinstance(branch_fns, (list, tuple)):
        pairs = (list(enumerate(branch_fns)) if all(callable(f) for f in branch_fns)
                 else list(branch_fns))
    else:
        raise TypeError(f"switch_case: branch_fns must be a dict, a list of (int, callable) "
                        f"pairs or a list of callables; received {type(branch_fns).__name__}")
    if not pairs:
        raise ValueError("switch_case: branch_fns must not be empty")
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise TypeError(f"switch_case: each entry of branch_fns must be an (int, callable)"
                            f" pair; received {pair!r}")
        key, fn = pair
        if not isinstance(key, int) or isinstance(key, bool):
            raise TypeError(f"switch_case: branch keys must be Python ints; received {key!r}")
        if not callable(fn):
            raise TypeError(f"switch_case: the branch for key {key} must be callable; "
                            f"received {fn!r}")
    keys = sorted(k for k, _ in pairs)
    if keys != list(range(len(keys))):
        raise ValueError(f"switch_case: branch keys must form the contiguous range "
                         f"[0, {len(keys)}); received {keys}")
    if default is not None and not callable(default):
        raise TypeError(f"switch_case: default must be callable or None; received "
                        f"{default!r}")
    fns = [fn for _, fn in sorted(pairs, key=lambda p: p[0])]
    return fns + ([default] if default is not None else [])


def _chain(tests, fns, last):
    """`fns[i]()` for the first true `tests[i]()`, else `last()`, as nested xf.cond."""
    if not fns:
        return cond(True, last, lambda: None)  # cond converts the outputs to tensors
    return cond(tests[0](), fns[0], lambda: _chain(tests[1:], fns[1:], last))


def switch_case(branch_index, branch_fns, default=None, name=None):
    """`branch_fns[branch_index]()`; an index outside the keys runs `default`, or, with no
    default, the branch of the largest key (TF's rule). `branch_fns` is a list of
    callables, a list of (int, callable) pairs or a dict {int: callable}."""
    fns = _branches(branch_fns, default)
    n = len(fns)
    if isinstance(branch_index, Variable):
        branch_index = branch_index.value  # traced inside xf.function
    if not is_traced(branch_index):
        index = np.asarray(branch_index)
        if index.ndim != 0 or not np.issubdtype(index.dtype, np.integer):
            raise TypeError(f"switch_case: branch_index must be an integer scalar; received "
                            f"{branch_index!r}")
        index = int(index)
        return cond(True, fns[index if 0 <= index < n else n - 1], lambda: None)
    index = jnp.asarray(branch_index)
    if index.ndim != 0 or not jnp.issubdtype(index.dtype, jnp.integer):
        raise TypeError(f"switch_case: branch_index must be an integer scalar; received "
                        f"shape {index.shape} dtype {index.dtype}")
    # the last branch is the chain's `else`, so an index outside [0, n-1) falls to it
    tests = [lambda i=i: index == i for i in range(n - 1)]
    return _chain(tests, fns[:-1], fns[-1])


def _pairs(pred_fn_pairs):
    if isinstance(pred_fn_pairs, dict):
        pred_fn_pairs = list(pred_fn_pairs.items())
    if not isinstance(pred_fn_pairs, (list, tuple)):
        raise TypeError(f"case: pred_fn_pairs must be a list or dict of (predicate, callable)"
                        f" pairs; received {type(pred_fn_pairs).__name__}")
    if not pred_fn_pairs:
        raise ValueError("case: pred_fn_pairs must not be empty")
    for pair in pred_fn_pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise TypeError(f"case: each entry of pred_fn_pairs must be a (predicate, "
                            f"callable) pair; received {pair!r}")
        if not callable(pair[1]):
            raise TypeError(f"case: the function paired with predicate {pair[0]!r} must be "
                            f"callable; received {pair[1]!r}")
    return [p for p, _ in pred_fn_pairs], [f for _, f in pred_fn_pairs]


def _check(ok, message):
    if is_traced(ok):
        _runtime_checks.check(ok, lambda: InvalidArgumentError(None, None, message))
    elif not bool(ok):
        raise InvalidArgumentError(None, None, message)


def case(pred_fn_pairs, default=None, exclusive=False, strict=False, name="case"):
    """The result of the callable paired with the first true predicate, else of
    `default`. With no default one predicate must hold (the last pair then stands in for
    the default); with `exclusive`, at most one may. Either rule broken raises
    InvalidArgumentError: at once on concrete predicates, when the program runs on traced
    ones."""
    preds, fns = _pairs(pred_fn_pairs)
    if default is not None and not callable(default):
        raise TypeError(f"case: default must be callable or None; received {default!r}")
    preds = [p if isinstance(p, bool) else p.value if isinstance(p, Variable)
             else jnp.asarray(p) for p in preds]
    for p in preds:
        if not isinstance(p, bool) and (p.ndim != 0 or p.dtype != jnp.bool_):
            raise TypeError(f"case: predicates must be boolean scalars; received shape "
                            f"{p.shape} dtype {p.dtype}")
    shown = ", ".join(f"pred_{i}" for i in range(len(preds)))
    if exclusive:
        count = sum(jnp.asarray(p, jnp.int32) for p in preds)
        _check(count <= 1, f"case: more than one condition evaluated as True but "
                           f"exclusive=True; conditions: ({shown})")
    if default is None:
        _check(jnp.any(jnp.stack([jnp.asarray(p) for p in preds])),
               f"case: none of the conditions evaluated as True and no default was given; "
               f"conditions: ({shown})")
        default, preds, fns = fns[-1], preds[:-1], fns[:-1]
    return _chain([lambda p=p: p for p in preds], fns, default)
