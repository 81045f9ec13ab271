"""Element structures: nested tuples/dicts of NumPy leaves, their TensorSpecs, and the checks.

Every transformation needs the same few operations (flatten, rebuild, infer a spec, compare
two elements) with error messages that name the component and the element index.
"""

from __future__ import annotations

import numpy as np

from xlaflow.data import ragged_elements, sparse_elements
from xlaflow.data.ragged_elements import RaggedRow
from xlaflow.ragged_spec import RaggedTensorSpec
from xlaflow.ragged_tensor import RaggedTensor
from xlaflow.sparse_tensor import SparseTensor, SparseTensorSpec
from xlaflow.tensors import TensorSpec

_SPECS = (TensorSpec, SparseTensorSpec, RaggedTensorSpec)
_ROWS = (sparse_elements.Rows, ragged_elements.Rows)  # split composite leaves

# As in tf.data's own `nest`: tuples (namedtuples included) and dicts are structure, and
# everything else -- lists included -- is a leaf that becomes one array.
_NODES = (tuple, dict)


def sorted_keys(d):
    # Sorted like TF's nest, so that {'a', 'b'} built in either order is the same structure.
    try:
        return sorted(d)
    except TypeError:
        return list(d)


def _children(node):
    if isinstance(node, dict):
        return [(f"[{k!r}]", node[k]) for k in sorted_keys(node)]
    return [(f"[{i}]", v) for i, v in enumerate(node)]


def is_flat_tuple(x):
    # The common element `(x, y)`: a plain tuple of leaves, handled without recursion.
    return type(x) is tuple and not any(isinstance(c, _NODES) for c in x)


def flatten(x):
    """The leaves of `x`, in the canonical order (dict keys sorted)."""
    # Runs once per element per stage: the flat tuple `(x, y)` takes the short way.
    if is_flat_tuple(x):
        return list(x)
    if isinstance(x, dict):
        values = [x[k] for k in sorted_keys(x)]
        if not any(isinstance(v, _NODES) for v in values):
            return values  # a dict of leaves (parsed features, CSV columns): no recursion
        return [leaf for v in values for leaf in flatten(v)]
    if isinstance(x, tuple):
        return [leaf for child in x for leaf in flatten(child)]
    return [x]


def paths(x, prefix=""):
    """The path of each leaf (e.g. `[0]['image']`), in `flatten`'s order."""
    if not isinstance(x, _NODES):
        return [prefix]
    out = []
    for key, child in _children(x):
        out.extend(paths(child, prefix + key))
    return out


def pack_as(structure, leaves):
    """Rebuild `structure`'s shape (its types and key order) around `leaves`."""
    return packer(structure)(leaves)


def packer(structure):
    """`pack_as(structure, ...)` as a function, for stages that pack every element alike."""
    if is_flat_tuple(structure):
        return tuple
    if not isinstance(structure, _NODES):
        return lambda leaves: next(iter(leaves))
    return lambda leaves: _build(structure, iter(leaves))


def _build(node, it):
    if isinstance(node, dict):
        # Values go in sorted-key order (as flattened) but keep the node's key order.
        values = {k: _build(node[k], it) for k in sorted_keys(node)}
        return type(node)((k, values[k]) for k in node)
    if isinstance(node, tuple):
        items = [_build(child, it) for child in node]
        return type(node)(*items) if hasattr(node, "_fields") else type(node)(items)
    return next(it)


def signature(x):
    """A hashable description of `x`'s structure (leaves elided): equal iff same structure."""
    if isinstance(x, dict):
        return ("dict", tuple((k, signature(x[k])) for k in sorted_keys(x)))
    if isinstance(x, tuple):
        return (type(x).__name__ if hasattr(x, "_fields") else "tuple",
                tuple(signature(c) for c in x))
    return "*"


def map_structure(fn, *structures):
    """`fn` applied leafwise over structures that share the first one's structure."""
    return pack_as(structures[0], [fn(*leaves) for leaves in zip(*map(flatten, structures))])


def flatten_up_to(shallow, value, what):
    """`value`'s subtrees at each leaf position of `shallow` (a structure of specs).

    For per-component arguments (padded_shapes, padding_values) whose own leaves may be
    tuples -- `((None,), ())` is two shapes, not structure.
    """
    if isinstance(shallow, dict):
        if not isinstance(value, dict) or set(value) != set(shallow):
            raise TypeError(f"{what} must have the elements' structure "
                            f"{describe(shallow)}; received {value!r}")
        return [v for k in sorted_keys(shallow)
                for v in flatten_up_to(shallow[k], value[k], what)]
    if isinstance(shallow, tuple):
        if not isinstance(value, (tuple, list)) or len(value) != len(shallow):
            raise TypeError(f"{what} must have the elements' structure "
                            f"{describe(shallow)}; received {value!r}")
        return [v for s, x in zip(shallow, value) for v in flatten_up_to(s, x, what)]
    return [value]


def where(path):
    """`path` phrased for an error message ("" is the element itself)."""
    return f" component {path}" if path else ""


# --- leaves -------------------------------------------------------------------------------

def _python_number(x):
    while isinstance(x, list) and x:
        x = x[0]
    return type(x) in (int, float)  # exact types: np.float64 subclasses float but is typed


def to_numpy(x):
    """A leaf as a NumPy array (rank >= 1) or NumPy scalar (rank 0), never a jax array.

    Python numbers follow TF's defaults (int32 when it fits, float32); anything with a
    dtype (NumPy, jax arrays) keeps it. Only host memory is touched: no XLA computation.
    """
    if isinstance(x, np.generic):
        return x
    if isinstance(x, np.ndarray):
        if type(x) is not np.ndarray:
            from xlaflow.data.host_tensor import HostTensor  # it imports this module
            if isinstance(x, (HostTensor, RaggedRow)):
                # an element of another pass: the pipeline holds plain NumPy, so map
                # functions and as_numpy_iterator see what any other source gives them;
                # a ragged row returned by a map function is dense, as TF's map gives it
                x = x.view(np.ndarray)
        # a 0-d object array is one bytes value (a TFRecord record): unwrapped, NumPy
        # would turn it into its bytes dtype, which drops trailing NUL bytes
        return x[()] if x.ndim == 0 and x.dtype != object else x
    if x is None:
        raise TypeError("None is not a valid dataset component")
    if isinstance(x, SparseTensor):
        return sparse_elements.host(x)  # indices and values as NumPy, as dense leaves
    if isinstance(x, RaggedTensor):
        return ragged_elements.host(x)  # values and row_splits as NumPy
    arr = np.asarray(x)
    if arr.dtype.kind == "S" and not hasattr(x, "dtype"):
        arr = _lossless_bytes(x, arr)
    if not hasattr(x, "dtype") and _python_number(x):
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        elif arr.dtype == np.int64 and (arr.size == 0 or (
                arr.min() >= np.iinfo(np.int32).min and arr.max() <= np.iinfo(np.int32).max)):
            arr = arr.astype(np.int32)  # TF keeps int64 only for values that need it
    return arr[()] if arr.ndim == 0 and arr.dtype != object else arr


def _lossless_bytes(x, arr):
    # Python bytes (serialized protos) that end in NUL: NumPy's bytes dtype would drop
    # those bytes, so such values travel as an object array of bytes, as records do
    values = np.empty(arr.shape, dtype=object)
    values[...] = x if arr.ndim == 0 else np.asarray(x, dtype=object)
    if values.shape == arr.shape and any(
            isinstance(v, bytes) and v.endswith(b"\x00") for v in values.flat):
        return values
    return arr


def stack(column):
    """The arrays of `column` stacked on a new first axis (np.array, several times faster
    than np.stack); object arrays of bytes stay one object array, values not nested."""
    first = column[0]
    if type(first) is SparseTensor:
        return sparse_elements.stack(column)
    if type(first) in (RaggedTensor, RaggedRow):  # TF: one more ragged dimension
        return ragged_elements.stack(column)
    if not (isinstance(first, np.ndarray) and first.dtype == object):
        out = np.array(column)
        if out.dtype != object or getattr(first, "dtype", np.dtype(object)).kind not in "SU":
            return out
        # strings, then a record that had to stay whole: NumPy nested the record's
        # array in the result; stack them all as bytes values instead
    shape = np.shape(first)
    if any(np.shape(v) != shape for v in column):
        raise ValueError(f"cannot stack object arrays of shapes "
                         f"{sorted({np.shape(v) for v in column})}")
    out = np.empty((len(column),) + shape, dtype=object)
    for i, value in enumerate(column):
        # str beside bytes (a text line beside one that is not UTF-8): TF's form is bytes
        out[i, ...] = bytes_array(value) if np.asarray(value).dtype.kind == "U" \
            else value
    return out


def bytes_array(value):
    """A str array (or scalar) as an object array of its UTF-8 bytes, TF's form."""
    array = np.asarray(value)
    out = np.empty(array.shape, dtype=object)
    for index, text in np.ndenumerate(array):
        out[index] = text.encode("utf-8")
    return out


def row(leaf, i):
    """Row `i` of `leaf`, as an element leaf (a 0-d object array for a bytes value); a
    sparse or ragged leaf is split as `sparse_elements.Rows` or `ragged_elements.Rows` first."""
    if type(leaf) in _ROWS:
        return leaf.row(i)
    return leaf[i, ...] if leaf.dtype == object and leaf.ndim == 1 else leaf[i]


def normalize(element):
    """An element with every leaf converted by `to_numpy`."""
    if is_flat_tuple(element):
        return tuple(map(to_numpy, element))
    if type(element) is dict and not any(isinstance(v, _NODES) for v in element.values()):
        return {k: to_numpy(v) for k, v in element.items()}
    return pack_as(element, [to_numpy(leaf) for leaf in flatten(element)])


def _kind(dtype):
    return "i" if dtype.kind == "u" else dtype.kind  # signed and unsigned: one kind


def same_dtype(a, b):
    a, b = np.dtype(a), np.dtype(b)
    # Strings of any width or form (<U3, |S7, object arrays of bytes) are TF's tf.string.
    return a == b or (a.kind in "USO" and b.kind in "USO")


# --- specs --------------------------------------------------------------------------------

def leaf_spec(leaf):
    """The spec that exactly describes one leaf."""
    kind = type(leaf)
    if kind is SparseTensor:
        return sparse_elements.spec(leaf)
    if kind is RaggedTensor:
        return ragged_elements.spec(leaf)
    if kind is RaggedRow:
        return ragged_elements.row_spec(leaf)
    return TensorSpec(np.shape(leaf), leaf.dtype)


def spec_of(element):
    """The TensorSpec structure that exactly describes `element`."""
    return map_structure(leaf_spec, element)


def leaf_kind(leaf):
    """What a leaf is, for messages and for checking that elements agree."""
    kind = type(leaf)
    if kind is SparseTensor:
        return "a SparseTensor"
    if kind is RaggedTensor:
        return "a RaggedTensor"
    return "a ragged row" if kind is RaggedRow else "a dense array"


def leaf_dtype(leaf):
    """A leaf's NumPy dtype (a RaggedTensor's is its flat values')."""
    return leaf.flat_values.dtype if type(leaf) is RaggedTensor else leaf.dtype


def is_spec_structure(x):
    return all(isinstance(leaf, _SPECS) for leaf in flatten(x))


def most_specific_common(a, b):
    """The spec that both `a` and `b` satisfy (dims that differ become None), or None."""
    if signature(a) != signature(b):
        return None
    out = []
    for sa, sb in zip(flatten(a), flatten(b)):
        if type(sa) is not type(sb) or not same_dtype(sa.dtype, sb.dtype):
            return None
        if type(sa) is RaggedTensorSpec:
            merged = ragged_elements.common(sa, sb)
            if merged is None:
                return None
            out.append(merged)
            continue
        if sa.shape is None or sb.shape is None or len(sa.shape) != len(sb.shape):
            shape = None
        else:
            shape = [da if da == db else None for da, db in zip(sa.shape, sb.shape)]
        out.append(type(sa)(shape, sa.dtype))
    return pack_as(a, out)


def with_leading(spec, dim):
    """`spec` with a new leading dimension `dim` (None for unknown) on every component."""
    return map_structure(
        lambda s: ragged_elements.batched(s, dim) if type(s) is RaggedTensorSpec else
        type(s)(None if s.shape is None else (dim,) + s.shape, s.dtype), spec)


def describe(x):
    """A short rendering of an element's or spec's structure for error messages."""
    def leaf(v):
        if isinstance(v, _SPECS):
            return repr(v)
        if type(v) is SparseTensor:
            return f"<SparseTensor {np.dtype(v.dtype).name} {list(v.shape)}>"
        if type(v) is RaggedTensor:
            return f"<RaggedTensor {leaf_dtype(v).name} {v.shape.as_list()}>"
        if isinstance(v, (np.ndarray, np.generic)):
            return f"<{v.dtype.name} {v.shape}>"
        return getattr(v, "__name__", type(v).__name__)
    return repr(pack_as(x, [_Raw(leaf(v)) for v in flatten(x)]))


class _Raw(str):
    def __repr__(self):
        return str(self)
