"""Keras 2's TFOpLambda and SlicingOpLambda nodes (a TF op applied to symbolic tensors:
`x * 2`, `tf.concat([a, b], -1)`, `x[:, 0]`) replayed with xlaflow's op of the same name.

Keras 2 saves such a layer as the op's public name ("math.multiply", "concat",
"__operators__.getitem") and each call as the op's first argument (its structure kept)
with the other arguments by TF's parameter names; slices are {"start", "stop", "step"}.
Calling xlaflow's op on the symbolic tensors records xlaflow's own TFOpLambda node. TF's v2
ops that call their v1 form (tf.squeeze, tf.transpose, tf.gather, tf.shape, tf.pad) are
saved as "compat.v1.<op>": those replay as the v2 op, the v1-only argument names renamed.
tf.nn.bias_add (keras.applications' caffe preprocess_input) replays as an addition.
"""

from __future__ import annotations

import inspect

# tf.__operators__ holds the Python operators TF overloads on tensors: + and indexing
# replay as xlaflow's operator layers; == and != (elementwise in TF 2, identity on
# xlaflow's symbolic tensors) as the ops TF calls, math.equal and math.not_equal
_OPERATORS = {"add": "add", "getitem": "getitem", "eq": "math.equal",
              "ne": "math.not_equal"}
# TF 1's argument names, which "compat.v1.<op>" calls carry, as TF 2's op names them
_V1_ARGUMENTS = {"squeeze_dims": "axis", "keep_dims": "keepdims",
                 "reduction_indices": "axis", "dim": "axis"}
_V1 = "compat.v1."
# tf.nn.bias_add's layouts with the channels last, where it is x + bias over the last axis
_CHANNELS_LAST = (None, "NHWC", "NWC", "NDHWC", "N...C")


class Keras2Op:
    """Stands for a Keras 2 TFOpLambda layer while its graph is replayed: called as Keras
    2 calls the layer, it applies xlaflow's op (the recorded node is xlaflow's)."""

    preserve_input_structure = True  # Keras 2 keeps a one-tensor list as a list here

    def __init__(self, class_name, config):
        self.name, self.function = config.get("name"), config.get("function")
        dtype = config.get("dtype")
        self.dtype = dtype if isinstance(dtype, str) else "float32"  # a constant's dtype
        prefix, _, short = str(self.function).rpartition(".")
        self._operator = _OPERATORS.get(short) if prefix == "__operators__" else None
        self._fn, self._op_name = None, self.function
        if self._operator is None and isinstance(self.function, str):
            from xlaflow import _op_dispatch
            self._fn = _op_dispatch.resolve(self.function)
            if self._fn is None and self.function.startswith(_V1):  # TF 2's op, as saved
                self._op_name = self.function[len(_V1):]
                self._fn = _op_dispatch.resolve(self._op_name)
            elif self._fn is None and self.function == "nn.bias_add":
                self._op_name = "math.add"
                self._fn = _op_dispatch.resolve(self._op_name)
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
            return self._apply_operator(inputs, *kwargs.values())
        if self.function == "nn.bias_add" and self._op_name == "math.add":
            kwargs = self._bias_add_arguments(kwargs)
        elif self._op_name != self.function:
            kwargs = self._v2_arguments(kwargs)
        args = [inputs]
        # jnp's ufuncs take (x1, x2) or (x, y, /): Keras 2 saved TF's y= by name
        if "y" in kwargs and not _takes(self._fn, "y"):
            args.append(kwargs.pop("y"))
        from xlaflow.layers import op_layer
        return op_layer.record(self._op_name, self._fn, args, kwargs, layer_name=self.name)

    def _apply_operator(self, x, operand):
        """x + operand, x[operand], x == operand or x != operand, as a layer with the
        file's name (Keras 2's tf.__operators__.add_3 stays that, not a fresh name)."""
        from xlaflow.layers import op_layer, operators
        if self._operator == "getitem":
            return operators.getitem(x, operand, name=self.name)
        if isinstance(operand, (list, tuple)):  # a constant saved as lists (read as tuples)
            import numpy as np
            operand = np.asarray(operand, dtype=self.dtype)
        if self._operator == "add":
            return operators.binary("add", x, operand, name=self.name)
        from xlaflow import _op_dispatch
        fn = _op_dispatch.resolve(self._operator)
        return op_layer.record(self._operator, fn, [x, operand], {}, layer_name=self.name)

    def _bias_add_arguments(self, kwargs):
        """tf.nn.bias_add(value, bias, data_format)'s arguments as math.add's y=bias."""
        kwargs = dict(kwargs)
        data_format = kwargs.pop("data_format", None)
        if data_format not in _CHANNELS_LAST:
            raise NotImplementedError(
                f"TFOpLambda layer {self.name!r}: tf.nn.bias_add with data_format="
                f"{data_format!r} (channels first) is not supported here, only channels "
                "last. Rebuild the model in code with a reshaped bias")
        if "bias" not in kwargs:
            raise ValueError(f"TFOpLambda layer {self.name!r}: Keras 2's tf.nn.bias_add "
                             f"call names no bias; received arguments {sorted(kwargs)}")
        bias = kwargs.pop("bias")
        if not hasattr(bias, "shape"):  # a constant, saved as a list
            import numpy as np
            bias = np.asarray(bias, dtype=self.dtype)
        if len(bias.shape) != 1:
            raise ValueError(f"TFOpLambda layer {self.name!r}: tf.nn.bias_add's bias must "
                             f"be 1-D; received shape {tuple(bias.shape)}")
        return {**kwargs, "y": bias}

    def _v2_arguments(self, kwargs):
        """A "compat.v1.<op>" call's arguments by TF 2's names: a v1-only name left at None
        is dropped, another renamed (refused when its TF 2 name is given too)."""
        out = {key: value for key, value in kwargs.items() if key not in _V1_ARGUMENTS}
        for key, value in kwargs.items():
            new = _V1_ARGUMENTS.get(key)
            if new is None or value is None:
                continue
            if out.get(new) is not None:
                raise ValueError(f"TFOpLambda layer {self.name!r}: tf.{self.function} was "
                                 f"given both {key}={value!r} and {new}={out[new]!r}")
            out[new] = value
        return out


def _takes(fn, argument):
    """Whether `fn` takes `argument` by keyword (not a positional-only parameter)."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    found = parameters.get(argument)
    return (found is not None and found.kind is not found.POSITIONAL_ONLY) or any(
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
