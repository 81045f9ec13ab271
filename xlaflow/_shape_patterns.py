"""Shape patterns of relaxed xf.function programs: which sizes stay symbolic, how TF's
reduce_retracing generalises traced shapes, and which program a call's shapes fit.

An aval is `(shape, dtype, weak_type)` of one traced leaf. A relaxed aval has `None` for a
size that varies. A pattern is a relaxed aval whose `None`s are named: a `str` is a
symbolic size (equal names must get equal sizes, each at least 1, as JAX's symbolic
dimensions require) and an `int` a fixed one.
"""

from __future__ import annotations

import re

import jax

from xlaflow.tensors import TensorSpec

_ARRAY = None  # jax's concrete array class, learned on first use


def aval(x):
    """`(shape, dtype, weak_type)` of a traced leaf, dtypes as a jax.jit call takes them."""
    global _ARRAY
    if _ARRAY is None:
        _ARRAY = type(jax.numpy.zeros(()))
    if type(x) is _ARRAY:  # the common case, without jax.typeof's dispatch
        return x.shape, x.dtype, x.weak_type
    a = jax.typeof(x)
    return a.shape, a.dtype, a.weak_type


def is_concrete(avals):
    return all(type(d) is int for shape, _, _ in avals for d in shape)


def signature_leaves(signature):
    """The TensorSpecs of an input_signature in leaf order, or None when every size is
    fixed (such a function needs no relaxed program)."""
    from xlaflow.ragged_spec import RaggedTensorSpec

    if signature is None:
        return None
    specs = []
    for s in jax.tree_util.tree_leaves(signature, is_leaf=lambda s: isinstance(s, TensorSpec)):
        # a RaggedTensor's leaves (flat values, one row_splits per ragged dimension) keep
        # their sizes: it is traced per size
        specs.extend([FIXED] * (s.ragged_rank + 1) if isinstance(s, RaggedTensorSpec) else [s])
    if all(s is FIXED or s.shape is not None and None not in s.shape for s in specs):
        return None
    return specs


FIXED = object()  # a signature leaf whose sizes are concrete in every trace


def from_signature(specs, avals):
    """The relaxed avals an input_signature gives a call: its None sizes vary; an unknown
    rank varies in every size of the call's rank (a JAX program has a fixed rank)."""
    if len(specs) != len(avals):  # a structure the signature did not foresee: keep it
        return avals
    out = []
    for spec, (shape, dtype, weak) in zip(specs, avals):
        if spec is FIXED:
            out.append((shape, dtype, weak))
            continue
        dims = shape if spec.shape is None else spec.shape
        out.append((tuple(None if spec.shape is None else d for d in dims), dtype, weak))
    return tuple(out)


def generalize(avals, known):
    """TF's reduce_retracing: the call's avals, each size that differs from a traced one of
    the same structure made None (TF's most specific common supertype, taken with every
    earlier trace in turn). A leaf whose rank or dtype differs has no common type, so that
    trace is skipped (TF would go to an unknown rank, which a JAX program cannot have)."""
    relaxed = tuple(avals)
    for other in known:
        common = _supertype(relaxed, other)
        if common is not None:
            relaxed = common
    return relaxed


def _supertype(a, b):
    if len(a) != len(b):
        return None
    out = []
    for (shape_a, dtype_a, weak_a), (shape_b, dtype_b, weak_b) in zip(a, b):
        if dtype_a != dtype_b or weak_a != weak_b or len(shape_a) != len(shape_b):
            return None
        out.append((tuple(x if _fixed(x) and _fixed(y) and x == y else None
                          for x, y in zip(shape_a, shape_b)), dtype_a, weak_a))
    return tuple(out)


def _fixed(d):
    return type(d) is int


def varies(relaxed):
    return any(d is None for shape, _, _ in relaxed for d in shape)


def fits(relaxed, avals):
    """Whether concrete `avals` can run a program for `relaxed`: every varying size >= 1."""
    return all(d >= 1 for (shape, _, _), (rshape, _, _) in zip(avals, relaxed)
               for d, r in zip(shape, rshape) if r is None)


def symbol_names(names):
    """One identifier per leaf name (`x`, `batch['a']` -> `batch_a`), distinct, to name
    its symbolic sizes `<name>_<axis>` in messages users read."""
    out, used = [], set()
    for name in names:
        base = re.sub(r"\W+", "_", name).strip("_") or "arg"
        base = base if base[0].isalpha() else f"in_{base}"
        candidate, n = base, 1
        while candidate in used:
            candidate, n = f"{base}{n}", n + 1
        used.add(candidate)
        out.append(candidate)
    return out


def name_sizes(relaxed, avals, leaf_symbols, tie):
    """The pattern for `relaxed`: each varying size named `<leaf>_<axis>`. With `tie`,
    varying sizes equal in `avals` (the call being traced) share the first one's name:
    a program may then combine them (`x + y` for two batches), which independent symbols
    refuse; a later call where they differ traces once more, untied."""
    first_of_size = {}
    out = []
    for (rshape, dtype, weak), (shape, _, _), leaf in zip(relaxed, avals, leaf_symbols):
        dims = []
        for axis, (r, d) in enumerate(zip(rshape, shape)):
            if r is not None:
                dims.append(r)
                continue
            name = f"{leaf}_{axis}"
            dims.append(first_of_size.setdefault(d, name) if tie else name)
        out.append((tuple(dims), dtype, weak))
    return tuple(out)


def of_structs(leaves):
    """The pattern of abstract leaves with symbolic sizes (get_concrete_function's specs);
    None when a size is an expression rather than one symbol (not matched to calls)."""
    out = []
    for x in leaves:
        shape, dtype, weak = aval(x)
        dims = []
        for d in shape:
            if _fixed(d):
                dims.append(d)
            elif re.fullmatch(r"[A-Za-z_]\w*", str(d)):
                dims.append(str(d))
            else:
                return None
        out.append((tuple(dims), dtype, weak))
    return tuple(out)


def relaxed_of(pattern):
    """A pattern with its names forgotten (for generalising against it)."""
    return tuple((tuple(d if _fixed(d) else None for d in shape), dtype, weak)
                 for shape, dtype, weak in pattern)


def matches(pattern, avals):
    """Whether concrete `avals` fit `pattern`: fixed sizes equal, a name's sizes equal
    and at least 1, dtypes and weak types the same."""
    if len(pattern) != len(avals):
        return False
    bound = {}
    for (pshape, pdtype, pweak), (shape, dtype, weak) in zip(pattern, avals):
        if pdtype != dtype or pweak != weak or len(pshape) != len(shape):
            return False
        for p, d in zip(pshape, shape):
            if _fixed(p):
                if p != d:
                    return False
            elif d < 1 or bound.setdefault(p, d) != d:
                return False
    return True


def structs(pattern):
    """The jax.ShapeDtypeStructs a pattern stands for, its names symbols of one scope."""
    scope = jax.export.SymbolicScope()
    out = []
    for shape, dtype, weak in pattern:
        if any(not _fixed(d) for d in shape):
            shape = jax.export.symbolic_shape(",".join(map(str, shape)), scope=scope)
        out.append(jax.ShapeDtypeStruct(shape, dtype, weak_type=weak))
    return out


def describe(pattern, names):
    """`x: float32[x_0, 3], y: int32[]`: a pattern for messages."""
    return ", ".join(f"{n}: {jax.numpy.dtype(dtype).name}[{', '.join(map(str, shape))}]"
                     for n, (shape, dtype, _) in zip(names, pattern))


def sizes_named_in(message, pattern, names):
    """The symbolic sizes a JAX error message mentions, as "argument 'x' axis 0 (x_0)";
    the only one there is when it mentions none (`range(x.shape[0])` names no symbol)."""
    sizes = [(f"argument '{name}' axis {axis} ({d})", d)
             for name, (shape, _, _) in zip(names, pattern)
             for axis, d in enumerate(shape) if not _fixed(d)]
    first = {}
    for text, d in sizes:
        first.setdefault(d, text)  # a tied symbol: named where it first appears
    found = [text for d, text in first.items() if re.search(rf"\b{re.escape(d)}\b", message)]
    return found or (list(first.values()) if len(first) == 1 else [])
