"""Where gradients stop: xf.stop_gradient, and xf.UnconnectedGradients, what a tape gives
for a source its target does not depend on (TF's names and values)."""

from __future__ import annotations

import enum

import jax

from xlaflow.variables import Variable


class UnconnectedGradients(enum.Enum):
    """What tape.gradient/jacobian return for an unconnected source: None or zeros."""

    NONE = "none"
    ZERO = "zero"


def unconnected_mode(value):
    """The mode string ('none' or 'zero') for `value`: a member or its value, as TF takes."""
    try:
        return UnconnectedGradients(value).value
    except ValueError:
        raise ValueError(
            "unconnected_gradients must be xf.UnconnectedGradients.NONE or .ZERO (or "
            f"'none' / 'zero'); received {value!r}") from None


def stop_gradient(input, name=None):  # TF's argument name
    """`input` unchanged, as a constant for differentiation (TF's tf.stop_gradient): a tape
    or jax.grad gives no gradient through it."""
    del name  # TF's op name: XLA programs carry no op names
    return jax.tree_util.tree_map(
        lambda x: jax.lax.stop_gradient(x.value if isinstance(x, Variable) else x), input,
        is_leaf=lambda x: isinstance(x, Variable))
