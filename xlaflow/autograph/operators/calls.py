"""`converted_call`: every call in converted code; converts user functions on first call.

Library code (jax, numpy, the standard library, installed packages, xlaflow itself,
generated code such as dataclass `__init__`) and anything marked
`@xf.autograph.do_not_convert` runs as written; so do generators, whose `yield` cannot move
into XLA control flow.
"""

from __future__ import annotations

import functools
import inspect
import linecache
import os
import sysconfig
import types

import jax
import numpy as np

from xlaflow.autograph.operators.py_builtins import OVERRIDES
from xlaflow.autograph.operators.variables import check_defined

DO_NOT_CONVERT = "__xlaflow_do_not_convert__"
CONVERTED = "__xlaflow_converted__"
_NOT_PLAIN = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def _library_dirs():
    import xlaflow
    paths = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths |= {os.path.dirname(m.__file__) for m in (jax, np, xlaflow)}
    return tuple(sorted({os.path.realpath(p) + os.sep for p in paths}))


_LIBRARY = None


def is_user_code(code):
    """Whether `code` belongs to the user's program (not a library, not generated)."""
    global _LIBRARY
    filename = code.co_filename
    if filename.startswith("<"):
        return bool(linecache.getlines(filename))  # notebook cells have their source here
    if _LIBRARY is None:
        _LIBRARY = _library_dirs()
    return not os.path.realpath(filename).startswith(_LIBRARY)


def should_convert(fn):
    """Whether the plain function `fn` is user code that AutoGraph should convert."""
    if getattr(fn, DO_NOT_CONVERT, False) or getattr(fn, CONVERTED, False):
        return False
    code = fn.__code__
    if "ag__" in code.co_freevars:
        return False  # defined inside converted code: converted with its parent already
    return not (code.co_flags & _NOT_PLAIN) and is_user_code(code)


def convertible(f):
    """The converted form of callable `f`, or None when `f` is to be called as it is."""
    if isinstance(f, functools.partial):
        inner = convertible(f.func)
        return None if inner is None else functools.partial(inner, *f.args, **f.keywords)
    if isinstance(f, types.MethodType):
        fn, owner = f.__func__, f.__self__
    elif isinstance(f, types.FunctionType):
        fn, owner = f, None
    elif not isinstance(f, type) and isinstance(  # a Python __call__, to convert:
            getattr(type(f), "__call__", None), types.FunctionType):  # noqa: B004
        if hasattr(f, "python_function"):  # an xf.function: it inlines itself when traced
            return None
        fn, owner = type(f).__call__, f
    else:
        return None
    if not isinstance(fn, types.FunctionType) or not should_convert(fn):
        return None
    from xlaflow.autograph import conversion
    converted = conversion.convert(fn)
    return converted if owner is None else types.MethodType(converted, owner)


def merged_keywords(name, parts):
    """`f(k=c, **d)`'s keywords: the parts merged in order; a repeated keyword raises as
    Python does."""
    merged = {}
    for part in parts:
        if not hasattr(part, "keys"):
            raise TypeError(f"{name}() argument after ** must be a mapping, not "
                            f"{type(part).__name__}")
        for key in part.keys():  # noqa: SIM118 - `**` iterates keys(), as Python does
            if key in merged:
                raise TypeError(f"{name}() got multiple values for keyword argument {key!r}")
            merged[key] = part[key]
    return merged


def converted_call(f, args, kwargs):
    """Call `f(*args, **kwargs)`, converting `f` first when it is user code."""
    check_defined(args)  # before the keywords: Python evaluates the positional ones first
    if kwargs is None:
        kwargs = {}
    else:
        check_defined(kwargs.values())
    try:
        override = OVERRIDES.get(f)
    except TypeError:  # unhashable callables are never builtins
        override = None
    if override is None and type(f) is types.FunctionType and f.__dict__.get("_xf_op"):
        override = OVERRIDES.get(f.__wrapped__)  # xf.range: the op under its public wrapper
    if override is not None:
        return override(*args, **kwargs)
    target = convertible(f)
    return f(*args, **kwargs) if target is None else target(*args, **kwargs)
