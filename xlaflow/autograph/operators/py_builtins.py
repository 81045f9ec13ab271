"""Python builtins that behave as on numbers when given traced tensors.

`converted_call` routes calls of these builtins here (OVERRIDES); with Python arguments
each one is the builtin itself. range() and xf.range() live in ranges.py.
"""

from __future__ import annotations

import builtins
import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import ops
from xlaflow.autograph.operators import keyed, lists, ranges
from xlaflow.autograph.operators.dispatch import is_traced
from xlaflow.autograph.operators.iterables import TensorEnumerate, TensorRange, TensorZip
from xlaflow.variables import Variable


def _any_traced(values):
    return any(is_traced(v) for v in values)


def _signed(k):
    """A derived loop's (unsigned) counter as the int Python's enumerate() gives."""
    return k.astype(ranges.default_int())


def enumerate_(iterable, start=0):
    if isinstance(iterable, TensorRange):
        trips = iterable.trips()
        return TensorRange(jnp.zeros((), trips.dtype), trips, 1,
                           lambda k: (start + _signed(k), iterable.element(k)),
                           f"enumerate({iterable.what})", iterable.where)
    if is_traced(iterable) or isinstance(iterable, (TensorEnumerate, TensorZip)):
        return TensorEnumerate(iterable, start)
    return builtins.enumerate(iterable, start)


def zip_(*iterables, strict=False):
    if any(isinstance(i, TensorRange) for i in iterables):
        if strict:
            raise NotImplementedError(
                "zip(..., strict=True) with a range whose bound is a tensor cannot check the "
                "lengths while tracing; zip without strict and `assert` the lengths match")
        return _zip_ranges(iterables)
    if iterables and (_any_traced(iterables) or any(
            isinstance(i, (TensorEnumerate, TensorZip)) for i in iterables)) and \
            all(map(_scannable, iterables)):
        if strict:
            _check_strict([_static_length(i) for i in iterables])
        return TensorZip(iterables)
    # With a list of other things (tensors, tuples, strings) or a dict, the loop runs in
    # Python over the shortest part, tensors giving their rows: what Python does.
    return builtins.zip(*iterables, strict=strict)


def _static_length(part):
    if isinstance(part, (TensorEnumerate, TensorZip)):
        return None  # nested: its own parts are checked where it was made, if strict
    return len(part) if isinstance(part, (list, tuple)) else jnp.shape(part)[0]


def _check_strict(lengths):
    """Python's zip(strict=True) error, from the parts' static lengths."""
    first = lengths[0]
    for n, length in enumerate(lengths[1:], start=2):
        if first is not None and length is not None and length != first:
            which = "shorter" if length < first else "longer"
            plural = "s 1-" + str(n - 1) if n > 2 else " 1"
            raise ValueError(f"zip() argument {n} is {which} than argument{plural}")


def _scannable(part):
    """Whether a scan can walk `part` along its leading axis as zip() would."""
    if is_traced(part) or isinstance(part, (TensorEnumerate, TensorZip, jax.Array,
                                            np.ndarray)):
        return True
    return isinstance(part, (list, tuple)) and all(
        isinstance(v, (int, float, bool, complex, np.number, np.bool_)) for v in part)


def _row_getter(array):
    """Row k of `array`, traced; an empty array has no row to index (the body, traced once
    for its shapes, never runs then), so it gives zeros of a row's shape and dtype."""
    if array.shape[0] == 0:
        return lambda k: jnp.zeros(array.shape[1:], array.dtype)
    return lambda k: array[k]


def _zip_ranges(iterables):
    """zip() with a range of traced length: a loop over the shortest length whose item is
    the tuple of each part's k-th element."""
    lengths, getters = [], []
    first = next(part for part in iterables if isinstance(part, TensorRange))
    for part in iterables:
        if isinstance(part, TensorRange):
            lengths.append(part.trips())  # unsigned: tensors' lengths (>= 0) join it
            getters.append(part.element)
        elif isinstance(part, (TensorEnumerate, TensorZip)):
            raise NotImplementedError(
                "zip() of a range with a tensor bound and an enumerate()/zip() over tensors "
                "is not supported; index the tensors with the range's counter instead.")
        else:
            array = jnp.asarray(part)
            lengths.append(array.shape[0])
            getters.append(_row_getter(array))
    n = functools.reduce(jnp.minimum, lengths)
    return TensorRange(jnp.zeros((), n.dtype), n, 1,
                       lambda k: tuple(get(k) for get in getters), f"zip({first.what}, ...)",
                       first.where)


def _materialized(iterable):
    """A generator or other one-shot iterable as a list (a tensor inside it cannot be
    tested in Python, so every item is needed); other values as they are."""
    if is_traced(iterable) or isinstance(iterable, (list, tuple, str, bytes, dict, set,
                                                    frozenset, range, np.ndarray, jax.Array)):
        return iterable
    return list(iterable) if iter(iterable) is iterable else iterable


def _truths(iterable, what):
    """The truth values any()/all() would test, as one bool array, or None for Python."""
    if is_traced(iterable):
        values = jnp.asarray(iterable)
    elif isinstance(iterable, (list, tuple)) and _any_traced([_read(v) for v in iterable]):
        values = jnp.stack([jnp.asarray(_read(v)) for v in iterable])
    else:
        return None
    if values.ndim != 1:  # Python would test the truth of whole rows: ambiguous
        raise ValueError(f"{what}() over a tensor of shape {values.shape} tests the truth of "
                         "each row, which is ambiguous for rows of several elements; use "
                         f"jnp.{what}(x) or jnp.{what}(x, axis=...)")
    return values.astype(bool)


def any_(iterable):
    """any(): over a 1-D tensor, or a list or generator holding scalar tensors, one jnp.any."""
    return _any_all(iterable, "any", stop_on=True)


def all_(iterable):
    """all(): over a 1-D tensor, or a list or generator holding scalar tensors, one jnp.all."""
    return _any_all(iterable, "all", stop_on=False)


def _any_all(iterable, what, stop_on):
    truths = _truths(iterable, what)
    if truths is not None:
        return jnp.any(truths) if stop_on else jnp.all(truths)
    if isinstance(iterable, (list, tuple)):
        return builtins.any(iterable) if stop_on else builtins.all(iterable)
    # A generator: Python values decide as Python does, stopping at the first that settles
    # the answer; tensors are combined at run time.
    traced = []
    for value in iterable:
        value = _read(value)
        if is_traced(value):
            traced.append(jnp.asarray(value))
        elif bool(value) is stop_on:
            return stop_on
    if not traced:
        return not stop_on
    stacked = _truths(traced, what)
    return jnp.any(stacked) if stop_on else jnp.all(stacked)


def sorted_(iterable, *, key=None, reverse=False):
    """sorted() of a tensor: its rows sorted (jnp.sort along the first axis; 1-D tensors
    only, as Python would compare rows of higher ones), as a list like Python's."""
    iterable = _materialized(iterable)
    if key is None and isinstance(iterable, (list, tuple)) and _any_traced(iterable) and all(
            jnp.ndim(v) == 0 for v in iterable):  # numbers and scalar tensors
        iterable = jnp.stack([jnp.asarray(v) for v in iterable])
    if is_traced(iterable) and key is None:
        if jnp.ndim(iterable) != 1:
            raise TypeError(f"sorted() of a tensor of shape {jnp.shape(iterable)}: only 1-D "
                            "tensors (rows are numbers) can be sorted this way; use jnp.sort "
                            "with an axis.")
        ordered = jnp.sort(iterable)
        return list(ordered[::-1] if reverse else ordered)
    if key is not None and (is_traced(iterable) or isinstance(iterable, (list, tuple)) and
                            _any_traced(iterable)):
        ordered = keyed.sorted_by_key(iterable, key, reverse)  # Python compares the keys
        if ordered is not None:
            return ordered
    return builtins.sorted(iterable, key=key, reverse=reverse)


def reversed_(sequence):
    """reversed(): a traced range or tensor is walked backwards by the same XLA loop."""
    if isinstance(sequence, TensorRange):
        n = sequence.trips()
        return TensorRange(jnp.zeros((), n.dtype), n, 1, lambda k: sequence.element(n - 1 - k),
                           f"reversed({sequence.what})", sequence.where)
    if is_traced(sequence):
        return jnp.flip(sequence, 0)
    return builtins.reversed(sequence)


def int_(value=0, *args):
    if is_traced(value) and not args:
        return value.astype(jnp.int32)  # truncates toward zero, as int() does
    return builtins.int(value, *args)


def float_(value=0.0):
    if is_traced(value):
        return value.astype(jnp.float32)
    return builtins.float(value)


def bool_(value=False):
    if is_traced(value):
        return value if value.dtype == jnp.bool_ else value != 0
    return builtins.bool(value)


def _extreme(python_fn, pairwise, reduce, pick):
    def apply(*args, **kwargs):
        if len(args) == 1:
            args = (_materialized(args[0]),)
        one_sequence = len(args) == 1 and isinstance(args[0], (list, tuple))
        values = list(args[0]) if one_sequence else args
        if kwargs.get("key") is not None and _any_traced(values) and set(kwargs) <= {
                "key", "default"}:
            return keyed.extreme(python_fn, pick, args, kwargs)  # Python compares keys
        if kwargs or not _any_traced(values):
            return python_fn(*args, **kwargs)
        if len(args) == 1 and not one_sequence:  # max(tensor): over its leading axis
            if jnp.ndim(args[0]) != 1:
                raise TypeError(f"{python_fn.__name__}() of a tensor of shape "
                                f"{jnp.shape(args[0])} would compare its rows; use "
                                f"jnp.{reduce.__name__}(x, axis=...) instead")
            return reduce(args[0])
        return functools.reduce(pairwise, values)

    apply.__name__ = python_fn.__name__
    return apply


max_ = _extreme(builtins.max, jnp.maximum, jnp.max, jnp.argmax)
min_ = _extreme(builtins.min, jnp.minimum, jnp.min, jnp.argmin)


def sum_(iterable, start=0):
    if is_traced(iterable):
        return jnp.sum(iterable, axis=0) + start
    return builtins.sum(iterable, start)


def in_(item, container):
    """`item in container`: with tensors, the comparisons combined by jnp.any."""
    item = _read(item)
    if isinstance(container, TensorRange) and container.item is not None and not \
            container.cast_only:
        raise NotImplementedError(
            f"{container.where}: `in` over {container.what} with a tensor bound is not "
            "supported (its values are made one per loop iteration); compare with its "
            "bounds instead, such as `start <= x < stop`.")
    if isinstance(container, (range, TensorRange)) and (
            is_traced(item) or isinstance(container, TensorRange)):
        return _number_like(item) and ranges.in_range(item, container)
    if is_traced(container) or (is_traced(item) and isinstance(container, (np.ndarray,
                                                                             jax.Array))):
        return jnp.any(jnp.asarray(container) == item)  # what `in` means for NumPy arrays
    if isinstance(container, (list, tuple, set, frozenset)) and (is_traced(item) or any(
            is_traced(_read(v)) for v in container)):
        found = []
        for v in container:  # Python's rule: identity, then ==, in order
            v = _read(v)
            if v is item:
                return True
            if not (is_traced(v) or is_traced(item)):
                if item == v:
                    return True
            elif _number_like(v) and _number_like(item):
                found.append(jnp.asarray(item == v))
            elif getattr(v, "ndim", 0) or getattr(item, "ndim", 0):  # arrays: ambiguous
                return item in container  # Python's (and JAX's) error
            # a tensor equals no string, None or other object
        return jnp.any(jnp.stack(found)) if found else False
    return item in container


def _read(value):
    return value.value if isinstance(value, Variable) else value


def _number_like(value):
    if is_traced(value) or isinstance(value, jax.Array):
        return jnp.ndim(value) == 0
    return isinstance(value, (bool, int, float, complex, np.number, np.bool_))


def _holds_traced(obj):
    """Whether `obj` holds a tensor: in lists, tuples and dicts (walked directly, so mixed
    key types are fine) or in any other pytree."""
    if is_traced(obj) or (isinstance(obj, Variable) and is_traced(obj.value)):
        return True
    if isinstance(obj, (list, tuple)):
        return builtins.any(_holds_traced(v) for v in obj)
    if isinstance(obj, dict):
        return builtins.any(_holds_traced(v) for v in obj.values())
    try:
        return builtins.any(is_traced(leaf) for leaf in jax.tree_util.tree_leaves(obj))
    except Exception:  # noqa: BLE001 - not a pytree JAX can walk
        return False


def print_(*args, **kwargs):
    """print(); with traced arguments it prints when the program runs (as xf.print), to
    `file` or else sys.stdout as Python does (xf.print's own default is TF's stderr)."""
    if not _holds_traced(args):  # tensors inside lists, tuples and dicts count
        return builtins.print(*args, **kwargs)
    file = kwargs.get("file")
    stream = (lambda: sys.stdout) if file is None else (lambda: file)
    return ops.print_to(stream, args, sep=kwargs.get("sep", " "), end=kwargs.get("end", "\n"))


OVERRIDES = {
    builtins.range: ranges.range_, builtins.enumerate: enumerate_, builtins.zip: zip_,
    builtins.int: int_, builtins.float: float_, builtins.bool: bool_, builtins.max: max_,
    builtins.min: min_, builtins.sum: sum_, builtins.print: print_,
    builtins.reversed: reversed_, builtins.any: any_, builtins.all: all_,
    builtins.sorted: sorted_, ops.range: ranges.xf_range_,
    **lists.OVERRIDES,
}
