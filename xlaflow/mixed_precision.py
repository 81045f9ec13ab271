"""Mixed precision as Keras spells it: a dtype policy per layer, variables in float32,
computation in bfloat16 or float16, and dynamic loss scaling for float16.

A layer under 'mixed_bfloat16' casts its floating inputs to bfloat16 and, while its `call`
runs, reads its float32 Variables as bfloat16 (the cast is differentiable, so gradients
come back in float32). Writes of a lower-precision value into a float32 Variable inside
such a call are cast back. Losses are computed in float32.
"""

from __future__ import annotations

import contextlib

import jax.numpy as jnp

from xlaflow import backend_config, variables

_POLICIES = {"float32": ("float32", "float32"), "mixed_bfloat16": ("bfloat16", "float32"),
             "mixed_float16": ("float16", "float32"), "bfloat16": ("bfloat16", "bfloat16"),
             "float16": ("float16", "float16"), "float64": ("float64", "float64")}


class Policy:
    """`Policy('mixed_bfloat16')`: `compute_dtype` bfloat16, `variable_dtype` float32."""

    def __init__(self, name):
        if isinstance(name, Policy):
            name = name.name
        if name not in _POLICIES:
            raise ValueError(f"dtype policy must be one of {sorted(_POLICIES)}; received "
                             f"{name!r}")
        self.name = name
        compute, variable = _POLICIES[name]
        self.compute_dtype, self.variable_dtype = jnp.dtype(compute), jnp.dtype(variable)

    @property
    def is_mixed(self):
        return self.compute_dtype != self.variable_dtype

    def __eq__(self, other):
        return isinstance(other, Policy) and other.name == self.name

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return f'<Policy "{self.name}">'


_global = None  # None: the policy named by keras.backend.floatx(), as in Keras


def set_global_policy(policy):
    """The policy of layers created from now on that are not given a dtype (None: back
    to floatx)."""
    global _global
    _global = Policy(policy) if policy is not None else None


def global_policy():
    return _global if _global is not None else Policy(backend_config.floatx())


def policy_for(dtype):
    """A layer's policy from its `dtype` argument: None (the global policy), a policy
    name or Policy, or a plain dtype (compute and variables in it)."""
    if dtype is None:
        return global_policy()
    if isinstance(dtype, Policy) or dtype in _POLICIES:
        return Policy(dtype)
    name = jnp.dtype(dtype).name
    policy = Policy.__new__(Policy)
    policy.name = name
    policy.compute_dtype = policy.variable_dtype = jnp.dtype(name)
    return policy


@contextlib.contextmanager
def autocast(dtype):
    """Read float32 Variables as `dtype` inside the block (None: no casting)."""
    state = variables._autocast  # per thread
    previous = state.dtype
    state.dtype = None if dtype is None else jnp.dtype(dtype)
    try:
        yield
    finally:
        state.dtype = previous
