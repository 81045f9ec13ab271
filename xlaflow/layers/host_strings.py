"""Strings on the host: the inputs StringLookup and TextVectorization accept (NumPy str/bytes
arrays, lists, scalars) as NumPy str arrays, and the refusal of traced or symbolic inputs.

Strings cannot enter XLA, so these layers run eagerly, as a tf.data map function does.
"""

from __future__ import annotations

import jax
import numpy as np

from xlaflow.layers import layer_nodes, symbolic
from xlaflow.layers.base import Layer
from xlaflow.ragged_math import rebuild
from xlaflow.ragged_tensor import RaggedTensor

_HOW = ("map the layer over the input pipeline instead, e.g. "
        "dataset.map(lambda x, y: (layer(x), y)), and feed its integer/float output to the "
        "compiled model")


def refuse_traced(layer_name, values, why="strings cannot be traced"):
    """A TypeError for a traced (xf.function, jit, fit's step) or symbolic (keras.Input)
    input: the layer's lookups run on the host and cannot be part of a program."""
    leaves = jax.tree_util.tree_leaves(values, is_leaf=symbolic.is_symbolic)
    if any(isinstance(x, jax.core.Tracer) for x in leaves):
        raise TypeError(f"{layer_name}: {why} (it received a traced value inside "
                        f"xf.function or a compiled step); {_HOW}")
    if any(symbolic.is_symbolic(x) for x in leaves):
        raise TypeError(f"{layer_name}: needs real strings here, not a symbolic tensor "
                        "(a keras.Input); call the layer itself on the Input to make it a "
                        "step of a functional model")


def as_strings(values, who, argument="inputs"):
    """`values` (str, bytes, nested lists of them, NumPy str/bytes/object arrays) as a NumPy
    str array of the same shape; bytes are decoded as UTF-8."""
    refuse_traced(who, values)
    if isinstance(values, jax.Array):
        raise TypeError(f"{who}: {argument} must be strings (NumPy str/bytes arrays, lists "
                        f"or scalars); received a jax array of dtype {values.dtype}")
    try:
        array = np.asarray(values)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{who}: {argument} must be a rectangular array of strings; pad "
                         f"the rows to one length ({exc})") from None
    if array.dtype.kind == "U":
        return array
    if array.dtype.kind == "S":
        return np.char.decode(array, "utf-8")
    if array.dtype.kind == "O" or array.size == 0:
        flat = array.reshape(-1).tolist()
        bad = [v for v in flat if not isinstance(v, (str, bytes))]
        if bad:
            raise TypeError(f"{who}: {argument} must be strings; received an element of "
                            f"type {type(bad[0]).__name__}: {bad[0]!r}")
        flat = [v.decode("utf-8") if isinstance(v, bytes) else v for v in flat]
        return np.array(flat, dtype=str).reshape(array.shape)
    raise TypeError(f"{who}: {argument} must be strings (NumPy str/bytes arrays, lists or "
                    f"scalars); received dtype {array.dtype}")


def as_ids(values, who):
    """Integer ids for an inverting lookup, as a NumPy int64 array."""
    refuse_traced(who, values)
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{who}: with invert=True the inputs must be integer ids; received "
                        f"dtype {array.dtype}")
    return array.astype(np.int64)


def batches_of(data, batch_size, steps, who):
    """adapt()'s data as batches, as Keras 2 feeds them: an array, list or scalar in slices
    of `batch_size` (default 32) along its first axis; a Dataset or other iterable batch by
    batch; at most `steps` batches."""
    if isinstance(data, (str, bytes, list, tuple, np.ndarray)) or hasattr(data, "shape"):
        array = as_strings(data, who, "adapt data")
        size = batch_size or 32
        parts = [array] if array.ndim == 0 else \
            [array[i:i + size] for i in range(0, len(array), size)]
    else:
        parts = data
    for step, part in enumerate(parts):
        if steps is not None and step >= steps:
            return
        if isinstance(part, tuple):
            raise TypeError(f"{who}.adapt: the data must yield strings only; received a "
                             f"tuple of {len(part)} (map the dataset to its text first: "
                             "ds.map(lambda x, y: x))")
        yield as_strings(part, who, "adapt data")


class HostLayer(Layer):
    """A layer that runs on the host, on NumPy values: called directly, never traced, so a
    Sequential or functional model runs it before its compiled layers (models/host_fed.py).
    Subclasses say what they take and give: `_takes_text()` and `_output_dtype()`."""

    host_side = True
    _traced_why = "strings cannot be traced"  # why a traced input is refused

    def __call__(self, inputs, *args, training=None, **kwargs):
        if symbolic.has_symbolic((inputs, args, kwargs)):
            if getattr(self, "ragged", False):  # the graph's tensors are dense
                raise NotImplementedError(
                    f"{type(self).__name__}(ragged=True) in a functional or Sequential "
                    "model: xlaflow's models pass dense arrays between layers; use "
                    "ragged=False there (padded ids), or call the layer eagerly (e.g. in "
                    "Dataset.map) for RaggedTensor rows")
            if getattr(self, "sparse", False):  # the model's compiled part takes arrays
                raise NotImplementedError(
                    f"{type(self).__name__}(sparse=True) in a functional or Sequential "
                    "model: xlaflow's models pass dense arrays between layers; use "
                    "sparse=False there (sparse=True works called eagerly, e.g. in "
                    "Dataset.map)")
            return record_call(self, inputs, args, kwargs)
        refuse_traced(type(self).__name__, inputs, self._traced_why)
        if isinstance(inputs, RaggedTensor):
            return self._call_ragged(inputs, args, kwargs)
        self.built = True
        return _with_numpy(self.call(inputs, *args, **kwargs))

    def _call_ragged(self, inputs, args, kwargs):
        """An element-wise lookup of a RaggedTensor keeps its rows (TF maps the flat
        values); other outputs have no ragged form here."""
        mode = getattr(self, "output_mode", None)
        if not self._elementwise() and mode == "int":  # TextVectorization: whole strings
            raise NotImplementedError(
                f"{type(self).__name__} of a RaggedTensor is not provided: it takes dense "
                "strings, one document each; pass the documents as a dense tensor (before "
                "splitting them, or rt.to_tensor()), or look up RaggedTensor words with "
                "StringLookup")
        if not self._elementwise():
            raise NotImplementedError(
                f"{type(self).__name__} of a RaggedTensor with output_mode="
                f"{getattr(self, 'output_mode', None)!r}: xlaflow looks up RaggedTensors "
                "element-wise only (output_mode='int'); pad the rows first "
                "(rt.to_tensor(default_value=...) with the mask value) for encoded output")
        self.built = True
        return rebuild(inputs, _with_numpy(self.call(inputs.flat_values, *args, **kwargs)))

    def _elementwise(self):
        """Whether the output has one value per input value (a RaggedTensor keeps its rows)."""
        return False

    def _takes_text(self):
        """True: strings only; False: numbers only; None: either."""
        return True

    def _output_dtype(self):
        """The dtype of the output: "string", "int64" (ids, as Keras declares them; int32
        in XLA without x64) or "float32"."""
        raise NotImplementedError(f"{type(self).__name__} must define _output_dtype")


def _with_numpy(outputs):
    """NumPy outputs viewed as HostTensors, which have TF's `.numpy()`: the guides print
    `vectorizer(texts).numpy()` on what TF gives as an eager tensor."""
    from xlaflow.data.host_tensor import HostTensor  # xf.data loads on first use

    return jax.tree_util.tree_map(
        lambda x: x.view(HostTensor) if isinstance(x, np.ndarray) else x, outputs)


def record_call(layer, inputs, args, kwargs):
    """`layer(inputs)` on a symbolic tensor, recorded in the functional graph: its output
    is an ordinary symbolic tensor of the shape and dtype the layer's config gives (the
    model computes it on the host, before its compiled part)."""
    name = type(layer).__name__
    if args or kwargs or not symbolic.is_symbolic(inputs):
        raise TypeError(f"{name}: in a functional model a host layer takes one symbolic "
                        f"tensor (a keras.Input) and nothing else; received {inputs!r}"
                        + (f" and {len(args)} more arguments, keywords {sorted(kwargs)}"
                           if args or kwargs else ""))
    takes_text = layer._takes_text()  # None: strings or numbers (Hashing)
    if takes_text is not None and symbolic.is_text(inputs) != takes_text:
        want = "strings (keras.Input(dtype='string'))" if layer._takes_text() else \
            "integer ids"
        raise TypeError(f"{layer.name} ({name}) takes {want}; received {inputs!r}")
    if takes_text is None and not symbolic.is_text(inputs) and inputs.dtype.kind not in "iu":
        raise TypeError(f"{layer.name} ({name}) takes strings or integers; received "
                        f"{inputs!r}")
    if inputs.node is not None and not getattr(inputs.node.layer, "host_side", False):
        raise TypeError(f"{layer.name} ({name}) runs on the host, before the compiled part of "
                        f"a model: it must read a keras.Input (or another host layer); "
                        f"received the output of {inputs.node.layer.name!r}")
    outputs = symbolic.SymbolicTensor(layer.compute_output_shape(inputs.shape),
                                      layer._output_dtype(), None, layer.name)
    node = symbolic.Node(layer, inputs, (), {}, outputs)
    layer_nodes.record(layer, node)
    outputs.node = node
    layer.built = True
    return outputs
