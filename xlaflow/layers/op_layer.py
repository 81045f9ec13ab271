"""TFOpLambda: a public op (`xf.math.reduce_mean(x, axis=-1)`) applied to symbolic tensors,
as one node of the functional graph, saved by the op's public name (Keras 2's layer).

The layer holds the call: the op's name and its arguments, with a slot where each symbolic
tensor went. Its output shapes come from jax.eval_shape of the op, traced at two batch
sizes so that a size that follows the batch is None and one that does not (a reduction
over the batch) stays known. Operators (`x + 1`, `x[:, 0]`) are layers/operators.py's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _lifting, _op_dispatch
from xlaflow.layers import symbolic
from xlaflow.layers.base import Layer, unique_name
from xlaflow.layers.ragged_rows import refuse_lost_rows

_LAMBDA_HINT = ("use keras.layers.Lambda(fn) with a def function registered with "
                "@xf.keras.saving.register_serializable()")


class TFOpLambda(Layer):
    """`function(*args, **kwargs)` where symbolic tensors were given, as a layer.

    Args:
      function: the op's public name ("math.reduce_mean", "concat", "nn.relu"), or the op
        itself; a function that is not a public xlaflow op runs, but cannot be saved.
      arguments: the call as get_config writes it: {"args": [...], "kwargs": {...}}, each
        tensor a {"tensor": i} slot. None: `function(inputs)`.

    As Keras 2's, it casts nothing under a mixed policy, takes no training flag, and passes
    no mask on.
    """

    def __init__(self, function, arguments=None, **kwargs):
        if isinstance(function, str):
            fn = _op_dispatch.resolve(function)
            if fn is None:
                raise ValueError(f"TFOpLambda: function {function!r} names no public xlaflow "
                                 "op (e.g. 'math.reduce_mean', 'concat', 'nn.relu')")
        elif callable(function):
            if getattr(function, "_xf_refusal", None):  # xf.nn.dropout, xf.print, ...
                raise TypeError(function._xf_refusal)
            fn = function.__wrapped__ if hasattr(function, "_xf_op") else function
        else:
            raise TypeError(f"TFOpLambda: function must be an op's public name or a callable; "
                            f"received {function!r} ({type(function).__name__})")
        if arguments is not None and not (isinstance(arguments, dict) and
                                          set(arguments) == {"args", "kwargs"}):
            raise ValueError(f"TFOpLambda: arguments must be None or a dict with 'args' and "
                             f"'kwargs'; received {arguments!r}")
        template = None if arguments is None else (_decode(arguments["args"]),
                                                   _decode(arguments["kwargs"]))
        super().__init__(**kwargs)
        self.function, self._fn = function, fn
        self._template = template  # None: the whole input is the one argument

    @classmethod
    def _for_call(cls, public_name, fn, template, name):
        layer = cls(public_name, name=name)
        layer._fn, layer._template = fn, template
        return layer

    def __call__(self, inputs, *args, training=None, **kwargs):
        if args or kwargs:
            raise TypeError(f"{self.name}: a TFOpLambda holds its op's arguments; call it on "
                            f"its input tensors only (received {len(args)} more positional "
                            f"and keywords {sorted(kwargs)})")
        if symbolic.has_symbolic(inputs):
            return self._record(inputs)
        # Straight to call: an op casts nothing (Keras' TFOpLambda does not autocast) and
        # takes no training flag.
        self.built = True
        return self.call(inputs)

    def call(self, inputs):
        if self._template is None:
            return self._fn(inputs)
        args, kwargs = _fill(self._template, inputs)
        return self._fn(*args, **kwargs)

    def _record(self, inputs):
        """The node of `inputs` through this op: outputs inferred, recorded in the graph."""
        leaves, tree = jax.tree_util.tree_flatten(inputs, is_leaf=symbolic.is_symbolic)
        symbolic.refuse_text(self, leaves)
        where = [i for i, leaf in enumerate(leaves) if symbolic.is_symbolic(leaf)]

        def run(*values):
            filled = list(leaves)
            for i, value in zip(where, values):
                filled[i] = value
            return self.call(tree.unflatten(filled))

        run.__name__ = self.name
        out = _output_specs(self, run, [leaves[i] for i in where])
        outputs = jax.tree_util.tree_map(
            lambda o: symbolic.SymbolicTensor(o.shape, o.dtype, None, self.name), out,
            is_leaf=symbolic.is_shape_dtype)
        fed = [leaves[i] for i in where]
        refuse_lost_rows(self, fed, jax.tree_util.tree_leaves(outputs,
                                                              is_leaf=symbolic.is_symbolic))
        # an op that keeps a ragged Input's rows (relu, a cast) passes them and their mask on
        symbolic.follow_rows(fed, outputs, fed[0].shape[0] if fed[0].shape else None,
                             self.name)
        node = symbolic.Node(self, inputs, (), {}, outputs)
        for leaf in jax.tree_util.tree_leaves(outputs, is_leaf=symbolic.is_symbolic):
            leaf.node = node
        self.built = True
        return outputs

    def get_config(self):
        return {**super().get_config(), "function": self._public_name(),
                "arguments": None if self._template is None else {
                    "args": _encode(self._template[0], self),
                    "kwargs": _encode(self._template[1], self)}}

    def _public_name(self):
        if isinstance(self.function, str):
            return self.function
        public = getattr(self.function, "_xf_op", None) or _op_dispatch.public_name(self._fn)
        if public:
            return _op_dispatch.canonical_name(public, self._fn)
        what = getattr(self.function, "__qualname__", repr(self.function))
        raise ValueError(f"{self.name}: its op {what!r} is not a public xlaflow function, so "
                         f"the model cannot be saved with it by name; {_LAMBDA_HINT}")


# -- recording a call ------------------------------------------------------------------------
def record(public_name, fn, args, kwargs, layer_name=None):
    """`fn(*args, **kwargs)`, given symbolic tensors, as a TFOpLambda node; its outputs.
    `layer_name`: the name= a TF op was given that `fn` itself does not take."""
    symbols = []
    template = (_template(list(args), symbols, public_name),
                _template(dict(kwargs), symbols, public_name))
    canonical = _op_dispatch.canonical_name(public_name, fn)
    given = kwargs.get("name", layer_name)  # TF ops' name= names the layer, as in Keras
    name = unique_name(given if isinstance(given, str) and given else f"tf.{canonical}")
    return TFOpLambda._for_call(canonical, fn, template, name)(symbols)


class _Slot:
    """Where the i-th symbolic tensor goes in the call."""

    def __init__(self, index):
        self.index = index

    def __repr__(self):
        return f"<tensor {self.index}>"


def _template(value, symbols, op):
    """`value` with each symbolic tensor replaced by a _Slot (appended to `symbols`)."""
    if symbolic.is_symbolic(value):
        symbols.append(value)
        return _Slot(len(symbols) - 1)
    kind = type(value)
    if kind in (list, tuple):
        return kind(_template(v, symbols, op) for v in value)
    if kind is dict:
        return {k: _template(v, symbols, op) for k, v in value.items()}
    from xlaflow.variables import Variable
    if isinstance(value, Variable):
        raise TypeError(f"tf.{op} on symbolic tensors was given the Variable {value.name!r}: "
                        "a functional model would neither train nor save it. Make it a weight "
                        "of a Layer subclass (add_weight) and compute there")
    if callable(value) and not _is_dtype(value):
        raise TypeError(f"tf.{op} on symbolic tensors was given the function {value!r}: a "
                        f"functional model cannot hold a function argument; {_LAMBDA_HINT} "
                        "and make the whole computation its function")
    return value


def _fill(template, values):
    if isinstance(template, _Slot):
        return values[template.index]
    kind = type(template)
    if kind in (list, tuple):
        return kind(_fill(t, values) for t in template)
    if kind is dict:
        return {k: _fill(t, values) for k, t in template.items()}
    return template


def _is_dtype(value):
    if isinstance(value, np.dtype):
        return True
    if not isinstance(value, type):
        return False
    try:
        jnp.dtype(value)
    except TypeError:
        return False
    return True


# -- output shapes ---------------------------------------------------------------------------
_SIZES = ((2, symbolic.VARYING[0]), (3, symbolic.VARYING[1]))  # (batch, other None sizes)


def _output_specs(layer, run, symbols):
    """`run`'s outputs as ShapeDtype, None where a size follows an input size given as None."""
    def traced(batch, size):
        return _lifting.eval_shape(run, *[jax.ShapeDtypeStruct(
            tuple((batch if axis == 0 else size) if d is None else d
                  for axis, d in enumerate(s.shape)), jax.dtypes.canonicalize_dtype(s.dtype))
            for s in symbols])

    shapes = [s.shape for s in symbols]
    try:
        first = traced(*_SIZES[0])
    except Exception as exc:  # whatever the op raises: named, with the shapes it was given
        kind = TypeError if isinstance(exc, TypeError) else ValueError
        raise kind(f"{layer.name}: the op fails on symbolic tensors of shapes {shapes} "
                   f"(None: any size): {exc}") from exc
    if not jax.tree_util.tree_leaves(first):
        raise TypeError(f"{layer.name}: the op returns no tensor ({first!r}), so it cannot be "
                        f"a step of a functional model; {_LAMBDA_HINT}")
    if not any(d is None for shape in shapes for d in shape):
        return jax.tree_util.tree_map(lambda o: symbolic.ShapeDtype(tuple(o.shape), o.dtype),
                                      first)
    try:
        second = traced(*_SIZES[1])
    except Exception as exc:
        raise ValueError(f"{layer.name}: the op works on inputs of shapes {shapes} with None "
                         f"as {_SIZES[0]} but not as {_SIZES[1]}: it needs those sizes "
                         "fixed. Give them in the Input shape") from exc
    return jax.tree_util.tree_map(
        lambda a, b: symbolic.ShapeDtype(
            tuple(x if x == y else None for x, y in zip(a.shape, b.shape)), a.dtype),
        first, second)


# -- the call as JSON --------------------------------------------------------------------------
def _encode(value, layer, path="arguments"):
    if isinstance(value, _Slot):
        return {"tensor": value.index}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    kind = type(value)
    if kind in (list, tuple):
        return {kind.__name__: [_encode(v, layer, f"{path}[{i}]") for i, v in enumerate(value)]}
    if kind is dict and all(isinstance(k, str) for k in value):
        return {"dict": {k: _encode(v, layer, f"{path}[{k!r}]") for k, v in value.items()}}
    if _is_dtype(value):
        return {"dtype": jnp.dtype(value).name}
    if isinstance(value, slice):
        return {"slice": [_encode(b, layer, path) for b in (value.start, value.stop,
                                                              value.step)]}
    if value is Ellipsis:
        return {"ellipsis": None}
    if isinstance(value, (np.ndarray, np.generic, jax.Array)):
        array = np.asarray(value)
        if array.dtype.kind in "biuf":
            return {"array": {"values": array.tolist(), "dtype": array.dtype.name}}
    raise ValueError(f"{layer.name}: its op is given {value!r} ({type(value).__name__}) as "
                     f"{path}, which cannot be saved; a model saves numbers, strings, dtypes, "
                     f"slices, real arrays and lists, tuples, dicts of them. Else, "
                     f"{_LAMBDA_HINT}")


def _decode(data):
    if not (isinstance(data, dict) and len(data) == 1):
        raise ValueError(f"TFOpLambda: malformed arguments entry {data!r}")
    (kind, value), = data.items()
    if kind == "tensor":
        return _Slot(int(value))
    if kind in ("list", "tuple"):
        items = [_decode(v) for v in value]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        return {k: _decode(v) for k, v in value.items()}
    if kind == "dtype":
        return jnp.dtype(value)
    if kind == "slice":
        return slice(*[_decode(v) for v in value])
    if kind == "ellipsis":
        return Ellipsis
    if kind == "array":
        return np.asarray(value["values"], dtype=jnp.dtype(value["dtype"]))
    if kind == "value":
        return value
    raise ValueError(f"TFOpLambda: unknown arguments entry {data!r}")
