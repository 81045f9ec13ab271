"""Keras 2's TFOpLambda and SlicingOpLambda nodes (a TF op applied to symbolic tensors:
`x * 2`, `tf.concat([a, b], -1)`, `x[:, 0]`) replayed with xlaflow's op of the same name.

Keras 2 saves such a layer as the op's public name ("math.multiply", "concat",
"__operators__.getitem") and each call as the op's first argument (its structure kept)
with the other arguments by TF's parameter names; slices are {"start", "stop", "step"}.
Calling xlaflow's op on the symbolic tensors records xlaflow's own TFOpLambda node.
"""

from __future__ import annotations

import inspect
import operator

# tf.__operators__ holds the Python operators TF overloads on tensors
_OPERATORS = {"add": operator.add, "eq": operator.eq, "ne": operator.ne,
              "getitem": operator.getitem}


class Keras2Op:
    """Stands for a Keras 2 TFOpLambda layer while its graph is replayed: called as Keras
    2 calls the layer, it applies xlaflow's op (the recorded node is xlaflow's)."""

    preserve_input_structure = True  # Keras 2 keeps a one-tensor list as a list here

    def __init__(self, class_name, config):
        self.name, self.function = config.get("name"), config.get("function")
        prefix, _, short = str(self.function).rpartition(".")
        self._operator = _OPERATORS.get(short) if prefix == "__operators__" else None
        self._fn = None
        if self._operator is None and isinstance(self.function, str):
            from xlaflow import _op_dispatch
            self._fn = _op_dispatch.resolve(self.function)
        if self._operator is None and self._fn is None:
            raise NotImplementedError(
                f"{class_name} layer {self.name!r}: Keras 2 applied the TF op "
                f"{self.function!r}, which xlaflow does not publish under that name. "
                "Rebuild the model in code with xlaflow's op, or wrap the op in a Layer "
                "subclass passed in custom_objects")

    def __call__(self, inputs, **kwargs):
        kwargs.pop("name", None)  # TF's op label; Keras 2 drops it too
        kwargs = {key: _slices(value) for key, value in kwargs.items()}
        if self._operator is not None:  # (x, y) or (tensor, slice_spec)
            return self._operator(inputs, *kwargs.values())
        args = [inputs]
        if "y" in kwargs and not _takes(self._fn, "y"):  # jnp's ufuncs: (x1, x2)
            args.append(kwargs.pop("y"))
        from xlaflow.layers import op_layer
        return op_layer.record(self.function, self._fn, args, kwargs, layer_name=self.name)


def _takes(fn, argument):
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return argument in parameters or any(
        p.kind is p.VAR_KEYWORD for p in parameters.values())


def _slices(value):
    """Keras 2's serialized slices ({"start", "stop", "step"}) and Ellipsis back."""
    if isinstance(value, dict) and set(value) == {"start", "stop", "step"}:
        return slice(value["start"], value["stop"], value["step"])
    if isinstance(value, dict) and value.get("class_name") == "__ellipsis__":
        return Ellipsis
    if isinstance(value, list):
        return tuple(_slices(v) for v in value)  # a slice spec indexes, as a tuple
    return value
