"""AutoGraph's public entry points and the hook xf.function calls before tracing."""

from __future__ import annotations

import functools
import inspect
import linecache
import types
import warnings

from xlaflow.autograph import conversion
from xlaflow.autograph.operators.calls import (
    CONVERTED,
    DO_NOT_CONVERT,
    converted_call,
    should_convert,
)
from xlaflow.autograph.pyct.parsing import ConversionError, UnsupportedConstructError


def do_not_convert(fn):
    """Mark `fn` so AutoGraph never rewrites it; it is called as written."""
    setattr(getattr(fn, "__func__", fn), DO_NOT_CONVERT, True)
    return fn


def convert(fn):
    """What xf.function traces in place of `fn`: its converted form when it is user code."""
    if isinstance(fn, functools.partial):
        inner = convert(fn.func)
        return fn if inner is fn.func else functools.partial(inner, *fn.args, **fn.keywords)
    if isinstance(fn, types.MethodType):
        inner = convert(fn.__func__)
        return fn if inner is fn.__func__ else types.MethodType(inner, fn.__self__)
    if isinstance(fn, types.FunctionType):
        if fn.__code__.co_flags & (inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR):
            raise UnsupportedConstructError(
                f"xf.function cannot compile the generator {fn.__qualname__!r}: `yield` has no "
                "XLA equivalent. Return a tensor (stack the values you would yield), or "
                "iterate the generator in Python and compile the per-item work.")
        if should_convert(fn):
            return conversion.convert(fn)
        _warn_if_sourceless(fn)
        return fn
    return lambda *args, **kwargs: converted_call(fn, args, kwargs)


def _warn_if_sourceless(fn):
    # As TF's "AutoGraph could not transform ... and will run it as-is": a function typed
    # at a plain REPL or made by exec() has no source to convert, and its tensor `if` would
    # otherwise fail with JAX's TracerBoolConversionError, which does not say why.
    code = fn.__code__
    if code.co_filename.startswith("<") and not linecache.getlines(code.co_filename) and \
            not getattr(fn, DO_NOT_CONVERT, False) and not getattr(fn, CONVERTED, False):
        warnings.warn(
            f"AutoGraph cannot convert {fn.__qualname__!r}: its source is not available "
            f"(defined in {code.co_filename}), so xf.function traces it as written and Python "
            "control flow on tensors in it will fail. Define it in a file or a notebook "
            "cell, or mark it @xf.autograph.do_not_convert to silence this.",
            stacklevel=4)


def to_graph(fn):
    """The converted, un-jitted version of `fn`: Python control flow on traced values
    becomes lax control flow. It runs eagerly and under jax.jit alike."""
    target = getattr(fn, "python_function", fn)
    if isinstance(target, types.MethodType):
        return types.MethodType(to_graph(target.__func__), target.__self__)
    if not isinstance(target, types.FunctionType):
        raise TypeError(f"to_graph expects a function or method; received {type(fn).__name__}")
    if getattr(target, CONVERTED, False):
        return target  # converting converted code again would make it twice-converted
    return conversion.convert(target)


def to_code(fn):
    """The source code AutoGraph generates for `fn`, as text."""
    target = getattr(fn, "python_function", fn)
    target = getattr(target, "__func__", target)
    return conversion.compiled(target).source


def conversion_seconds(fn):
    """How long converting `fn` took (parse + transform + compile), in seconds."""
    target = getattr(fn, "python_function", fn)
    target = getattr(target, "__func__", target)
    return conversion.compiled(target).seconds


__all__ = ["ConversionError", "convert", "conversion_seconds", "do_not_convert", "to_code",
           "to_graph"]
