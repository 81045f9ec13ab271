"""TF-named operations where jax.numpy's name or signature differs; run-time `print`.

These are thin aliases so ported TF code keeps its spelling. Where TF and jnp agree on the
name (exp, sqrt, maximum, ...) `xlaflow` re-exports the jnp function itself.
"""

from __future__ import annotations

import collections
import copy
import operator
import sys

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _host_callbacks, _host_text, _lifting
from xlaflow.tensors import as_dtype, int32


def _axis(axis):
    # TF accepts lists for axes; jnp wants an int or a tuple.
    return tuple(axis) if isinstance(axis, list) else axis


def _tensor(x):
    """A Python list or tuple as an array, anything else as it is: TF converts lists where a
    tensor is expected and jnp refuses them, while scalars stay Python numbers so that they
    keep JAX's weak typing (`pow(x16, 2.0)` stays float16). Text is a TypeError, which
    leads the op to its text form (jnp would first read 'a' as a dtype name)."""
    if isinstance(x, (list, tuple, str, bytes)):
        if _host_text.is_text(x):  # (~0.3 us on lists of numbers, 1% of their path)
            raise TypeError(f"received text {x!r:.60}; XLA holds no strings")
        return jnp.asarray(x)
    return x


def reduce_sum(input_tensor, axis=None, keepdims=False, name=None):
    """Sum over `axis` (all axes when None)."""
    return jnp.sum(_tensor(input_tensor), axis=_axis(axis), keepdims=keepdims)


def reduce_mean(input_tensor, axis=None, keepdims=False, name=None):
    """Mean over `axis` (all axes when None). An integer tensor's mean keeps its dtype, the
    quotient truncated toward zero, as TF's Mean kernel (tf.reduce_mean([1, 2]) is 1)."""
    x = _tensor(input_tensor)
    if jnp.issubdtype(jnp.result_type(x), jnp.integer):
        return _integer_mean(jnp.asarray(x), _axis(axis), keepdims)
    return jnp.mean(x, axis=_axis(axis), keepdims=keepdims)


def _integer_mean(x, axis, keepdims):
    # TF sums int8/16/32 in int64 (uint* in uint64) and divides in C++, which truncates
    # toward zero; lax.div truncates the same way. Without jax_enable_x64 the widest integer
    # is 32 bits, so the sum wraps past 2**31 there, as xf.reduce_sum's does.
    wide = jax.config.jax_enable_x64
    signed = jnp.issubdtype(x.dtype, jnp.signedinteger)
    acc = (jnp.int64 if wide else jnp.int32) if signed else (jnp.uint64 if wide else jnp.uint32)
    total = jnp.sum(x, axis=axis, dtype=acc, keepdims=keepdims)  # checks `axis` first
    if axis is None:  # (this module's `range` is TF's, a tensor)
        sizes = x.shape
    else:
        axes = axis if isinstance(axis, tuple) else (axis,)
        sizes = [x.shape[operator.index(a) % x.ndim] for a in axes]
    count = 1
    for size in sizes:
        count = count * size  # a symbolic size stays symbolic
    # An empty reduction is 0, as TF fills integer means with the sum's identity (XLA's
    # integer x / 0 would be -1).
    count = jnp.maximum(jnp.asarray(count, acc), jnp.asarray(1, acc))
    return jax.lax.div(total, count).astype(x.dtype)


def reduce_max(input_tensor, axis=None, keepdims=False, name=None):
    """Maximum over `axis` (all axes when None)."""
    return jnp.max(_tensor(input_tensor), axis=_axis(axis), keepdims=keepdims)


def reduce_min(input_tensor, axis=None, keepdims=False, name=None):
    """Minimum over `axis` (all axes when None)."""
    return jnp.min(_tensor(input_tensor), axis=_axis(axis), keepdims=keepdims)


def reduce_prod(input_tensor, axis=None, keepdims=False, name=None):
    """Product over `axis` (all axes when None)."""
    return jnp.prod(_tensor(input_tensor), axis=_axis(axis), keepdims=keepdims)


def reduce_any(input_tensor, axis=None, keepdims=False, name=None):
    """Logical or over `axis` (all axes when None)."""
    return jnp.any(_tensor(input_tensor), axis=_axis(axis), keepdims=keepdims)


def reduce_all(input_tensor, axis=None, keepdims=False, name=None):
    """Logical and over `axis` (all axes when None)."""
    return jnp.all(_tensor(input_tensor), axis=_axis(axis), keepdims=keepdims)


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False,
           name=None):
    """Matrix product of the last two axes, optionally transposing/adjointing either side."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    if transpose_a or adjoint_a:
        a = jnp.swapaxes(a, -1, -2)
        a = jnp.conj(a) if adjoint_a else a
    if transpose_b or adjoint_b:
        b = jnp.swapaxes(b, -1, -2)
        b = jnp.conj(b) if adjoint_b else b
    return jnp.matmul(a, b)


def cast(x, dtype, name=None):
    """Convert to `dtype` (float to int truncates toward zero, as in TF)."""
    return jnp.asarray(x).astype(as_dtype(dtype))


def range(start, limit=None, delta=1, dtype=None, name=None):
    """`range(limit)` or `range(start, limit, delta)` as a 1-D tensor (TF's tf.range)."""
    if limit is None:
        start, limit = 0, start
    return jnp.arange(start, limit, delta, dtype=None if dtype is None else as_dtype(dtype))


def shape(input, out_type=int32, name=None):
    """The shape as an integer tensor (TF's tf.shape). Sizes known when tracing give a NumPy
    array, so `xf.zeros(xf.shape(x))` or `xf.shape(x)[0]` in a shape work inside
    xf.function, where a traced one could not; sizes an `input_signature` leaves None are
    traced symbolically and known when the program runs."""
    dims = jnp.shape(input)
    if all(isinstance(d, int) for d in dims):
        return np.asarray(dims, dtype=as_dtype(out_type))
    return jnp.asarray(dims, dtype=as_dtype(out_type))


def rank(input, name=None):
    """Number of dimensions as an int32 scalar: a NumPy one, as ranks are always known when
    tracing (so it can size things inside xf.function, as xf.shape's sizes can)."""
    return np.asarray(jnp.ndim(input), dtype=int32)


def size(input, out_type=int32, name=None):
    """Number of elements as an integer scalar; a NumPy one when every size is known when
    tracing (as xf.shape), so `TensorArray(size=xf.size(x))` works inside xf.function."""
    n = jnp.size(input)
    if isinstance(n, int):
        return np.asarray(n, dtype=as_dtype(out_type))
    return jnp.asarray(n, dtype=as_dtype(out_type))


def reshape(tensor, shape, name=None):
    """Reshape; one dimension may be -1. `shape` must be static (a list, tuple or array). A
    shape that cannot hold the tensor is TF's InvalidArgumentError, with TF's message."""
    tensor = _tensor(tensor)
    dims = tuple(int(d) for d in np.asarray(shape).reshape(-1))
    _check_reshape(jnp.shape(tensor), dims)
    return jnp.reshape(tensor, dims)


def _check_reshape(have, dims):
    if not all(isinstance(d, int) for d in have):
        return  # symbolic sizes (an export's): checked when they are known
    from xlaflow.errors import InvalidArgumentError

    size = int(np.prod(have, dtype=np.int64))
    unknown = [i for i, d in enumerate(dims) if d == -1]
    known = int(np.prod([d for d in dims if d != -1], dtype=np.int64))
    if len(unknown) > 1:
        raise InvalidArgumentError(None, None, f"Only one input size may be -1, not both "
                                               f"{unknown[0]} and {unknown[1]}")
    if any(d < -1 for d in dims):
        raise InvalidArgumentError(None, None, f"Size {dims.index(min(dims))} must be "
                                               f"non-negative, not {min(dims)}")
    if unknown and known == 0:
        raise InvalidArgumentError(None, None, "Reshape cannot infer the missing input size "
                                               "for an empty tensor unless all specified "
                                               "input sizes are non-zero")
    if unknown and size % known:
        raise InvalidArgumentError(None, None, f"Input to reshape is a tensor with {size} "
                                               f"values, but the requested shape requires a "
                                               f"multiple of {known}")
    if not unknown and known != size:
        raise InvalidArgumentError(None, None, f"Input to reshape is a tensor with {size} "
                                               f"values, but the requested shape has {known}")


def concat(values, axis, name=None):
    """Concatenate a list of tensors along `axis`."""
    return jnp.concatenate([_tensor(v) for v in values], axis=axis)


def stack(values, axis=0, name=None):
    """Stack a list of same-shaped tensors along a new `axis`."""
    return jnp.stack([_tensor(v) for v in values], axis=axis)


def squeeze(input, axis=None, name=None):
    """Remove size-1 dimensions (only those in `axis` when given)."""
    return jnp.squeeze(_tensor(input), axis=_axis(axis))


def expand_dims(input, axis, name=None):
    """Insert a size-1 dimension at `axis`."""
    return jnp.expand_dims(_tensor(input), axis)


def transpose(a, perm=None, conjugate=False, name=None):
    """Permute dimensions (reverse them when `perm` is None)."""
    out = jnp.transpose(_tensor(a), perm)
    return jnp.conj(out) if conjugate else out


def zeros(shape, dtype="float32", name=None):
    """A tensor of zeros; TF's default dtype is float32."""
    return jnp.zeros(shape, as_dtype(dtype))


def ones(shape, dtype="float32", name=None):
    """A tensor of ones; TF's default dtype is float32."""
    return jnp.ones(shape, as_dtype(dtype))


def fill(dims, value, name=None):
    """A tensor of shape `dims` filled with `value`."""
    return jnp.full(tuple(dims), value)


def identity(input, name=None):
    """Returns its input as a tensor."""
    return jnp.asarray(input)


def argmax(input, axis=None, output_type=int32, name=None):
    """Index of the maximum along `axis` (default 0, as in TF).

    TF's default output type is int64; without `jax_enable_x64` JAX has no int64, so the
    default here is int32.
    """
    return jnp.argmax(_tensor(input), axis=0 if axis is None else axis).astype(as_dtype(output_type))


def argmin(input, axis=None, output_type=int32, name=None):
    """Index of the minimum along `axis` (default 0, as in TF); int32 by default."""
    return jnp.argmin(_tensor(input), axis=0 if axis is None else axis).astype(as_dtype(output_type))


def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """Clamp every element into [clip_value_min, clip_value_max]."""
    return jnp.clip(_tensor(t), clip_value_min, clip_value_max)


def clip_by_norm(t, clip_norm, axes=None, name=None):
    """`t * clip_norm / max(norm(t), clip_norm)`: `t` rescaled so its L2 norm over `axes`
    (all by default) is at most `clip_norm`."""
    t = jnp.asarray(t)
    axes = None if axes is None else tuple(np.atleast_1d(axes).tolist())
    l2sum = jnp.sum(jnp.square(t), axis=axes, keepdims=True)
    # TF's double where: sqrt's gradient at 0 is inf, so an all-zero slice takes its sqrt
    # of 1 instead, or its gradient (1 where the clip is inactive) would be NaN
    positive = l2sum > 0
    norm = jnp.where(positive, jnp.sqrt(jnp.where(positive, l2sum, 1)), l2sum)
    return (t * clip_norm / jnp.maximum(norm, clip_norm)).astype(t.dtype)


def global_norm(t_list, name=None):
    """sqrt of the sum of squares of every element of every tensor in `t_list` (None
    entries are skipped, as TF's tf.linalg.global_norm)."""
    if isinstance(t_list, (jax.Array, np.ndarray)) or not hasattr(t_list, "__iter__"):
        raise TypeError(f"global_norm: t_list must be a list of tensors; received "
                        f"{type(t_list).__name__}")
    squares = [jnp.sum(jnp.square(jnp.asarray(t, jnp.float32))) for t in t_list
               if t is not None]
    return jnp.sqrt(sum(squares)) if squares else jnp.zeros((), jnp.float32)


def clip_by_global_norm(t_list, clip_norm, use_norm=None, name=None):
    """TF's gradient clipping: `(list of t * clip_norm / max(global_norm, clip_norm),
    global_norm)`, None entries kept as None; `use_norm` replaces the computed norm."""
    t_list = list(t_list) if not isinstance(t_list, (jax.Array, np.ndarray)) else t_list
    norm = global_norm(t_list) if use_norm is None else jnp.asarray(use_norm, jnp.float32)
    # `+ (norm - norm)`: an inf or NaN norm makes every entry NaN, TF's documented signal
    # of a broken step (without it an inf norm would silently zero the gradients)
    scale = clip_norm / jnp.maximum(norm, clip_norm) + (norm - norm)
    clipped = [None if t is None else (jnp.asarray(t) * scale).astype(jnp.asarray(t).dtype)
               for t in t_list]
    return clipped, norm


def one_hot(indices, depth, on_value=1.0, off_value=0.0, axis=-1, dtype="float32",
            name=None):
    """One-hot encoding of integer `indices` with `depth` classes along `axis`."""
    hot = jax.nn.one_hot(indices, depth, axis=axis, dtype=as_dtype(dtype))
    if on_value == 1.0 and off_value == 0.0:
        return hot
    return jnp.where(hot == 1, on_value, off_value).astype(as_dtype(dtype))


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
        jax.debug.callback(emit, *arrays, ordered=_in_program_order(ctx, arrays))
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
