"""One compiled argument pattern of an xf.function: its lifted Variables and program."""

from __future__ import annotations

import jax

NO_VALUES = []  # the values a program without Variables takes (never mutated)


class Entry:
    """One static argument pattern: its template, lifted Variables and jitted function."""

    __slots__ = ("template", "treedef", "variables", "assigned", "jitted", "direct",
                 "donated_leaves", "touched", "signatures", "check_tokens", "raise_checks",
                 "relaxed", "unordered_prints", "undonated", "pattern", "checked_outputs")

    def __init__(self, template, treedef, variables, donated_leaves):
        self.template = template
        self.treedef = treedef
        self.variables = variables
        self.assigned = None
        self.jitted = None
        self.direct = None  # without Variables or donation: direct(*leaves) -> outputs
        self.donated_leaves = donated_leaves
        self.touched = None  # the Variables the last trace actually read or assigned
        self.signatures = {}  # traced-leaf avals -> (trace number, output specs)
        self.check_tokens = []  # run-time checks: wait for results so failures raise here
        self.raise_checks = False  # for calls inside a user's own JAX transformation
        self.relaxed = None  # the _polymorphic.Relaxed dispatcher, for relaxed shapes
        self.unordered_prints = False  # its program spans devices: xf.print stays unordered
        self.undonated = False  # run-time checks: Variable values are not donated (below)
        self.pattern = None  # on the fast path with static arguments: the template to match
        self.checked_outputs = False  # a program of it returned top-level check verdicts


class Direct:
    """The program of a signature that lifts no Variables, called as plain jax.jit is:
    `direct(*leaves) -> outputs` skips flattening an empty value list and an empty tuple of
    new values (0.3 µs of a 5 µs call). As a `jitted` it keeps the general convention."""

    __slots__ = ("direct", "__weakref__")

    def __init__(self, pure):
        def direct(*leaves):
            return pure(NO_VALUES, leaves)[1]

        direct.__name__ = pure.__name__  # names the XLA module
        self.direct = jax.jit(direct)

    def __call__(self, values, leaves):
        return (), self.direct(*leaves)

    def trace(self, values, leaves):
        return self.direct.trace(*leaves)
