"""Symbolic tensors for the functional API: `Input(...)`, and layers called on them.

A layer called on symbolic tensors builds itself and infers its output with jax.eval_shape,
recording the call as a node; models/functional.py turns the recorded nodes into a Model.
"""

from __future__ import annotations

import typing

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _lifting, _op_dispatch, backend_config, variable_operators
from xlaflow._string_dtype import HOST_STRING
from xlaflow.layers import keras_mask
from xlaflow.layers.ragged_rows import refuse_lost_rows, refuse_step_mixing
from xlaflow.tensors import is_string_dtype


class SymbolicTensor(_op_dispatch.Symbolic):
    """A placeholder for a tensor in a functional graph: shape (None = batch) and dtype.
    Public ops (xf.concat, xf.math.*, ...) given one record a node (_op_dispatch.py)."""

    def __init__(self, shape, dtype, node=None, name=None):
        super().__init__()
        self.shape = tuple(shape)
        # strings (keras.Input(dtype="string")) feed only host layers: see is_text
        self.dtype = HOST_STRING if is_string_dtype(dtype) else jnp.dtype(dtype)
        self.node = node
        self.name = name
        self.input_layer = None  # an Input's InputLayer (Keras 2's _keras_history.layer)
        # the ragged Input whose rows this tensor's axis 1 follows (Keras 2: a RaggedTensor)
        self.ragged_source = None

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        dtype = "string" if is_text(self) else self.dtype.name
        return f"<SymbolicTensor shape={self.shape} dtype={dtype} name={self.name}>"

    @property
    def _keras_mask(self):
        """The symbolic mask the graph gives this tensor (Keras 2's KerasTensor._keras_mask):
        a boolean SymbolicTensor of its leading shape, or None."""
        return keras_mask.get_mask(self)

    # -- operators: recorded as nodes of an Operator layer (Keras 2's TFOpLambda) ------------
    __array_ufunc__ = None  # NumPy then leaves `array * x` to x.__rmul__

    def __add__(self, other):
        return _operators().binary("add", self, other)

    def __radd__(self, other):
        return _operators().binary("add", self, other, reverse=True)

    def __sub__(self, other):
        return _operators().binary("subtract", self, other)

    def __rsub__(self, other):
        return _operators().binary("subtract", self, other, reverse=True)

    def __mul__(self, other):
        return _operators().binary("multiply", self, other)

    def __rmul__(self, other):
        return _operators().binary("multiply", self, other, reverse=True)

    def __truediv__(self, other):
        return _operators().binary("truediv", self, other)

    def __rtruediv__(self, other):
        return _operators().binary("truediv", self, other, reverse=True)

    def __matmul__(self, other):
        return _operators().binary("matmul", self, other)

    def __rmatmul__(self, other):
        return _operators().binary("matmul", self, other, reverse=True)

    def __floordiv__(self, other):
        return _operators().binary("floordiv", self, other)

    def __rfloordiv__(self, other):
        return _operators().binary("floordiv", self, other, reverse=True)

    def __mod__(self, other):
        return _operators().binary("floormod", self, other)

    def __rmod__(self, other):
        return _operators().binary("floormod", self, other, reverse=True)

    def __pow__(self, other):
        return _operators().binary("pow", self, other)

    def __rpow__(self, other):
        return _operators().binary("pow", self, other, reverse=True)

    # Comparisons are elementwise, as TF's; == and != stay identity (graph bookkeeping and
    # `x in list` rely on it): compare values with xf.equal / xf.math.not_equal.
    def __lt__(self, other):
        return _operators().binary("less", self, other)

    def __le__(self, other):
        return _operators().binary("less_equal", self, other)

    def __gt__(self, other):
        return _operators().binary("greater", self, other)

    def __ge__(self, other):
        return _operators().binary("greater_equal", self, other)

    def __neg__(self):
        return _operators().unary("negative", self)

    def __abs__(self):
        return _operators().unary("abs", self)

    def __getitem__(self, key):
        return _operators().getitem(self, key)

    # -- what has no value while the graph is written: a clear error, not a wrong answer ----
    def _no_value(self, what):
        return TypeError(
            f"{what} needs a value, and {self!r} is a symbolic tensor: it has none while the "
            "functional graph is written. Compute with its operators (+ - * / // % ** @, "
            "< <= > >=, abs, indexing), xlaflow's ops (xf.concat, xf.math.reduce_mean, "
            "...), a layer from xf.keras.layers (xf.keras.layers.Lambda(fn) runs "
            "fn's jax.numpy code on the real arrays), or your own Layer subclass")

    def __array__(self, dtype=None, copy=None):
        raise self._no_value("converting to a NumPy array")

    def __bool__(self):
        raise self._no_value("bool() (an if, and, or, not)")

    def __iter__(self):
        raise self._no_value("iterating")

    def __len__(self):
        raise self._no_value("len()")

    def __float__(self):
        raise self._no_value("float()")

    def __int__(self):
        raise self._no_value("int()")

    def __index__(self):
        raise self._no_value("use as an index")


variable_operators.defer_to(SymbolicTensor)


def _operators():
    from xlaflow.layers import operators  # operators.py builds on Layer, which imports us
    return operators


class Node:
    """One layer call in the graph: the layer, its symbolic inputs and extra arguments."""

    def __init__(self, layer, inputs, args, kwargs, outputs):
        self.layer, self.inputs, self.args, self.kwargs = layer, inputs, args, kwargs
        self.outputs = outputs


def is_symbolic(x):
    return isinstance(x, SymbolicTensor)


def is_text(x):
    """Whether `x` is a symbolic tensor of strings (a string Input, a host layer's text)."""
    return isinstance(x, SymbolicTensor) and x.dtype.kind == "U"


def refuse_text(layer, leaves):
    """A TypeError if a symbolic string is among `leaves`: XLA holds no strings, only host
    layers (which a model runs before its compiled part) take them."""
    text = [leaf for leaf in leaves if is_text(leaf)]
    if text:
        raise TypeError(
            f"{layer.name} ({type(layer).__name__}) received {text[0]!r}, a tensor of "
            "strings; only host layers (keras.layers.StringLookup, TextVectorization) take "
            "strings: look the strings up first, e.g. StringLookup(vocabulary=...)(x), and "
            "feed its ids to the other layers")


def has_symbolic(inputs):
    return any(is_symbolic(leaf) for leaf in jax.tree_util.tree_leaves(
        inputs, is_leaf=is_symbolic))


def Input(shape=None, batch_size=None, dtype=None, name=None, *, batch_shape=None,
          sparse=None, ragged=None):  # Keras
    """A symbolic input of one example's `shape` (the batch dimension is added), or of the
    whole `batch_shape` (Keras 2's keyword), of `dtype` (None: keras.backend.floatx())."""
    if sparse and ragged:
        raise ValueError("Cannot set both sparse and ragged to True in a Keras input; "
                         "received sparse=True, ragged=True")
    if sparse:
        raise NotImplementedError(
            "Input(sparse=True): xlaflow's Keras inputs are dense arrays. Use a dense Input "
            "of the SparseTensor's dense shape and feed it xf.sparse.to_dense(st); inside a "
            "layer, xf.sparse.sparse_dense_matmul takes the SparseTensor itself")
    if (shape is None) == (batch_shape is None):
        raise ValueError("Input needs exactly one of `shape` (one example's shape) and "
                         f"`batch_shape` (with the batch dimension); received shape={shape!r}"
                         f", batch_shape={batch_shape!r}")
    if batch_shape is not None:
        if batch_size is not None:
            raise ValueError("Input takes `batch_size` or `batch_shape`, not both; received "
                             f"batch_size={batch_size!r}, batch_shape={batch_shape!r}")
        batch_shape = tuple(batch_shape)
        if not batch_shape:
            raise ValueError("Input's `batch_shape` includes the batch dimension; received "
                             "batch_shape=()")
        batch_size, shape = batch_shape[0], batch_shape[1:]
    if isinstance(shape, int):  # Keras 2's InputLayer: Input(shape=(784)) is (784,)
        shape = (shape,)
    if dtype is None:
        dtype = backend_config.floatx()
    if name is None:  # Keras 2's input_1, input_2, ...: exported signatures name their
        from xlaflow.layers.base import unique_name  # inputs after them
        name = unique_name("input", zero_based=False)
    tensor = SymbolicTensor((batch_size, *tuple(shape)), dtype, None, name)
    if ragged:
        make_ragged(tensor)
    input_layer_of(tensor)
    return tensor


def make_ragged(tensor):
    """Make the Input `tensor` ragged (Keras 2's Input(ragged=True)): rows of any length
    along axis 1, fed as their padded form whose mask (the rows' lengths) the layers see."""
    shape = tensor.shape[1:]
    if len(shape) not in (1, 2) or shape[0] is not None or (
            len(shape) == 2 and not isinstance(shape[1], int)):
        raise ValueError(
            "Input(ragged=True) takes shape [None] (rows of values) or [None, d] (rows of "
            f"d-vectors): ragged_rank 1, as xlaflow's Keras models feed it; received shape "
            f"{list(shape)}")
    if is_text(tensor):
        raise NotImplementedError(
            "Input(ragged=True, dtype='string'): ragged text; look the strings up first "
            "(StringLookup on rt.flat_values, then rt.with_flat_values(ids)) and declare "
            "an integer ragged Input")
    tensor.ragged_source = tensor
    keras_mask.set_mask(tensor, SymbolicTensor(tensor.shape[:2], jnp.bool_, None,
                                               f"{tensor.name}_mask"))


def input_layer_of(tensor):
    """The InputLayer of the Input `tensor` (made once): as in Keras 2, each Input has one,
    named as the Input, and a functional model lists it among its layers."""
    if tensor.input_layer is None:
        from xlaflow.layers.core import InputLayer  # core builds on Layer, which imports us
        layer = InputLayer(batch_input_shape=tensor.shape, dtype=tensor.dtype,
                           name=tensor.name, ragged=tensor.ragged_source is tensor)
        tensor.input_layer, layer._input_tensor = layer, tensor
    return tensor.input_layer


def input_of(layer):
    """The Input tensor of the InputLayer `layer` (made once): a saved model's InputLayers
    become its Inputs again, keeping their names and dtypes."""
    tensor = layer.__dict__.get("_input_tensor")
    if tensor is None:
        tensor = SymbolicTensor(layer._batch_input_shape, layer.dtype, None, layer.name)
        if layer.ragged:
            make_ragged(tensor)
        tensor.input_layer, layer._input_tensor = layer, tensor
    return tensor


def symbolic_call(layer, inputs, args, kwargs, training=None):
    """Record `layer(inputs, *args, **kwargs)` in the graph and return its symbolic outputs.

    Symbolic tensors may sit anywhere in the arguments (`MultiHeadAttention()(q, v,
    attention_mask=m)`, `LSTM()(x, initial_state=[h, c])`): each becomes a shape spec for
    the shape inference and a dependency of the node. An explicit `training` is recorded:
    as in Keras 2, it then wins over the training flag the model is run with.

    Masks as Keras 2 builds a functional graph: the symbolic masks of the inputs are given
    to the shape pass, so `call(mask=...)` sees a mask of the right shape, and the masks
    the layer attaches to its outputs become theirs. The graph records no masks: a real run
    computes them again from the real inputs."""
    leaves, tree = jax.tree_util.tree_flatten((inputs, tuple(args), dict(kwargs)),
                                              is_leaf=is_symbolic)
    refuse_text(layer, leaves)
    where = [i for i, leaf in enumerate(leaves) if is_symbolic(leaf)]
    refuse_step_mixing(layer, [leaves[i] for i in where])
    masked = [i for i in where if keras_mask.get_mask(leaves[i]) is not None]

    def call(*values):  # constants (flags, None, strings) stay Python values, not tracers
        filled = list(leaves)
        for i, value in zip(where, values):
            filled[i] = value
        for i, mask in zip(masked, values[len(where):]):
            keras_mask.set_mask(filled[i], mask)
        x, a, k = tree.unflatten(filled)
        out = layer(x, *a, **k)
        return out, [keras_mask.get_mask(o) for o in jax.tree_util.tree_leaves(out)]

    call.__name__ = f"{layer.name}.call"
    specs = [(leaves[i].shape, leaves[i].dtype) for i in where]
    specs += [(keras_mask.get_mask(leaves[i]).shape, jnp.bool_) for i in masked]
    out, masks = infer_shapes(layer, call, specs)
    first = leaves[where[0]].shape
    batch = first[0] if first else None
    # a scalar output (tf.reduce_sum(x) over the batch too) keeps no batch axis
    outputs = jax.tree_util.tree_map(
        lambda o: SymbolicTensor((batch, *o[0][1:]) if o[0] else (), o[1], None,
                                 layer.name), out, is_leaf=is_shape_dtype)
    for leaf, mask in zip(jax.tree_util.tree_leaves(outputs, is_leaf=is_symbolic), masks):
        if mask is not None:
            keras_mask.set_mask(leaf, SymbolicTensor((batch, *mask[0][1:]), jnp.bool_, None,
                                                     f"{layer.name}_mask"))
    refuse_lost_rows(layer, [leaves[i] for i in where],
                     jax.tree_util.tree_leaves(outputs, is_leaf=is_symbolic))
    follow_rows([leaves[i] for i in where], outputs, batch, layer.name)
    kwargs = dict(kwargs)
    if training is not None:
        kwargs["training"] = _training_flag(layer, training)
    node = Node(layer, inputs, tuple(args), kwargs, outputs)
    from xlaflow.layers import layer_nodes  # it reads is_symbolic from here
    layer_nodes.record(layer, node)
    for leaf in jax.tree_util.tree_leaves(outputs, is_leaf=is_symbolic):
        leaf.node = node
    return outputs


def follow_rows(inputs, outputs, batch, name):
    """Mark the outputs that keep a ragged input's rows: those whose axis 1 varies with the
    rows' length (Keras 2 returns a RaggedTensor there: Embedding, Dense, an RNN's
    sequences). They carry the rows' mask, which a real run gives them (models/ragged_fed.py)."""
    sources = [t.ragged_source for t in inputs if t.ragged_source is not None]
    if not sources:
        return
    for leaf in jax.tree_util.tree_leaves(outputs, is_leaf=is_symbolic):
        if is_symbolic(leaf) and leaf.ndim >= 2 and leaf.shape[1] is None:
            leaf.ragged_source = sources[0]
            if keras_mask.get_mask(leaf) is None:
                keras_mask.set_mask(leaf, SymbolicTensor((batch, None), jnp.bool_, None,
                                                         f"{name}_mask"))


# Two sizes stand in for a size given as None (a variable length): the layer is traced at
# both, and an output size that differs between them is None. One small placeholder would
# fail windows longer than it and report its own size as the output's.
VARYING = (32, 37)
_BATCH = 2


class ShapeDtype(typing.NamedTuple):
    """One output's (shape, dtype) as infer_shapes gives it: its own type, so that a layer
    returning a pair of outputs (MultiHeadAttention's (output, scores)) is not taken for one."""

    shape: tuple
    dtype: object


def is_shape_dtype(x):
    return isinstance(x, ShapeDtype)


def infer_shapes(layer, fn, specs):
    """`fn`'s outputs as (shape, dtype) for inputs `specs` [(shape with None, dtype)]: None
    where an output size follows an input size given as None (batch: a placeholder)."""
    def traced(size):
        # canonical dtypes: an int64 Input is int32 without x64 (JAX 0.11 warns otherwise)
        return _lifting.eval_shape(fn, *[jax.ShapeDtypeStruct(
            tuple((_BATCH if axis == 0 else size) if d is None else d
                  for axis, d in enumerate(shape)), jax.dtypes.canonicalize_dtype(dtype))
            for shape, dtype in specs])

    first = traced(VARYING[0])
    if not any(d is None for shape, _ in specs for d in shape[1:]):
        return jax.tree_util.tree_map(lambda o: ShapeDtype(tuple(o.shape), o.dtype), first)
    try:
        second = traced(VARYING[1])
    except Exception as exc:  # whatever the layer raises for the other size
        raise ValueError(
            f"{layer.name}: cannot work out its output for inputs of shapes "
            f"{[shape for shape, _ in specs]}, whose None sizes may vary: the layer "
            "(its weights, or a reshape) needs those sizes. Give them in the Input shape."
        ) from exc
    return jax.tree_util.tree_map(
        lambda a, b: ShapeDtype(tuple(x if x == y else None for x, y in zip(a.shape, b.shape)),
                                a.dtype), first, second)


def _training_flag(layer, training):
    if isinstance(training, (bool, int, np.bool_, np.integer)):
        return bool(training)
    raise TypeError(f"{layer.name}: training= in a functional graph must be True, False or "
                    f"None; received {training!r} ({type(training).__name__})")
