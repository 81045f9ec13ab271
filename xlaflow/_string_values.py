"""The values xf.strings reads and returns: any text a TF program holds, as an object array
of bytes (TF's strings are bytes), and results as xf.constant's host text values.

Text never enters XLA, so a traced value (an xf.function argument) or a symbolic Keras
tensor is refused here, by op and argument, before any work is done.
"""

from __future__ import annotations

import numpy as np

from xlaflow._host_text import host_tensor_type

_TEXT_LEAVES = (str, bytes, np.str_, np.bytes_)


def refuse_traced(value, op, arg):
    """TypeError for a value that lives inside a compiled trace or a Keras graph."""
    import jax

    from xlaflow import _op_dispatch
    leaves = jax.tree_util.tree_leaves(value) if isinstance(value, (list, tuple)) else [value]
    if any(isinstance(leaf, jax.core.Tracer) for leaf in leaves):
        raise TypeError(
            f"tf.strings.{op}: argument '{arg}' is a traced value inside a compiled function "
            "(xf.function); text runs on the host in xlaflow: call tf.strings ops eagerly or "
            "in a Dataset.map before the compiled part, and feed the model numbers or ids")
    if _op_dispatch.has_symbolic([value]):
        raise TypeError(
            f"tf.strings.{op}: argument '{arg}' is a symbolic Keras tensor; xlaflow's text "
            "ops are not graph nodes: apply them in a Dataset.map or a TextVectorization "
            "standardize= callable, which run on the host")


def text_array(value, op, arg="input"):
    """`value` (str, bytes, nested lists of them, NumPy str/bytes/object arrays, host text
    values) as an object array of bytes: str is UTF-8 encoded, as TF's constants are."""
    refuse_traced(value, op, arg)
    if isinstance(value, _TEXT_LEAVES):
        out = np.empty((), dtype=object)
        out[()] = _as_bytes(value)
        return out
    if isinstance(value, (list, tuple)):
        array = np.empty(0, dtype=object) if not value else _nested(value, op, arg)
    else:
        array = np.asarray(value) if isinstance(value, np.ndarray) or hasattr(
            value, "__array__") else None
        if array is None or array.dtype.kind not in "USO":
            kind = array.dtype if array is not None else type(value).__name__
            raise TypeError(f"tf.strings.{op}: argument '{arg}' must be a string tensor "
                            f"(str, bytes, or an array of them); received {kind} "
                            f"{value!r:.60}")
    if array.dtype.kind == "O":
        bad = [v for v in array.reshape(-1).tolist() if not isinstance(v, _TEXT_LEAVES)]
        if bad:
            kind = np.asarray(bad).dtype if len(bad) == array.size else \
                type(bad[0]).__name__  # all numbers: name their dtype, as for an array
            raise TypeError(f"tf.strings.{op}: argument '{arg}' must be a string tensor; "
                            f"received {kind} values ({bad[0]!r:.40})")
    out = np.empty(array.shape, dtype=object)
    for index, v in np.ndenumerate(array):
        out[index] = _as_bytes(v)
    return out


def _nested(value, op, arg):
    try:
        array = np.array(value, dtype=object)
    except ValueError:
        array = None
    if array is None or any(isinstance(v, (list, tuple)) for v in array.reshape(-1)):
        raise ValueError(f"tf.strings.{op}: argument '{arg}' is a non-rectangular (ragged) "
                         f"nested list {value!r:.60}; make it a RaggedTensor first "
                         "(xf.ragged.constant(rows)): the op then keeps its rows, as TF's")
    return array


def _as_bytes(v):
    return v.encode("utf-8") if isinstance(v, str) else bytes(v)


def scalar_text(value, op, arg):
    """One string argument (a pattern, a separator) as bytes."""
    array = text_array(value, op, arg)
    if array.ndim != 0:
        raise ValueError(f"tf.strings.{op}: argument '{arg}' must be a scalar string; "
                         f"received shape {array.shape}")
    return array[()]


def text_result(array):
    """An object array of bytes as xf.constant gives text: a NumPy str array viewed as a
    HostTensor, or (bytes that are not UTF-8, or hold a NUL, which NumPy's str type drops)
    the object array of bytes itself, as TF keeps them."""
    flat = array.reshape(-1).tolist()
    # One join, one decode: NUL-separated, so a piece that holds a NUL shows as an extra one
    joined = b"\x00".join(flat)
    if flat and joined.count(b"\x00") == len(flat) - 1:
        try:
            decoded = joined.decode("utf-8").split("\x00")
            return np.array(decoded, dtype=str).reshape(array.shape).view(
                host_tensor_type())
        except UnicodeDecodeError:
            pass
    elif not flat:
        return np.array([], dtype=str).reshape(array.shape).view(host_tensor_type())
    out = np.empty(len(flat), dtype=object)
    for i, b in enumerate(flat):  # one by one: a list would pass through NumPy's bytes type
        out[i] = b
    return out.reshape(array.shape).view(host_tensor_type())


def number_result(array, dtype):
    """Numbers a string op computes, as a host tensor of TF's dtype (int32 for a length)."""
    return np.asarray(array, dtype=dtype).view(host_tensor_type())


def elementwise(fn, array):
    """`fn` applied to each bytes value of `array`, in an object array of the same shape."""
    out = np.empty(array.shape, dtype=object)
    for index, v in np.ndenumerate(array):
        out[index] = fn(v)
    return out
