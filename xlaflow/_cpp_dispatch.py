"""Repeated all-array calls of a Variable-free xf.function, dispatched by jaxlib's C++ code.

jax.jit's C++ dispatcher checks a call's signature and runs the cached program with no
Python frame; xf.function's Python fast path adds ~0.7 µs to that (its frame, argument
checks, entry lookup), 5-15% of a small program's call. So a Function whose fast entries
are plain jax.jit programs becomes a `Dispatched`: its `__call__` is a C++ dispatcher of
its own, whose cache misses run the Python call path and give JAX the data to run the
program directly next time only for the calls that path would hand straight to it. What
is left per call is a property lookup (~0.1 µs).

jaxlib's `pjit` dispatcher is not public API, so `available()` tries it once and xf.function
keeps its Python path where it does not behave as this module expects.
"""

from __future__ import annotations

import operator
import weakref

from xlaflow import _lifting

_state = {}  # "parts": the jaxlib pieces once tried (None: not usable)


def _parts():
    if "parts" not in _state:
        _state["parts"] = _try_parts()
    return _state["parts"]


def _try_parts():
    try:
        import jax
        from jax._src import tree_util
        from jax._src.interpreters import pxla
        from jax._src.lib import _jax

        key = pxla.JitGlobalCppCacheKeys(
            donate_argnums=None, donate_argnames=None, device=None, backend=None,
            in_shardings_treedef=None, in_shardings_leaves=None,
            out_shardings_treedef=None, out_shardings_leaves=None,
            in_layouts_treedef=None, in_layouts_leaves=None,
            out_layouts_treedef=None, out_layouts_leaves=None)
        parts = (_jax.pjit, key, tree_util.dispatch_registry, pxla.cc_shard_arg,
                 _jax.PjitFunctionCache(capacity=8192), type(jax.jit(abs)))
        if not callable(getattr(jax.jit(abs), "_cache_miss", None)):
            return None  # no way to ask a jax.jit program for its fast-path data
        # The miss protocol, tried without compiling anything: a handler's answer with no
        # fast-path data comes back as the call's result. (An answer with data is the
        # inner program's own `_cache_miss` result, passed through as jax.jit does.)
        probe = _make(parts, "probe", lambda x: x, lambda x: no_fast_path(x))
        return parts if probe(2.5) == 2.5 else None
    except Exception:  # noqa: BLE001 -- any mismatch with this jaxlib: the Python path
        return None


def _make(parts, name, python_call, miss):
    pjit, key, registry, shard_arg, cache, _ = parts
    return pjit(name, python_call, miss, [], [], key, registry, shard_arg, cache)


def available():
    """Whether this jaxlib's C++ dispatcher works as this module expects (tried once)."""
    return _parts() is not None


def is_jit_program(fn):
    """Whether `fn` is a jax.jit function, whose miss handler answers fast-path data."""
    parts = _parts()
    return parts is not None and type(fn) is parts[5]


def no_fast_path(out):
    """A miss handler's answer for a call that must come back to Python next time. The
    last item drops the signature from the dispatcher's cache: kept, jaxlib would send it
    to the miss handler for good, even once the Python path would hand it to the program
    (a signature first seen before its entry existed)."""
    return out, None, True


def install(dispatched_class, base_class):
    """Make `dispatched_class.__call__` its dispatcher while the fast path is open, and
    `base_class.__call__` (the Python path) while it is closed: while a trace or tape
    context is active in any thread, or functions run eagerly, every call takes the Python
    path, as the Python fast path then does. The class attribute is the one switch the C++
    dispatcher cannot skip."""
    def switch(is_open):
        dispatched_class.__call__ = _VIA_DISPATCHER if is_open else base_class.__call__

    _lifting.on_fast_path_change(switch)


_VIA_DISPATCHER = property(operator.attrgetter("_dispatch"))


def dispatch(function, dispatched_class):
    """Give `function` (a Function) its dispatcher and make it a `dispatched_class`.

    The dispatcher holds the function weakly, so the pair is freed as the function alone
    was; under `jax.disable_jit()` it calls the Python path, as the miss handler does."""
    ref = weakref.ref(function)
    python_path = dispatched_class.__mro__[1].__call__

    def python_call(*args, **kwargs):
        return python_path(ref(), *args, **kwargs)

    def miss(*args, **kwargs):
        return ref()._dispatch_miss(args, kwargs)

    function._dispatch = _make(_parts(), function._name, python_call, miss)
    function.__class__ = dispatched_class


def forget(function):
    """Drop what `function`'s dispatcher cached: an entry it may have served changed."""
    dispatcher = getattr(function, "_dispatch", None)
    if dispatcher is not None:
        dispatcher._clear_cache()
