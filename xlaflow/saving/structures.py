"""Nested Python structures as JSON, for restored functions: arguments and results.

A restored function is matched against its saved traces by the call's structure, tensor
shapes and dtypes and Python values (TF's rule: Python arguments compare by value), and
returns its trace's output structure. Tuples, lists, dicts with string keys and None are
kept (a namedtuple comes back a tuple: its class is Python the export never stores).
"""

from __future__ import annotations

import jax
import numpy as np

_TENSOR_TYPES = (jax.Array, np.ndarray, np.generic)
_VALUE_TYPES = {bool: "bool", int: "int", float: "float", str: "str"}


def named_arguments(params, args, kwargs, name="function"):
    """{parameter name: value} of a call, positional arguments named by `params` (past them:
    'args[i]'), the one naming rule of saved traces and restored calls."""
    bound = {params[i] if i < len(params) else f"args[{i}]": a for i, a in enumerate(args)}
    twice = sorted(set(bound) & set(kwargs))
    if twice:
        raise TypeError(f"{name}() got multiple values for {twice}")
    bound.update(kwargs)
    return bound


class Unencodable(TypeError):
    """A trace's argument that JSON cannot describe (an object, a Variable passed in)."""


def encode(value, tensor):
    """`value` as JSON; `tensor(x)` describes each tensor leaf (or returns None when `x`
    is not one)."""
    described = tensor(value)
    if described is not None:
        return {"kind": "tensor", **described}
    if value is None:
        return {"kind": "none"}
    if type(value) in _VALUE_TYPES:
        stored = float.hex(value) if type(value) is float else value  # nan/inf, exactly
        return {"kind": "value", "type": _VALUE_TYPES[type(value)], "value": stored}
    if isinstance(value, (tuple, list)):
        return {"kind": "list" if isinstance(value, list) else "tuple",
                "items": [encode(v, tensor) for v in value]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise Unencodable(f"a dict with keys {list(value)!r} (only string keys are kept)")
        return {"kind": "dict", "keys": list(value),
                "items": [encode(v, tensor) for v in value.values()]}
    raise Unencodable(f"{type(value).__name__} {value!r}")


def tensor_indices(spec):
    """The tensor indices `spec` holds, in its order (load checks them against the
    program's arguments and results: a crafted description must not index past them)."""
    if spec["kind"] == "tensor":
        return [spec["index"]]
    return [i for s in spec.get("items", ()) for i in tensor_indices(s)]


def python_value(spec):
    """The Python value a `value` entry holds."""
    if spec["type"] == "float":
        return float.fromhex(spec["value"])
    return {"bool": bool, "int": int, "str": str}[spec["type"]](spec["value"])


def decode(spec, leaves):
    """The structure `spec` describes, its tensors taken from `leaves` by index."""
    kind = spec["kind"]
    if kind == "tensor":
        return leaves[spec["index"]]
    if kind == "none":
        return None
    if kind == "value":
        return python_value(spec)
    items = [decode(s, leaves) for s in spec["items"]]
    if kind == "dict":
        return dict(zip(spec["keys"], items))
    return items if kind == "list" else tuple(items)


def match(spec, value, found, convert):
    """Whether `value` fits `spec`; each tensor matched is put in `found` at its index.
    `convert`: Python numbers and lists may stand for a tensor (an input_signature's)."""
    kind = spec["kind"]
    if kind == "tensor":
        array = _as_tensor(value, spec, convert)
        if array is None:
            return False
        found[spec["index"]] = array
        return True
    if kind == "none":
        return value is None
    if kind == "value":
        want = python_value(spec)
        if type(value) is not type(want):
            return False
        if type(value) is float:  # by bits, as xf.function keys them (nan, -0.0)
            return float.hex(value) == spec["value"]
        return value == want
    if kind in ("list", "tuple"):
        if type(value) is not (list if kind == "list" else tuple) and not (
                kind == "tuple" and isinstance(value, tuple)):  # a namedtuple fits
            return False
        return len(value) == len(spec["items"]) and all(
            match(s, v, found, convert) for s, v in zip(spec["items"], value))
    if kind == "dict":
        return isinstance(value, dict) and set(value) == set(spec["keys"]) and all(
            match(s, value[k], found, convert) for k, s in zip(spec["keys"], spec["items"]))
    return False


def _as_tensor(value, spec, convert):
    from xlaflow.variables import Variable
    if isinstance(value, Variable):
        value = value.value
    want = np.dtype(spec["dtype"])
    if not isinstance(value, _TENSOR_TYPES):
        if not convert or isinstance(value, (str, bytes)) or value is None:
            return None
        try:
            raw = np.asarray(value)
        except (TypeError, ValueError, OverflowError):
            return None
        if raw.dtype.kind not in "biuf" or not np.can_cast(raw.dtype, want, "same_kind") \
                or (want.kind == "b") != (raw.dtype.kind == "b"):
            return None
        value = raw.astype(want)
        if want.kind in "iu" and not np.array_equal(value, raw):
            return None  # out of the trace's integer range: a cast would wrap it silently
    dtype = jax.dtypes.canonicalize_dtype(value.dtype)
    if dtype != jax.dtypes.canonicalize_dtype(want):
        return None
    shape = spec["shape"]
    if len(value.shape) != len(shape) or any(
            w is not None and w != h for w, h in zip(shape, value.shape)):
        return None
    return value


def describe(spec):
    """TF's text of a saved argument: `float32 Tensor, shape=(2,)`, a value, a structure."""
    kind = spec["kind"]
    if kind == "tensor":
        shape = tuple(spec["shape"])
        return f"{spec['dtype']} Tensor, shape={shape}"
    if kind == "none":
        return "None"
    if kind == "value":
        return repr(python_value(spec))
    items = [describe(s) for s in spec["items"]]
    if kind == "dict":
        return "{" + ", ".join(f"{k!r}: {v}" for k, v in zip(spec["keys"], items)) + "}"
    inner = ", ".join(items) + ("," if kind == "tuple" and len(items) == 1 else "")
    return f"[{inner}]" if kind == "list" else f"({inner})"


def describe_value(value):
    """The same text for a call's argument."""
    from xlaflow.variables import Variable
    if isinstance(value, Variable):
        value = value.value
    if isinstance(value, _TENSOR_TYPES):
        return f"{np.dtype(value.dtype).name} Tensor, shape={tuple(value.shape)}"
    if isinstance(value, (list, tuple)):
        items = [describe_value(v) for v in value]
        inner = ", ".join(items) + ("," if isinstance(value, tuple) and len(items) == 1 else "")
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {describe_value(v)}" for k, v in value.items()) + "}"
    return repr(value)
