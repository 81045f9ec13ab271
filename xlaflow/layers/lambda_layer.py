"""Keras' Lambda layer: any jax.numpy function as a layer, with Keras 2's arguments in
Keras 2's order `(function, output_shape=None, mask=None, arguments=None)`.
"""

from __future__ import annotations

import inspect
import json
import numbers
import types

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _lifting
from xlaflow.layers import keras_mask, symbolic
from xlaflow.layers.base import Layer


class Lambda(Layer):
    """`function(inputs, **arguments)` as a layer (Keras' Lambda): any jax.numpy code on the
    real arrays. Its output shape is found by tracing `function`.

    `output_shape` (optional) declares it, as in Keras: a shape without the batch axis
    (the input's batch is put first), a callable from the input shape(s) to the whole
    output shape(s), or a list of either kind of shape for several outputs. It is what
    `compute_output_shape` returns; every call checks the real output against it (None
    matches any size), and in a functional model it fixes sizes the trace leaves None.

    Masks as tf.keras: `function` is given the input mask when it takes a `mask` argument
    (and the training flag when it takes `training`). The output's mask is `mask(inputs,
    input_mask)` when `mask` is callable, else `mask` itself: a fixed mask, or None (the
    default), which drops the input's mask, as Keras 2 does.

    A model with a Lambda saves only when `function` (and a callable `mask` or
    `output_shape`) can be found again by name: a `def` function registered with
    @xf.keras.saving.register_serializable(), or passed to load_model in custom_objects. A
    `lambda` has no such name: saving refuses it.
    """

    _compute_output_and_mask_jointly = True  # call checks the mask against the output

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        if isinstance(function, str):  # from a config: the name it was saved under
            function = _function_named(function)
        if not callable(function):
            raise TypeError(f"Lambda: function must be callable; received {function!r} "
                            f"({type(function).__name__})")
        output_shape = _checked_output_shape(output_shape)
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(f"Lambda: arguments must be a dict of keyword arguments for "
                            f"function; received {arguments!r} ({type(arguments).__name__})")
        super().__init__(**kwargs)
        if isinstance(mask, str):  # a callable mask, saved by its name
            mask = _function_named(mask)
        elif mask is not None and not callable(mask):
            mask = jnp.asarray(mask, bool)  # a fixed mask (nonzero keeps a step)
        self.function = function
        self._output_shape = output_shape
        self.arguments = dict(arguments or {})
        self.mask = mask
        self.supports_masking = mask is not None  # Keras 2: only with a mask of its own
        params = _parameters(function)
        self._passes_mask, self._passes_training = "mask" in params, "training" in params

    def __call__(self, inputs, *args, **kwargs):
        outputs = super().__call__(inputs, *args, **kwargs)
        if self._output_shape is not None and symbolic.has_symbolic(inputs):
            # checked here, on the graph's shapes: the shape pass ran on placeholder sizes
            _fit_symbolic(self, outputs, self.compute_output_shape(_shapes_of(inputs)))
        return outputs

    def call(self, inputs, mask=None, training=None):
        extra = dict(self.arguments)
        if self._passes_mask:
            extra["mask"] = mask
        if self._passes_training:
            extra["training"] = training
        outputs = self.function(inputs, **extra)
        masks = self.compute_mask(inputs, mask)
        if getattr(_lifting.current(), "shape_only", False):
            # a functional model's shape pass, on placeholder sizes (a batch of 2): the
            # graph's outputs get the masks' shapes; the real call checks them
            _attach_stand_ins(outputs, masks)
            return outputs
        if self._output_shape is not None:
            _check_outputs(self, outputs, self.compute_output_shape(_shapes_of(inputs)))
        if masks is not None:
            keras_mask.attach_checked(self, outputs, masks)
        return outputs

    def compute_mask(self, inputs, mask=None):
        """`mask(inputs, mask)` for a callable `mask`, else the fixed mask (or None)."""
        return self.mask(inputs, mask) if callable(self.mask) else self.mask

    def compute_output_shape(self, input_shape):
        """The declared `output_shape` for `input_shape` (batch first), else the traced."""
        if self._output_shape is None:
            return super().compute_output_shape(input_shape)
        if callable(self._output_shape):
            declared = self._output_shape(input_shape)
            shapes = _as_shapes(declared)
            if shapes is None:
                raise TypeError(f"{self.name} (Lambda): output_shape {self._output_shape!r} "
                                f"must return a shape (a tuple of sizes or None) or a list "
                                f"of them; for {input_shape} it returned {declared!r}")
            return shapes
        batch = _first_shape(input_shape)[0]
        if isinstance(self._output_shape, list):
            return [(batch, *shape) for shape in self._output_shape]
        return (batch, *self._output_shape)

    def get_config(self):
        from xlaflow.saving import serialization

        def name_of(fn, what):
            if not isinstance(fn, types.FunctionType) or fn.__name__ == "<lambda>":
                raise ValueError(
                    f"Lambda layer {self.name!r}: its {what} {fn!r} has no name to load it "
                    "by. Define it with def, decorate it with "
                    "@xf.keras.saving.register_serializable(), and pass it to Lambda")
            return serialization.get_registered_name(fn)
        try:
            json.dumps(self.arguments)
        except TypeError as exc:
            raise ValueError(f"Lambda layer {self.name!r}: arguments must be JSON values "
                             f"(numbers, strings, lists, dicts) to be saved; received "
                             f"{self.arguments!r}") from exc
        mask = self.mask
        if callable(mask):
            mask = name_of(mask, "mask function")
        elif mask is not None:
            mask = np.asarray(mask).tolist()  # a fixed mask: its booleans
        output_shape = self._output_shape
        if callable(output_shape):
            output_shape = name_of(output_shape, "output_shape function")
        elif output_shape is not None:  # JSON lists; a list of lists is several outputs
            output_shape = [list(s) for s in output_shape] if isinstance(
                output_shape, list) else list(output_shape)
        return {**super().get_config(), "function": name_of(self.function, "function"),
                "output_shape": output_shape, "arguments": self.arguments, "mask": mask}


# -- output_shape: a shape, a list of shapes, or a callable ---------------------------------
def _is_size(d):
    return d is None or _is_symbolic_size(d) or (
        isinstance(d, (numbers.Integral, np.integer)) and
        not isinstance(d, (bool, np.bool_)) and d >= 0)


def _is_symbolic_size(d):
    # a size that export traces symbolically (`batch`): a callable output_shape sees it
    return jax.export.is_symbolic_dim(d)


def _as_shapes(value):
    """`value` as a shape tuple, or a list of shape tuples (several outputs); None when it
    is neither."""
    if not isinstance(value, (list, tuple)):
        return None
    if all(_is_size(d) for d in value):
        return tuple(d if d is None or _is_symbolic_size(d) else int(d) for d in value)
    shapes = [_as_shapes(item) for item in value]
    if not shapes or any(s is None or isinstance(s, list) for s in shapes):
        return None
    return shapes


def _checked_output_shape(output_shape):
    """Lambda's `output_shape`: None, a callable (a name, from a config), a shape or a list
    of shapes; anything else is a TypeError that names Keras' argument order."""
    if output_shape is None or callable(output_shape):
        return output_shape
    if isinstance(output_shape, str):
        return _function_named(output_shape)
    shapes = _as_shapes(output_shape)
    if shapes is None:
        raise TypeError(
            f"Lambda: output_shape must be a shape without the batch axis (a tuple of sizes "
            f"or None), a list of them, or a callable; received {output_shape!r} "
            f"({type(output_shape).__name__}). Lambda's arguments are in Keras' order "
            "(function, output_shape, mask, arguments): pass arguments= and mask= by name")
    return shapes


def _shapes_of(inputs):
    """The input shape(s) Keras gives compute_output_shape: a tuple per tensor, in the
    inputs' structure."""
    return jax.tree_util.tree_map(lambda x: tuple(x.shape), inputs,
                                  is_leaf=symbolic.is_symbolic)


def _first_shape(input_shape):
    """The first input's shape among nested input shapes (its batch is the output's)."""
    return jax.tree_util.tree_leaves(input_shape, is_leaf=lambda s: isinstance(
        s, (list, tuple)) and all(_is_size(d) for d in s))[0]


def _fits(got, want):
    """Whether shape `got` is `want`, where None and a symbolic size match any size."""
    return len(got) == len(want) and all(
        g is None or w is None or _is_symbolic_size(g) or _is_symbolic_size(w) or g == w
        for g, w in zip(got, want))


def _pairs(layer, outputs, declared):
    """(output, its declared shape) for each output; a ValueError when the counts differ."""
    flat = keras_mask._flat(outputs)
    shapes = declared if isinstance(declared, list) else [declared]
    if len(shapes) != len(flat):
        raise ValueError(f"{layer.name} (Lambda): output_shape declares {len(shapes)} "
                         f"output(s) but the function returned {len(flat)}")
    return list(zip(flat, shapes))


def _check_outputs(layer, outputs, declared):
    for i, (x, want) in enumerate(_pairs(layer, outputs, declared)):
        got = tuple(jnp.shape(x))
        if not _fits(got, want):
            raise ValueError(f"{layer.name} (Lambda): output {i} has shape {got}, but "
                             f"output_shape declares {want} (None matches any size)")


def _fit_symbolic(layer, outputs, declared):
    """The graph's outputs checked against `declared`, and given its sizes where the trace
    found none (a size that follows a None input size); the batch axis stays as traced."""
    for i, (x, want) in enumerate(_pairs(layer, outputs, declared)):
        if not _fits(x.shape, want):
            raise ValueError(f"{layer.name} (Lambda): output {i} has shape {x.shape} (None: "
                             f"varies), but output_shape declares {want}")
        x.shape = (x.shape[0], *(g if g is not None else w
                                 for g, w in zip(x.shape[1:], want[1:])))


def _attach_stand_ins(outputs, masks):
    """In the shape pass, each output gets its mask, or for a mask of another size (a fixed
    mask for the real batch, not the placeholder one) a stand-in of the output's leading
    shape: only the shapes come out of that pass. A mask of more axes than its output is
    left off, for the real call to refuse."""
    flat = keras_mask._flat(outputs)
    flat_masks = [None] * len(flat) if masks is None else keras_mask._flat(masks)
    if len(flat_masks) != len(flat):
        return  # the real call names the miscount
    for x, mask in zip(flat, flat_masks):
        if mask is None or jnp.ndim(mask) > jnp.ndim(x):
            continue
        lead = tuple(jnp.shape(x))[:jnp.ndim(mask)]
        keras_mask.set_mask(x, mask if tuple(jnp.shape(mask)) == lead else
                            jnp.ones(lead, bool))


def _parameters(function):
    """The names `function` takes (empty when Python cannot tell, as for some builtins)."""
    try:
        return set(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return set()


def _function_named(name):
    from xlaflow.saving import serialization
    found = serialization.get_registered_object(name, module="")
    if found is None:  # found but not callable: Lambda's own check names it
        raise ValueError(
            f"cannot load a Lambda layer: its function {name!r} is not known here. Import "
            "the module that defines it, decorated with "
            "@xf.keras.saving.register_serializable(), or pass "
            f"custom_objects={{{name.split('>')[-1]!r}: ...}} to load_model")
    return found
