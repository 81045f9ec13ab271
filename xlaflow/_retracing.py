"""How often an xf.function traced, and the warning that names why it traced again."""

from __future__ import annotations

import sys
import warnings

import jax

from xlaflow import _signatures, _tracebacks
from xlaflow.config import flags


class RetracingWarning(UserWarning):
    """An xf.function was traced more often than `retrace_warning_threshold`."""


class TraceLog:
    """One function's trace count and its last trace's arguments, described leaf by leaf:
    the next retrace is explained by what changed."""

    __slots__ = ("count", "last", "warn")

    def __init__(self):
        self.count = 0
        self.last = None
        self.warn = True  # False: counted, never warned (fit's own steps)

    @staticmethod
    def avals(dyn):
        """What a trace is told apart by: each traced leaf's shape, dtype and weak type."""
        return tuple((x.shape, x.dtype, getattr(x, "weak_type", False)) for x in dyn)

    def record(self, name, param_names, entry, dyn, outputs=None):
        """Count a trace of `entry` for traced leaves `dyn`; warn past the threshold. The
        entry keeps the trace's number and its outputs' specs (pretty_printed_...)."""
        avals = self.avals(dyn)
        if avals in entry.signatures:
            return  # the same program traced again (get_concrete_function after a call)
        self.count += 1
        entry.signatures[avals] = self.count, jax.tree_util.tree_map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype) if hasattr(x, "aval") else x,
            outputs)
        leaves = _signatures.fill_template(entry.template, dyn)
        names = _signatures.leaf_paths(entry.treedef, param_names)
        trace = {n: _signatures.describe_leaf(x) for n, x in zip(names, leaves)}
        previous, self.last = self.last, trace
        threshold = flags.retrace_warning_threshold
        if self.warn and previous is not None and threshold >= 0 and self.count > threshold:
            warnings.warn(
                f"xf.function {name!r} has been traced {self.count} times "
                f"(warning threshold {threshold}); the last retrace was caused by "
                f"{_signatures.retrace_cause(previous, trace)}. Tensors retrace on new shapes "
                "or dtypes and Python values on every new value: pass numbers as tensors "
                "(xf.constant), fix shapes with input_signature=..., or use "
                "reduce_retracing=True.", RetracingWarning, stacklevel=_user_stacklevel())


class RelaxedShapeWarning(RetracingWarning):
    """An xf.function with None sizes (or reduce_retracing) traces per shape after all:
    its code could not be traced with symbolic sizes."""


def warn_per_shape(name, reason, from_signature):
    """Say once that `name` traces per concrete shape, why, and how to avoid it."""
    source = "its input_signature's None sizes" if from_signature else \
        "the sizes reduce_retracing relaxed"
    warnings.warn(
        f"xf.function {name!r} is traced again for each new shape: {source} could not "
        f"stay symbolic: {reason} Its Python code now runs once per shape, as it would "
        "with fixed sizes (this RelaxedShapeWarning is given once per function).",
        RelaxedShapeWarning, stacklevel=_user_stacklevel())


def _user_stacklevel():
    """warnings.warn's stacklevel for its caller that names the user's line: the first frame
    out of xlaflow and JAX (the warning is issued while JAX traces)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and _tracebacks.is_library_frame(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    return level
