"""ConcreteFunction: one traced signature of an xf.function, with its jaxpr and StableHLO."""

from __future__ import annotations

import functools


class ConcreteFunction:
    """The program xf.function built for one argument signature.

    `.jaxpr` is the traced JAX program, `.as_text()` its StableHLO, `.variables` the
    Variables it reads as inputs; calling it runs the owning xf.function.
    """

    def __init__(self, function, entry, traced):
        self._function = function
        self._entry = entry
        self._traced = traced

    @property
    def jaxpr(self):
        """The closed jaxpr: inputs are (variable values, traced arguments)."""
        return self._traced.jaxpr

    @functools.cached_property
    def lowered(self):
        """The `jax.stages.Lowered` program."""
        return self._traced.lower()

    def as_text(self, dialect="stablehlo"):
        """The program as text: 'stablehlo' (default) or 'hlo'."""
        return self.lowered.as_text(dialect=dialect)

    def compile(self):
        """The XLA executable (`jax.stages.Compiled`), e.g. for `.cost_analysis()`."""
        return self.lowered.compile()

    @property
    def variables(self):
        """The Variables this program reads or assigns (its lifted inputs), in input order.

        Variables that were only guessed reachable but never touched are pruned from the
        compiled computation (jax.jit drops unused inputs) and are not listed.
        """
        return tuple(self._entry.touched or ())

    @property
    def assigned_variables(self):
        """The Variables this program writes back after each call."""
        return tuple(self._entry.assigned or ())

    @property
    def python_function(self):
        return self._function.python_function

    def __call__(self, *args, **kwargs):
        return self._function(*args, **kwargs)

    def __repr__(self):
        return (f"<ConcreteFunction {self._function.__name__} "
                f"variables={[v.name for v in self.variables]}>")
