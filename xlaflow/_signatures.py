"""How xf.function sees its arguments: static vs traced leaves, input_signature, retrace causes."""

from __future__ import annotations

import inspect
import struct

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow.tensors import TensorSpec
from xlaflow.variables import Variable

ARRAY_TYPES = (jax.Array, np.ndarray, np.generic)
# Traced leaves: arrays, and the abstract shapes get_concrete_function traces for.
TRACED_TYPES = (*ARRAY_TYPES, jax.ShapeDtypeStruct)
PY_SCALARS = (int, float, complex, bool)


class Dynamic:
    """Marks a traced leaf in an argument template (its value arrives at call time)."""

    __slots__ = ()

    def __repr__(self):
        return "<traced>"


DYNAMIC = Dynamic()


class Static:
    """Wraps an argument named in `static_argnames`: it is hashed and never traced."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __hash__(self):
        return hash((type(self.value), self.value))

    def __eq__(self, other):
        return (isinstance(other, Static) and type(other.value) is type(self.value)
                and other.value == self.value)


def is_leaf(x):
    return isinstance(x, (Variable, Static))


def static_key_part(leaf):
    """What a static leaf contributes to the cache key: its type and value, or identity."""
    if isinstance(leaf, Variable):
        return leaf.ref()
    if isinstance(leaf, Static):
        return leaf
    if isinstance(leaf, float):  # 0.0 == -0.0 and nan != nan: key floats by their bits
        return (leaf.__class__, struct.pack("<d", leaf))
    return (leaf.__class__, leaf)


def unwrap(leaf):
    return leaf.value if isinstance(leaf, Static) else leaf


def parameter_names(fn):
    """Names of the positional parameters, for messages; () when not introspectable."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return (), False
    names = tuple(p.name for p in params if p.kind in (p.POSITIONAL_ONLY,
                                                       p.POSITIONAL_OR_KEYWORD))
    varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
    return names, varargs


def positional_parameters(fn):
    """The parameters of `fn` that take positional arguments, positional-only included
    (None when they cannot be known or `fn` takes *args: calls are then left as written)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    return [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def canonical_call(params, args, kwargs, strip_defaults=True):
    """(args, kwargs) in one form for the cache: keyword arguments that name positional
    parameters move into place (a skipped parameter takes its default), and trailing
    arguments equal to their Python defaults are dropped (not with reduce_retracing,
    where numbers are traced and f(x, 1) already shares f(x, 2)'s program). Anything
    unusual (a missing required argument, an unknown keyword) is left for the call itself
    to report."""
    if len(args) > len(params):
        return args, kwargs
    args, kwargs = list(args), dict(kwargs)
    for param in params[len(args):]:
        if param.name in kwargs and param.kind is param.POSITIONAL_OR_KEYWORD:
            args.append(kwargs.pop(param.name))
        elif param.default is not param.empty and any(
                p.name in kwargs and p.kind is p.POSITIONAL_OR_KEYWORD
                for p in params[len(args):]):
            args.append(param.default)
        else:
            break
    while strip_defaults and args and _is_default(args[-1], params[len(args) - 1].default):
        args.pop()
    return tuple(args), kwargs


def _is_default(value, default):
    if value is default:
        return True
    if default is inspect.Parameter.empty or type(value) is not type(default) or \
            not isinstance(value, (bool, int, float, str, type(None))):
        return False
    return static_key_part(value) == static_key_part(default)


def leaf_paths(treedef, param_names):
    """A readable name for every leaf of the flattened (args, kwargs) pair."""
    placeholder = jax.tree_util.tree_unflatten(treedef, [0] * treedef.num_leaves)
    paths, _ = zip(*jax.tree_util.tree_flatten_with_path(placeholder)[0]) if \
        treedef.num_leaves else ((), None)
    return [_path_name(path, param_names) for path in paths]


def _path_name(path, param_names):
    top, rest = path[0].idx, path[1:]
    if top == 0:
        index = rest[0].idx
        name = param_names[index] if index < len(param_names) else f"args[{index}]"
    else:
        name = str(rest[0].key)
    return name + "".join(str(k) for k in rest[1:])


def describe_leaf(leaf):
    if isinstance(leaf, Variable):
        return f"Variable {leaf.name!r}"
    if hasattr(leaf, "shape") and hasattr(leaf, "dtype") and not isinstance(leaf, Static):
        return f"{jnp.dtype(leaf.dtype).name}{list(leaf.shape)}"
    text = repr(unwrap(leaf))
    return "Python value " + (text if len(text) <= 60 else text[:57] + "...")


def retrace_cause(old, new):
    """Name the arguments that differ between two traces' {path: description} maps."""
    if old.keys() != new.keys():
        return (f"the argument structure changed: {sorted(old)} -> {sorted(new)}")
    changed = [f"argument '{k}': {old[k]} -> {new[k]}" for k in new if old[k] != new[k]]
    return "; ".join(changed) if changed else "the same arguments (a new Variable was reached)"


# -- input_signature ----------------------------------------------------------------------

def normalize_input_signature(signature):
    from xlaflow.ragged_spec import RaggedTensorSpec

    if signature is None:
        return None
    leaves = jax.tree_util.tree_leaves(signature, is_leaf=lambda s: isinstance(s, TensorSpec))
    for spec in leaves:
        if not isinstance(spec, (TensorSpec, RaggedTensorSpec)):
            raise TypeError(f"xf.function: input_signature must contain xf.TensorSpec (or "
                            f"xf.RaggedTensorSpec) objects; received {type(spec).__name__}: "
                            f"{spec!r}")
    return tuple(signature)


def apply_input_signature(fn_name, specs, param_names, args, kwargs, positional_only=()):
    """Checks the call against `specs` and converts Python values; returns positional args.
    `positional_only`: parameter names a keyword cannot fill."""
    args = list(args)
    for name, value in kwargs.items():
        if name not in param_names or param_names.index(name) < len(args) or \
                name in positional_only:
            raise TypeError(f"xf.function {fn_name!r}: unexpected keyword argument {name!r} "
                            "for a function with an input_signature")
        index = param_names.index(name)
        args.extend([_MISSING] * (index + 1 - len(args)))
        args[index] = value
    if len(args) != len(specs) or any(a is _MISSING for a in args):
        raise TypeError(f"xf.function {fn_name!r} has an input_signature of {len(specs)} "
                        f"inputs; received {sum(a is not _MISSING for a in args)} arguments")
    out = []
    for index, (spec, arg) in enumerate(zip(specs, args)):
        name = param_names[index] if index < len(param_names) else f"args[{index}]"
        out.append(_conform(fn_name, name, spec, arg))
    return tuple(out), {}


_MISSING = object()


def _conform(fn_name, name, spec, arg):
    from xlaflow.ragged_spec import RaggedTensorSpec

    if isinstance(spec, TensorSpec):
        return _conform_leaf(fn_name, name, spec, arg)
    if isinstance(spec, RaggedTensorSpec):
        return _conform_ragged(fn_name, name, spec, arg)
    is_spec = lambda s: isinstance(s, TensorSpec)
    spec_leaves, spec_tree = jax.tree_util.tree_flatten(spec, is_leaf=is_spec)
    arg_leaves, arg_tree = jax.tree_util.tree_flatten(arg, is_leaf=is_leaf)
    if spec_tree != arg_tree:
        raise TypeError(f"xf.function {fn_name!r}: argument '{name}' does not match the "
                        f"input_signature structure: expected {spec_tree}, received {arg_tree}")
    return jax.tree_util.tree_unflatten(
        arg_tree, [_conform_leaf(fn_name, f"{name}[{i}]", s, a)
                   for i, (s, a) in enumerate(zip(spec_leaves, arg_leaves))])


def _conform_ragged(fn_name, name, spec, arg):
    """A RaggedTensor checked against its RaggedTensorSpec: dtype, ragged_rank, row_splits
    dtype and the known sizes. Its sizes stay concrete: XLA traces it per size."""
    from xlaflow.ragged_spec import RaggedTensorSpec
    from xlaflow.ragged_tensor import RaggedTensor

    if isinstance(arg, RaggedTensorSpec):
        raise TypeError(f"xf.function {fn_name!r}: argument '{name}' is {arg!r}, which has no "
                        "row lengths; a RaggedTensor is traced per size (XLA's shapes are "
                        "static), so pass a RaggedTensor (get_concrete_function(rt))")
    if not isinstance(arg, RaggedTensor):
        raise TypeError(f"xf.function {fn_name!r}: argument '{name}' expected a RaggedTensor "
                        f"matching {spec}; received {type(arg).__name__}")
    got = RaggedTensorSpec.from_value(arg)
    text = np.dtype(got.dtype).kind in "USO"
    if (np.dtype(got.dtype) != np.dtype(spec.dtype) and not (
            text and np.dtype(spec.dtype).kind in "USO")):
        raise TypeError(f"xf.function {fn_name!r}: argument '{name}' expected dtype "
                        f"{np.dtype(spec.dtype).name} ({spec}); received "
                        f"{np.dtype(got.dtype).name}")
    for what in ("ragged_rank", "row_splits_dtype"):
        if getattr(got, what) != getattr(spec, what):
            raise ValueError(f"xf.function {fn_name!r}: argument '{name}' expected {what} "
                             f"{getattr(spec, what)} ({spec}); received {getattr(got, what)}")
    if not spec.is_compatible_with(got):
        raise ValueError(f"xf.function {fn_name!r}: argument '{name}' expected shape "
                         f"{spec.shape} ({spec}); received {got.shape}")
    return arg


def _python_to(fn_name, name, spec, value):
    """A Python number or nested list as `spec`'s dtype, only when nothing is lost: TF
    refuses 1.5 for an int32 spec and 2 for a bool one, and so do we."""
    def refuse(why, cause=None):
        raise TypeError(f"xf.function {fn_name!r}: argument '{name}' expected a tensor "
                        f"matching {spec}; received {value!r} ({why})") from cause

    try:
        raw = np.asarray(value)
    except (TypeError, ValueError, OverflowError) as e:
        refuse("not a number or a nested list of numbers", e)
    want = np.dtype(spec.dtype)
    if raw.dtype.kind not in "biufc":
        refuse(f"{raw.dtype.name} values")
    if want.kind == "b" and raw.dtype.kind != "b":
        refuse("numbers are not booleans")
    if want.kind in "iu" and raw.dtype.kind not in "biu":
        refuse(f"{raw.dtype.name} values do not fit an integer dtype exactly")
    if want.kind in "iu" and raw.size and raw.dtype.kind != "b":
        info = np.iinfo(want)
        if raw.min() < info.min or raw.max() > info.max:
            refuse(f"outside {want.name}'s range {info.min}..{info.max}")
    if want.kind == "f" and raw.dtype.kind == "c":
        refuse("complex values")
    return jnp.asarray(raw, dtype=want)


def _conform_leaf(fn_name, name, spec, arg):
    if isinstance(arg, Variable):
        arg = arg.value
    if not hasattr(arg, "dtype"):
        arg = _python_to(fn_name, name, spec, arg)
    if jnp.dtype(arg.dtype) != spec.dtype:
        raise TypeError(f"xf.function {fn_name!r}: argument '{name}' expected dtype "
                        f"{spec.dtype.name} ({spec}); received {jnp.dtype(arg.dtype).name}")
    if not spec.shape_compatible(tuple(arg.shape)):
        raise ValueError(f"xf.function {fn_name!r}: argument '{name}' expected shape "
                         f"{spec.shape} ({spec}); received {tuple(arg.shape)}")
    return arg


def raise_int_overflow(fn_name, param_names, treedef, leaves, value):
    """A Python int that reduce_retracing would pass as int32 does not fit: name it."""
    name = next(n for n, leaf in zip(leaf_paths(treedef, param_names), leaves)
                if leaf is value)
    raise OverflowError(
        f"xf.function {fn_name!r}: argument '{name}' is the Python int {value}, which "
        "reduce_retracing passes as an int32 tensor, outside its range; pass an int64 array "
        "with jax_enable_x64, or a float.")


# NumPy dtype kinds that a compiled call cannot take as they are: text and objects, and
# 64-bit integers, which JAX narrows to 32 bits without x64 (2**40 silently becomes 0).
HOST_CHECKED_KINDS = "iuOSUV"


def unfit_host_array(value):
    """Whether a NumPy argument cannot enter a compiled call unchanged: text or objects, or
    64-bit integers past 32 bits while x64 is off (the range check reads it once)."""
    kind = value.dtype.kind
    if kind in "OSUV":
        return True
    if kind not in "iu" or value.dtype.itemsize != 8 or not value.size or \
            jax.config.jax_enable_x64:
        return False
    low, high = (-2 ** 31, 2 ** 31 - 1) if kind == "i" else (0, 2 ** 32 - 1)
    return bool(value.max() > high or value.min() < low)


def check_host_array(fn_name, param_names, treedef, leaves, value):
    """Refuse a NumPy argument `unfit_host_array` names, naming the argument and the fix."""
    if not unfit_host_array(value):
        return
    name = next(n for n, leaf in zip(leaf_paths(treedef, param_names), leaves)
                if leaf is value)
    if value.dtype.kind in "iu":
        raise OverflowError(
            f"xf.function {fn_name!r}: argument '{name}' holds {value.dtype} values in "
            f"[{value.min()}, {value.max()}], past 32 bits; JAX's integers are 32-bit unless "
            "64-bit mode is on, and would wrap them. Enable it with "
            "jax.config.update('jax_enable_x64', True), or pass the values as floats.")
    what = "text" if value.dtype.kind in "SU" else "Python objects or bytes"
    raise TypeError(
        f"xf.function {fn_name!r}: argument '{name}' holds {what} (NumPy dtype "
        f"{value.dtype}, shape {value.shape}); a compiled function takes numbers only. "
        "Strings are host values in xlaflow: turn them into ids before the call "
        "(keras.layers.StringLookup / TextVectorization, or a Dataset.map), or run the "
        "function eagerly (xf.config.run_functions_eagerly(True)).")


def raise_unhashable(fn_name, param_names, treedef, template):
    """A static argument cannot be a cache key: name it and say what to pass instead."""
    for name, leaf in zip(leaf_paths(treedef, param_names), template):
        try:
            hash(static_key_part(leaf))
        except TypeError:
            value = unwrap(leaf)
            advice = ("it is in static_argnames, so it must be hashable: pass a tuple, a "
                      "frozen dataclass or another hashable value" if value is not leaf
                      else "pass a tensor, a tuple, or a hashable object")
            raise TypeError(
                f"xf.function {fn_name!r}: argument '{name}' of type {type(value).__name__} "
                "is not hashable. Non-tensor arguments are static (compiled into the program "
                f"and used as cache keys): {advice}.") from None


def specs_as_shapes(name, param_names, static, args, kwargs):
    """TF's `get_concrete_function(TensorSpec(...))`: each spec becomes the
    jax.ShapeDtypeStruct it describes, its None sizes symbolic dimensions (a leading one is
    `batch`, shared by the inputs as in an export), so the trace holds for any size.
    Arguments of `static` parameters (positions and names) are values, left as they are."""
    scope = jax.export.SymbolicScope()
    count = [0]

    def one(path, leaf):
        if not isinstance(leaf, TensorSpec) or path[1] in static:
            return leaf
        if leaf.shape is None:
            raise ValueError(
                f"{name}.get_concrete_function: argument {_path_name(path, param_names)!r} "
                f"is {leaf!r}, of unknown rank; give its TensorSpec a shape (None for the "
                "sizes that vary)")
        count[0] += 1
        return symbolic_struct(leaf, f"d{count[0]}", scope)

    return jax.tree_util.tree_map_with_path(
        one, (args, kwargs), is_leaf=lambda x: isinstance(x, TensorSpec) or is_leaf(x))


def refuse_abstract(name, param_names, treedef, template, dyn):
    """A call with a jax.ShapeDtypeStruct (abstract, no values) is refused by name."""
    for leaf_name, leaf in zip(leaf_paths(treedef, param_names), fill_template(template, dyn)):
        if isinstance(leaf, jax.ShapeDtypeStruct):
            raise TypeError(
                f"{name}() argument {leaf_name!r} is a jax.ShapeDtypeStruct ({leaf.shape}, "
                f"{leaf.dtype}), which has no values; pass an array, or trace abstractly "
                f"with {name}.get_concrete_function(...)")


def fill_template(template, dyn):
    """A call's leaves: the template's static leaves with the traced ones (`dyn`, in order)
    put back where it marks DYNAMIC."""
    it = iter(dyn)
    return [next(it) if x is DYNAMIC else x for x in template]


def symbolic_struct(spec, label, scope, tied=None, batch="batch"):
    """The jax.ShapeDtypeStruct a TensorSpec of known rank stands for: a leading None is
    `batch` (by default shared by the inputs), another None `<label>_<axis>` (or the symbol
    `tied` maps that name to), all in `scope`; the dtype the program takes (int64 is int32 without x64:
    newer JAX warns when asked to truncate)."""
    tied = tied or {}
    dims = [tied.get(batch, batch) if axis == 0 and d is None else
            tied.get(f"{label}_{axis}", f"{label}_{axis}") if d is None
            else str(d) for axis, d in enumerate(spec.shape)]
    shape = jax.export.symbolic_shape(",".join(dims), scope=scope) if dims else ()
    return jax.ShapeDtypeStruct(shape, jax.dtypes.canonicalize_dtype(spec.dtype))
