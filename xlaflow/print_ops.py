"""TF's `tf.print`: tensors printed when the computation runs, not when it is traced, in
program order, with TF's summarized formatting."""

from __future__ import annotations

import collections
import copy
import sys

import jax
import numpy as np

from xlaflow import _host_callbacks, _lifting, _runtime_checks


def print(*inputs, output_stream=None, sep=" ", end="\n", summarize=3):
    """Print tensors when the computation runs (TF's `tf.print`), not when it is traced.

    Eagerly it prints at once; inside `xf.function` or any JAX transformation it prints on
    every execution through `jax.debug.callback`. It writes to `output_stream`, by default
    sys.stderr (as tf.print), looked up when it prints. `summarize` is the number of leading
    and trailing elements shown per axis (-1 prints everything).
    """
    stream = (lambda: sys.stderr) if output_stream is None else (lambda: output_stream)
    print_to(stream, inputs, sep=sep, end=end, summarize=summarize)


def print_to(stream, inputs, sep=" ", end="\n", summarize=3):
    """xf.print of `inputs` to the file `stream()` gives when it prints (AutoGraph's
    converted print() passes sys.stdout's, as Python prints there)."""
    arrays = []
    template = _gather(list(inputs), arrays)

    def emit(*values):
        shown = [_Shown(_format(np.asarray(v), summarize)) for v in values]
        parts = _fill(template, shown, summarize)
        # One write per print: the callbacks of a program over several devices (and of
        # functions called from several threads) run concurrently, and print()'s separate
        # writes of each part, separator and end interleaved their lines.
        out = stream()
        out.write((" " if sep is None else sep).join(map(str, parts)) +
                  ("\n" if end is None else end))
        out.flush()

    ctx = _lifting.current()
    traced = ctx is not None or any(isinstance(a, jax.core.Tracer) for a in arrays)
    if traced and _host_callbacks.drop_print():
        return  # exported by saved_model.save, which cannot serialize it (it says so)
    if traced:
        ordered = _in_program_order(ctx, arrays)
        passed = _runtime_checks.passed_so_far()
        if passed is not None:  # an earlier check failed: TF never reaches this print
            jax.debug.callback(lambda ok, *values: emit(*values) if bool(ok) else None,
                               passed, *arrays, ordered=ordered)
        else:
            jax.debug.callback(emit, *arrays, ordered=ordered)
    else:
        emit(*arrays)


def _in_program_order(ctx, arrays):
    """Whether this print can be an ordered effect, printing in program order as tf.print
    does (an unordered callback without tensor operands may run before an earlier print of
    a tensor). XLA refuses ordered effects, when compiling, in a program over more than one
    device, so it must be one that cannot span several: with one device none can; with
    more, only xf.function's own trace, whose inputs (the print's operands, the arguments
    and Variables) and mesh context all lie on one device; if its outputs then span
    devices (a sharding constraint after the print), it traces again unordered. Under a
    plain JAX transformation, xf.function's inside one included, the caller's other
    inputs and out_shardings are not visible, so prints stay unordered there."""
    if jax.device_count() == 1:
        return True
    if jax.sharding.get_abstract_mesh().size > 1:
        return False
    seen, root = list(arrays), ctx
    while ctx is not None:  # override contexts (tape blocks, strategy.run) sit on top
        seen += jax.tree_util.tree_leaves((getattr(ctx, "inputs", ()),
                                           list(ctx.values.values())))
        root, ctx = ctx, getattr(ctx, "parent", None)
    if not getattr(root, "ordered_prints", False) or root.raise_checks:
        return False  # a plain JAX transformation, or xf.function inside one: its caller's
        # out_shardings are not visible here; or the trace found its program spans devices
    ordered = all(_one_device(x) for x in seen)
    root.printed_in_order |= ordered
    return ordered


def _one_device(x):
    """Whether `x` (traced or not) lies on at most one device."""
    sharding = getattr(jax.typeof(x), "sharding", None) if isinstance(
        x, jax.core.Tracer) else getattr(x, "sharding", None)
    mesh = getattr(sharding, "mesh", None)
    if mesh is not None:
        return mesh.size <= 1
    devices = getattr(sharding, "device_set", None)
    return devices is None or len(devices) <= 1


class _Slot:
    """Where the k-th tensor goes back into a printed structure."""

    __slots__ = ("k",)

    def __init__(self, k):
        self.k = k


def _gather(obj, arrays):
    """`obj` with its tensors moved to `arrays` (in order) and replaced by slots: lists,
    tuples and dicts (subclasses too, keys as written) are walked directly, other pytrees
    (dataclasses, flax structs) by JAX."""
    from xlaflow.variables import Variable
    if isinstance(obj, Variable):  # printed as its value, as tf.print does
        obj = obj.value
    if isinstance(obj, jax.Array):
        arrays.append(obj)
        return _Slot(len(arrays) - 1)
    if _walked(obj):
        return _rebuild(obj, lambda v: _gather(v, arrays))
    try:
        leaves, treedef = jax.tree_util.tree_flatten(obj)
        if len(leaves) == 1 and leaves[0] is obj:
            return obj
        jax.tree_util.tree_unflatten(treedef, [_Shown("")] * len(leaves))  # rebuildable?
    except Exception:  # noqa: BLE001 - not a pytree that takes text leaves: as it is
        return obj
    return _Tree(treedef, [_gather(leaf, arrays) for leaf in leaves])


_WALKED = (list, tuple, dict, collections.OrderedDict, collections.defaultdict)


def _walked(obj):
    """A container print walks itself (keeping order and key types): lists, tuples,
    namedtuples and the dicts JAX knows."""
    return type(obj) in _WALKED or (isinstance(obj, tuple) and hasattr(obj, "_fields"))


def _rebuild(obj, each):
    """A list, tuple, namedtuple or dict like `obj` with `each` applied to its items."""
    if isinstance(obj, dict):
        out = copy.copy(obj)  # keeps the type (OrderedDict, defaultdict's factory, ...)
        for key, value in obj.items():
            out[key] = each(value)
        return out
    items = [each(v) for v in obj]
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*items)
    return type(obj)(items)


class _Tree:
    __slots__ = ("treedef", "parts")

    def __init__(self, treedef, parts):
        self.treedef, self.parts = treedef, parts


def _fill(obj, shown, summarize):
    if isinstance(obj, _Slot):
        return shown[obj.k]
    if isinstance(obj, _Tree):
        return jax.tree_util.tree_unflatten(obj.treedef, [
            _fill(p, shown, summarize) for p in obj.parts])
    if isinstance(obj, (np.ndarray, np.generic)):
        return _Shown(_format(obj, summarize))
    if _walked(obj):
        return _rebuild(obj, lambda v: _fill(v, shown, summarize))
    return obj


class _Shown(str):
    """A formatted tensor: inside a printed list or dict it shows as its text, unquoted."""

    def __repr__(self):
        return str(self)


def _format(value, summarize):
    if isinstance(value, str):
        return value
    if value.ndim == 0:
        return str(value)
    threshold = sys.maxsize if summarize < 0 else 2 * summarize
    edge = 3 if summarize < 0 else summarize
    return np.array2string(value, threshold=threshold, edgeitems=edge, separator=" ")
