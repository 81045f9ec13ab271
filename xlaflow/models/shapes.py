"""A model's input and output shapes: `input_shape` and `output_shape` as Keras 2 reports
them (one tuple per input or output, the batch None, in the structure of the inputs: a
list, tuple or dict), the abstract inputs a model is built for, and the check of data
against them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow.layers.symbolic import infer_shapes, is_shape_dtype, is_symbolic


def _is_shape(s):
    return isinstance(s, tuple) and all(d is None or isinstance(d, int) for d in s)


def _keras_form(shapes):
    """The shapes in the structure of the inputs (outputs): a dict stays a dict, a tuple a
    tuple, and a one-shape list is that shape, as Keras 2 unwraps `Model([x], [y])`."""
    flat = jax.tree_util.tree_leaves(shapes, is_leaf=_is_shape)
    return flat[0] if isinstance(shapes, list) and len(flat) == 1 else shapes


def _not_built(model, what):
    # AttributeError, as Keras: hasattr(model, "output_shape") stays False until it is built
    return AttributeError(
        f"{model.name}: {what} is not known before the model is built; give it an Input "
        "(or input_shape=), call model.build(input_shape), or call it on a batch of data")


def input_shape(model):
    if model._graph is not None:
        return _keras_form(jax.tree_util.tree_map(lambda t: tuple(t.shape), model._graph.inputs,
                                                  is_leaf=is_symbolic))
    if model._build_input_shape is None:
        raise _not_built(model, "input_shape")
    return _keras_form(jax.tree_util.tree_map(tuple, model._build_input_shape,
                                              is_leaf=_is_shape))


def output_shape(model):
    if model._graph is not None:
        return _keras_form(jax.tree_util.tree_map(lambda t: tuple(t.shape),
                                                  model._graph.outputs, is_leaf=is_symbolic))
    if model._build_input_shape is None:
        raise _not_built(model, "output_shape")
    # Sequential and subclassed models: traced (no weights change) at the built input
    # shapes, a None size traced at two sizes as the functional API does
    shapes, tree = jax.tree_util.tree_flatten(model._build_input_shape, is_leaf=_is_shape)
    dtypes = jax.tree_util.tree_leaves(model._build_input_dtype) or ["float32"] * len(shapes)
    specs = [((None, *shape[1:]), dtype) for shape, dtype in zip(shapes, dtypes)]

    def run(*values):
        return model(tree.unflatten(values), training=False)

    out = infer_shapes(model, run, specs)
    return _keras_form(jax.tree_util.tree_map(lambda o: (None, *o.shape[1:]), out,
                                              is_leaf=is_shape_dtype))


def abstract_inputs(x):
    """Abstract inputs: float64 becomes float32, as the data pipeline does, and other
    64-bit types become what JAX makes of them (int64 ids are int32 without x64)."""
    def one(a):
        dtype = jnp.float32 if np.dtype(a.dtype) == np.float64 else a.dtype
        return jax.ShapeDtypeStruct(np.shape(a), jax.dtypes.canonicalize_dtype(dtype))
    return jax.tree_util.tree_map(one, x)


def conform(x, expected):
    """`x` with an input's last axis of size 1 added or dropped where its rank is one off
    from the declared one (Keras 2's _conform_to_reference_input): a (n,) column feeds an
    Input(shape=(1,)), as in the regression tutorial's `model.predict(horsepower[:10])`."""
    leaves, tree = jax.tree_util.tree_flatten(x)
    wanted = jax.tree_util.tree_leaves(expected, is_leaf=_is_shape)
    if len(leaves) != len(wanted) or not leaves:
        return x  # check_inputs names the mismatch

    def one(value, want):
        rank = np.ndim(value)
        xp = np if isinstance(value, np.ndarray) else jnp
        if rank == len(want) - 1 and want and want[-1] == 1:
            return xp.expand_dims(value, -1)
        if rank == len(want) + 1 and np.shape(value)[-1] == 1:
            return xp.squeeze(value, -1)
        return value

    return tree.unflatten([one(v, w) for v, w in zip(leaves, wanted)])


def check_inputs(model, x, expected, conformed=True):
    """Raise unless `x` has as many inputs as `expected` and each its rank and every size
    `expected` fixes (None: any; the batch is never checked), once conformed to a declared
    shape (`conformed`; a model built from its first data has none: Keras 2 conforms
    only to a graph's Inputs)."""
    if model._graph is not None and model.__dict__.get("_host") is None:
        x = model._graph.arrange(x)  # a dict keyed by the Inputs' names, in their order
    if conformed:
        x = conform(x, expected)
    got = jax.tree_util.tree_map(lambda a: tuple(np.shape(a)), x)
    flat_got = jax.tree_util.tree_leaves(got, is_leaf=lambda s: isinstance(s, tuple))
    flat_want = jax.tree_util.tree_leaves(expected, is_leaf=lambda s: isinstance(s, tuple))
    if len(flat_got) != len(flat_want):
        raise ValueError(f"{model.name} expects {len(flat_want)} input(s); received "
                         f"{len(flat_got)}")
    for have, want in zip(flat_got, flat_want):
        if len(have) != len(want) or any(w is not None and w != h
                                         for w, h in zip(want[1:], have[1:])):
            raise ValueError(f"Input of {model.name!r} has shape {have}, but the model "
                             f"expects {tuple(want)} (None is the batch)")
