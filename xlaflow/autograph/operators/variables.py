"""Placeholders for names that have no value yet on some path, and their loads."""

from __future__ import annotations


class UndefinedVariableError(UnboundLocalError):
    """A converted function used a name that no path assigned before this point (Python's
    UnboundLocalError, which `except NameError` catches too)."""


class Undefined:
    """The value of `name` before any assignment reached it (Python would raise
    UnboundLocalError). Any use raises UndefinedVariableError naming the variable."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<undefined {self.name}>"

    def _fail(self, *args, **kwargs):
        raise UndefinedVariableError(
            f"local variable '{self.name}' is used before any assignment reached it "
            "(it is assigned only on some paths before this point, or deleted by `del`)")

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        self._fail()

    __call__ = __getitem__ = __iter__ = __len__ = __bool__ = __index__ = _fail
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _fail
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __pow__ = _fail
    __matmul__ = __rmatmul__ = __neg__ = __lt__ = __le__ = __gt__ = __ge__ = _fail
    __float__ = __int__ = __array__ = __jax_array__ = _fail


def check_defined(values):
    """Raise for the first Undefined among `values` (a call's arguments): passing a name
    reads it. Only the arguments themselves: walking the containers a call is handed would
    cost every call their size (a placeholder inside one raises when it is used)."""
    for value in values:
        if type(value) is Undefined:
            value._fail()


def _check_defined_within(value):
    """Raise for the first Undefined in `value` or the lists, tuples, dicts and sets it
    holds (a returned value: `return {"k": [y]}` reads y)."""
    # Python's own containers, not jax's pytree flattening, which sorts dict keys (failing
    # on mixed key types); `seen` stops at a list that holds itself.
    todo, seen = [iter((value,))], set()
    while todo:
        value = next(todo[-1], _DONE)
        if value is _DONE:
            todo.pop()
        elif type(value) is Undefined:
            value._fail()
        elif isinstance(value, (list, tuple, set, frozenset, dict)) and id(value) not in seen:
            seen.add(id(value))
            todo.append(iter(value.values() if isinstance(value, dict) else value))


_DONE = object()


class UndefinedReturnValue:
    """`retval_` before a `return` ran: the function falls off its end (returns None)."""

    __slots__ = ()

    def __repr__(self):
        return "<no return value>"


def defined(value):
    """`value`, a returned one that may hold an Undefined: raise for it, as Python raises
    for returning a name no path assigned."""
    _check_defined_within(value)
    return value


def ldu(load, name):
    """Load a composite symbol (`self.x`, `d['k']`), or Undefined if it does not exist yet."""
    try:
        return load()
    except (NameError, AttributeError, KeyError, IndexError):
        return Undefined(name)


def return_value(value, returned, always_returns):
    """The function's result: None when no `return` ran (as Python).

    A traced `returned` flag means a tensor decided whether a `return` ran; unless every
    path of the function ends in a `return`, some path would fall off the end (returning
    None) while others return a tensor, which a compiled function cannot do.
    """
    import jax
    if isinstance(returned, jax.core.Tracer) and not always_returns and not isinstance(
            value, UndefinedReturnValue):  # (every return gives None: converters/returns.py)
        import sys
        frame = sys._getframe(1)  # the converted function; its last statement's line
        raise TypeError(
            f"{frame.f_code.co_filename}:{frame.f_lineno}: {frame.f_code.co_name}() returns a "
            "value on some tensor-dependent paths but reaches its end without `return` "
            "(returning None) on others, such as an `if` without `else` whose branch "
            "returns. Add a final `return` so every path returns a value of the same kind.")
    return None if isinstance(value, UndefinedReturnValue) else defined(value)


def _register_pytrees():
    import jax

    # An empty pytree: a return value that is missing on both paths of a tensor `if` passes
    # through lax.cond untouched; missing on one path only is a structure mismatch that the
    # conditional reports by name.
    jax.tree_util.register_pytree_node(UndefinedReturnValue, lambda x: ((), None),
                                       lambda aux, children: UndefinedReturnValue())


_register_pytrees()
