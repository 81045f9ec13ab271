"""Keras 2's `tensor._keras_mask`, kept in a side table, and its propagation through
`Layer.__call__` (the mask a layer computes reaches the next layer's `call(mask=...)`).

JAX tracers have __slots__, so a mask cannot be an attribute of the array as in TF; the
table is keyed by the array's id and holds a weak reference to it, so an entry lives
exactly as long as its array (a concrete array or a tracer) and an id reused later by
another array can never read a stale mask.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import weakref

import jax.numpy as jnp

# id(array) -> (weak reference to the array, its mask)
_MASKS = {}


def get_mask(x):
    """The mask a layer attached to `x` (Keras 2's `x._keras_mask`), or None."""
    entry = _MASKS.get(id(x))
    if entry is None or entry[0]() is not x:
        return None
    return entry[1]


def set_mask(x, mask):
    """Attach `mask` to `x` (None removes it). Values without weak references (Python
    numbers) cannot carry one, as in Keras where only tensors do."""
    key = id(x)
    if mask is None:
        entry = _MASKS.get(key)
        if entry is not None and entry[0]() is x:
            del _MASKS[key]
        return
    try:
        ref = weakref.ref(x, functools.partial(_forget, key))
    except TypeError:
        return
    _MASKS[key] = (ref, mask)


def _forget(key, ref):
    # Runs as the array is freed: drop its entry, unless a newer one replaced it.
    entry = _MASKS.get(key)
    if entry is not None and entry[0] is ref:
        del _MASKS[key]


def _flat(tree):
    """Lists and tuples flattened, None kept as a leaf (masks line up with outputs)."""
    if isinstance(tree, (list, tuple)):
        return [leaf for item in tree for leaf in _flat(item)]
    if isinstance(tree, dict):
        return [leaf for key in tree for leaf in _flat(tree[key])]
    return [tree]


def _pack(template, leaves):
    leaves = iter(leaves)

    def build(t):
        if isinstance(t, (list, tuple)):
            return type(t)(build(item) for item in t)
        if isinstance(t, dict):
            return {key: build(t[key]) for key in t}
        return next(leaves)
    return build(template)


@functools.cache
def _mask_position(call):
    """(call takes `mask`, index of `mask` among the arguments after `inputs` or None)."""
    try:
        params = list(inspect.signature(call).parameters.values())
    except (TypeError, ValueError):
        return False, None
    names = [p.name for p in params]
    if "mask" in names:
        index = names.index("mask") - 2  # after self and inputs
        positional = params[names.index("mask")].kind in (
            inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return True, index if positional and index >= 0 else None
    return any(p.kind is p.VAR_KEYWORD for p in params), None


def default_compute_mask(layer, mask):
    """Layer.compute_mask: the input mask when the layer supports masking. Otherwise None,
    and a TypeError for a mask given, as Keras 2 (propagation never asks such a layer:
    TF 2's Keras drops the mask there silently)."""
    if layer.supports_masking:
        return mask
    if any(m is not None for m in _flat(mask)):
        raise TypeError(f"Layer {layer.name} ({type(layer).__name__}) does not support "
                        "masking, but was passed a mask")
    return None


def takes_mask(layer):
    """Whether `layer.call` takes a `mask` argument (or **kwargs)."""
    return _mask_position(type(layer).call)[0]


def computes_masks(layer):
    """Whether `layer` gives its outputs a mask: it supports masking or has its own
    compute_mask (Keras 2's `_supports_masking`)."""
    return layer.supports_masking or _own_compute_mask(type(layer))


@functools.cache
def _own_compute_mask(cls):
    from xlaflow.layers.base import Layer  # base.py imports this module
    return cls.compute_mask is not Layer.compute_mask


def input_mask(layer, inputs, args, kwargs):
    """The mask `layer` receives (Keras 2's `_get_input_masks`): the `mask` passed to the
    call, else the masks attached to `inputs` (None when none is). When the call takes
    `mask` and was not given one, the attached masks are added to `kwargs`."""
    accepts, position = _mask_position(type(layer).call)
    if not accepts and not computes_masks(layer):
        return None
    if "mask" in kwargs:
        return kwargs["mask"]
    if position is not None and len(args) > position:
        return args[position]
    if not _MASKS:  # the common case: no mask anywhere
        return None
    masks = [get_mask(x) for x in _flat(inputs)]
    if all(m is None for m in masks):
        return None
    masks = _pack(inputs, masks)
    if accepts:
        kwargs["mask"] = masks
    return masks


def keep_mask(old, new):
    """`new` (a cast or copy of `old`) carries `old`'s mask: a cast input or output keeps
    what a later reader (MultiHeadAttention, a masked loss) needs."""
    if new is not old:
        set_mask(new, get_mask(old))
    return new


def attach_output_masks(layer, inputs, outputs, mask):
    """Attach `layer.compute_mask(inputs, mask)` to `outputs` (Keras 2's
    `_set_mask_metadata`). A layer that does not support masking leaves its outputs as
    they are: TF 2's Keras drops the mask there silently, it does not raise. Outputs that
    all carry masks already (a model's, set by its inner layers) keep them."""
    if getattr(layer, "_compute_output_and_mask_jointly", False) or \
            not computes_masks(layer):
        return
    if mask is None and not _own_compute_mask(type(layer)):
        return  # passing None through: nothing to attach
    if all(get_mask(x) is not None for x in _flat(outputs)):
        return
    attach_checked(layer, outputs, layer.compute_mask(inputs, mask))


def attach_checked(layer, outputs, masks):
    """Attach `masks` (one per output, or None) to `outputs`, each checked to cover the
    leading axes of its output: (batch, time) for a (batch, time, features) output."""
    flat = _flat(outputs)
    flat_masks = [None] * len(flat) if masks is None else _flat(masks)
    if len(flat_masks) != len(flat):
        raise ValueError(f"{layer.name}.compute_mask returned {len(flat_masks)} mask(s) for "
                         f"{len(flat)} output(s); return one per output (or None)")
    for i, (x, m) in enumerate(zip(flat, flat_masks)):
        if m is None:
            set_mask(x, None)
            continue
        m = jnp.asarray(m)
        shape = tuple(jnp.shape(x))
        if m.ndim > len(shape) or tuple(m.shape) != shape[:m.ndim]:
            raise ValueError(
                f"{layer.name} ({type(layer).__name__}): the mask of output {i} must have "
                f"the output's leading shape, {shape[:-1]} for an output of shape {shape}; "
                f"received {tuple(m.shape)}")
        set_mask(x, m)


@contextlib.contextmanager
def given(inputs, mask):
    """A model's `call(inputs, mask=...)` (Keras 2): `mask` attached to the input arrays
    while the model runs, as Keras sets `inputs._keras_mask`; afterwards the arrays carry
    the masks they had before, so a later call without `mask=` is not masked."""
    if mask is None:
        yield
        return
    arrays, masks = _flat(inputs), _flat(mask)
    if len(masks) != len(arrays):
        raise ValueError(f"mask: {len(masks)} mask(s) for {len(arrays)} input(s); give one "
                         "per input (None for an input without one)")
    before = [get_mask(x) for x in arrays]
    for x, m in zip(arrays, masks):
        set_mask(x, None if m is None else jnp.asarray(m))
    try:
        yield
    finally:
        for x, m in zip(arrays, before):
            set_mask(x, m)
