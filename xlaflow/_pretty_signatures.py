"""TF's `Function.pretty_printed_concrete_signatures()`: each traced signature, its
tensor arguments and its outputs, as text (the tf.function guides print it)."""

from __future__ import annotations

import inspect

import jax

from xlaflow import _signatures


def pretty_printed(function):
    """One block per trace, in trace order: `f(x, flag=True)`, then `Args:` (the tensor
    arguments) and `Returns:` (the outputs' specs)."""
    traces = sorted(((number, id(entry)), avals, entry, outputs)
                    for entry in dict.fromkeys(function._cache.values())  # keys may share
                    for avals, (number, outputs) in entry.signatures.items())
    blocks = []
    for _, avals, entry, outputs in traces:
        structs = [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype, _ in avals]
        leaves = _signatures.fill_template(entry.template, structs)
        args, kwargs = jax.tree_util.tree_unflatten(entry.treedef, leaves)
        blocks.append(_block(function, args, kwargs, outputs))
    return "\n\n".join(blocks)


def _block(function, args, kwargs, outputs):
    named = {**dict(zip(function._param_names, args)), **kwargs}
    try:  # a default the call left out is shown too, as TF binds it
        parameters = inspect.signature(function.python_function).parameters
        named = {**{n: p.default for n, p in parameters.items()
                    if p.default is not inspect.Parameter.empty}, **named}
        named = {n: named[n] for n in [*parameters, *named] if n in named}
    except (TypeError, ValueError):
        pass
    call, tensors = [], []
    for name, value in named.items():
        value = jax.tree_util.tree_map(_signatures.unwrap, value,
                                       is_leaf=lambda x: isinstance(x, _signatures.Static))
        if _has_tensors(value):
            call.append(name)
            tensors.append(f"    {name}: {_describe(value)}")
        else:
            call.append(f"{name}={value!r}")
    lines = [f"{function._name}({', '.join(call)})"]
    if tensors:
        lines += ["  Args:", *tensors]
    lines += ["  Returns:", f"    {_describe(outputs)}"]
    return "\n".join(lines)


def _is_spec(x):
    return hasattr(x, "shape") and hasattr(x, "dtype")


def _has_tensors(value):
    return any(_is_spec(x) for x in jax.tree_util.tree_leaves(value))


def _describe(value):
    """`float32 Tensor, shape=(2,)` for one tensor; a structure shows each tensor so."""
    if _is_spec(value):
        shape = tuple(d if isinstance(d, int) else None for d in value.shape)
        return f"{jax.numpy.dtype(value.dtype).name} Tensor, shape={shape}"
    if value is None or not jax.tree_util.tree_leaves(value):
        return repr(value)
    described = jax.tree_util.tree_map(lambda x: _Text(_describe(x)) if _is_spec(x) else x,
                                       value)
    return repr(described)


class _Text(str):
    def __repr__(self):
        return f"<{self}>"
