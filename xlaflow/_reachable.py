"""A cheap guess at the Variables a function will touch, read from what it can reach.

xf.function passes this guess as the first set of lifted inputs, so the common cases (a
closure, a global, a method's `self`, an argument that owns Variables) trace once. The trace
itself is the authority: a Variable missed here makes it trace again with the full set.
"""

from __future__ import annotations

import types

from xlaflow.module import Module
from xlaflow.variables import Variable

_MAX_DEPTH = 3
_MAX_VISITS = 5000
_SKIP = (type, types.ModuleType, types.BuiltinFunctionType, str, bytes, int, float, bool)


def reachable_variables(fn, extra_roots=()):
    """Variables reachable from `fn`'s self, closure, referenced globals and defaults (fn may
    be None), and from `extra_roots`."""
    found = {}
    budget = [_MAX_VISITS]
    seen = set()
    for root in _function_roots(fn) if fn is not None else ():
        _collect(root, found, seen, budget, _MAX_DEPTH)
    for root in extra_roots:
        _collect(root, found, seen, budget, _MAX_DEPTH)
    return list(found.values())


def _function_roots(fn):
    while True:
        if isinstance(fn, types.MethodType):
            yield fn.__self__
            fn = fn.__func__
        elif hasattr(fn, "python_function") and not isinstance(fn, types.FunctionType):
            fn = fn.python_function
        else:
            break
    if not isinstance(fn, types.FunctionType):
        return
    for cell in fn.__closure__ or ():
        try:
            yield cell.cell_contents
        except ValueError:  # an empty cell: the name is not bound yet
            continue
    for name in _global_names(fn.__code__):
        if name in fn.__globals__:
            yield fn.__globals__[name]
    yield from fn.__defaults__ or ()
    yield from (fn.__kwdefaults__ or {}).values()


def _global_names(code):
    # Ordered, not a set: the order of lifted inputs must not vary with string hashing, or
    # the same program would miss the persistent compilation cache on the next run.
    names = dict.fromkeys(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.update(dict.fromkeys(_global_names(const)))
    return list(names)


def _collect(obj, found, seen, budget, depth):
    if depth < 0 or budget[0] <= 0 or isinstance(obj, _SKIP) or obj is None:
        return
    if id(obj) in seen:
        return
    seen.add(id(obj))
    budget[0] -= 1
    if isinstance(obj, Variable):
        found.setdefault(id(obj), obj)
    elif isinstance(obj, Module):
        for var in obj.variables:
            found.setdefault(id(var), var)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for item in list(obj)[:1000]:
            _collect(item, found, seen, budget, depth - 1)
    elif isinstance(obj, dict):
        for item in list(obj.values())[:1000]:
            _collect(item, found, seen, budget, depth - 1)
    elif isinstance(obj, (types.FunctionType, types.MethodType)) or _has(
            obj, "python_function"):
        for root in _function_roots(obj):
            _collect(root, found, seen, budget, depth - 1)
    elif _has(obj, "__dict__"):
        for item in list(vars(obj).values())[:1000]:
            _collect(item, found, seen, budget, depth - 1)


def _has(obj, name):
    """hasattr that treats any error as "no" (AutoGraph's placeholder for a local not yet
    assigned raises its own error on every attribute)."""
    try:
        return hasattr(obj, name)
    except Exception:  # noqa: BLE001
        return False
