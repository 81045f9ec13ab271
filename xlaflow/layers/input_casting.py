"""A layer's dtype policy applied to its inputs: floating inputs cast to the compute dtype
(Keras 2's autocast), and integer inputs cast where a layer's arithmetic would wrap.

Layer.__call__ runs every call through `call_under_policy`; layers whose math would
overflow in an integer type (pooling sums, convolutions) call `cast_integer_inputs`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow import mixed_precision
from xlaflow import variables as variables_lib
from xlaflow.layers import keras_mask

_FLOAT32 = jnp.dtype("float32")


def other_floating(x, dtype):
    """Whether `x` is floating point of another width than `dtype` (a cast would change it)."""
    dt = getattr(x, "dtype", None)
    return dt is not None and dt != dtype and jnp.issubdtype(dt, jnp.floating)


def cast_floating(x, dtype):
    return x.astype(dtype) if other_floating(x, dtype) else x


def cast_integer_inputs(inputs, dtype):
    """Integer or bool `inputs` (a uint8 image) cast to `dtype`, the layer's compute dtype:
    for layers whose arithmetic would otherwise run in the input's integer type and wrap.
    Floating inputs are left to the dtype policy (Layer.__call__)."""
    if jnp.issubdtype(inputs.dtype, jnp.integer) or inputs.dtype == jnp.bool_:
        return inputs.astype(dtype)
    return inputs


def call_under_policy(policy, call, inputs, args, kwargs):
    """`call(inputs, *args, **kwargs)` with floating `inputs` cast to the policy's compute
    dtype and, for a mixed policy, float32 weights read in it (mixed_precision.autocast)."""
    autocast = policy.compute_dtype if policy.is_mixed else None
    # a float32 layer after a mixed one (the float32 softmax head) still casts its
    # float16 inputs, as Keras 2's autocast of floating inputs does
    if autocast is None and policy.compute_dtype == _FLOAT32 and \
            variables_lib._autocast.dtype is None and \
            not any(other_floating(x, _FLOAT32) for x in jax.tree_util.tree_leaves(inputs)):
        return call(inputs, *args, **kwargs)  # the common case: nothing to cast
    # a cast input keeps its mask: a call that reads it (MultiHeadAttention) sees it
    cast = jax.tree_util.tree_map(lambda x: keras_mask.keep_mask(
        x, cast_floating(x, policy.compute_dtype)), inputs)
    with mixed_precision.autocast(autocast):
        return call(cast, *args, **kwargs)
