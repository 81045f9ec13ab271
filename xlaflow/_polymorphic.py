"""Relaxed shapes for xf.function: trace the Python function ONCE with symbolic sizes, as
TF traces one graph for a TensorSpec with None, and let XLA compile it per concrete shape.

The symbolic trace is exported (jax.export) from its jaxpr, so the user's Python does not
run again; calling the export under jax.jit compiles it per shape in JAX's C++ cache. A
program JAX cannot trace symbolically (Python code that needs a fixed size, or a callback
such as xf.print inside) falls back to tracing per shape, with a one-time warning.
"""

from __future__ import annotations

import jax
from jax.extend.core import jaxpr_as_fun

from xlaflow import _donation, _signatures
from xlaflow import _shape_patterns as patterns
from xlaflow._entry import NO_VALUES, Direct


def install(entry, mode, specs, param_names, donate_argnums, fallback):
    """Give `entry` a Relaxed dispatcher as its `jitted` (and `direct`); see Relaxed."""
    names = [n for n, x in zip(_signatures.leaf_paths(entry.treedef, param_names),
                               entry.template) if x is _signatures.DYNAMIC]
    relaxed = Relaxed(entry.jitted, mode=mode, specs=specs, leaf_names=names,
                      donated_leaves=entry.donated_leaves, donate_argnums=donate_argnums,
                      traced_avals=entry.signatures, fallback=fallback)
    entry.relaxed = entry.jitted = relaxed
    if entry.direct is not None:
        entry.direct = relaxed.direct


class Generalize(BaseException):
    """Internal: a reduce_retracing function was about to trace a new concrete shape; its
    entry gets a Relaxed dispatcher, which traces the generalised shapes instead. (A
    BaseException, as the other trace signals, so user code cannot swallow it.)"""


class Program:
    """One symbolic trace: its jax.stages.Traced and, once called, the compiled caller."""

    __slots__ = ("pattern", "traced", "tied", "call")

    def __init__(self, pattern, traced, tied):
        self.pattern, self.traced, self.tied = pattern, traced, tied
        self.call = None


class Relaxed:
    """An entry's programs by shape: calls whose shapes fit a symbolic program run it;
    the others run `plain` (the entry's own jax.jit, which traces per concrete shape).

    Used as the entry's `jitted` (same calling convention) and, without Variables or
    donation, its `direct`. `mode` is "signature" (relaxed by the input_signature's
    `specs`) or "retrace" (reduce_retracing: relaxed when a new shape retraces).
    """

    def __init__(self, plain, *, mode, specs, leaf_names, donated_leaves, donate_argnums,
                 traced_avals, fallback):
        self.plain = plain
        self.mode, self.specs = mode, specs
        self.names = leaf_names
        self.symbols = patterns.symbol_names(leaf_names)
        self.donated_leaves, self.donate_argnums = donated_leaves, donate_argnums
        self.concrete = {a for a in traced_avals if patterns.is_concrete(a)}
        self.programs = []
        self.failed = set()  # (relaxed, tied) whose symbolic program could not be made
        self.fallback = fallback  # fallback(reason): warns once that shapes retrace
        self.routes = {}  # call avals -> the callable chosen for them
        self.pending = None  # why shapes fell back to per-shape traces, not yet warned
        self.is_direct = isinstance(plain, Direct)

    # -- the entry's calling conventions -----------------------------------------------
    def __call__(self, values, *parts):
        dyn = _donation.merge(self.donated_leaves, parts)
        try:
            avals = tuple(map(patterns.aval, dyn))
        except TypeError:  # not an array JAX knows: let the program itself say so
            return self.plain(values, *parts)
        route = self.routes.get(avals)
        if route is not None:
            return route(values, *parts)
        if any(isinstance(x, jax.core.Tracer) for x in dyn):
            return self.plain(values, *parts)  # in the caller's own transformation
        return self._first_call(avals, values, parts)

    def _first_call(self, avals, values, parts):
        """A call with new shapes: choose (or make) its program, run it, remember it."""
        program = self._choose(avals, values, parts, export=True)
        try:
            if program is not None:
                try:
                    out = program.call(values, *parts)
                except Exception as exc:  # noqa: BLE001
                    # The program refused these sizes (one it asserted, as a reshape to a
                    # fixed size does): trace them as they are, which raises the user's
                    # own error if it is one, as TF would at run time
                    shape = patterns.describe(program.pattern, self.names)
                    self.pending = self.pending or (
                        f"its program for {shape} failed for these sizes with "
                        f"{type(exc).__name__}: {_first_line(exc)}.")
                    program = None
            if program is None:
                out = self.plain(values, *parts)
                self.concrete.add(avals)
        except BaseException:
            self.pending = None  # the code's own error says it all
            raise
        self.routes[avals] = self.plain if program is None else program.call
        if self.pending is not None:  # warn once the per-shape trace worked
            reason, self.pending = self.pending, None
            self.fallback(reason)
        return out

    def direct(self, *leaves):
        return self(NO_VALUES, leaves)[1]

    def trace(self, values, *parts):
        """For get_concrete_function: the symbolic program's trace when the arguments (specs
        or arrays) fit one, so asking for it runs no more Python than a call does."""
        dyn = _donation.merge(self.donated_leaves, parts)
        avals = tuple(map(patterns.aval, dyn))
        if patterns.is_concrete(avals):
            program = self._choose(avals, values, parts, export=False)
            return program.traced if program is not None else self.plain.trace(values, *parts)
        wanted = patterns.relaxed_of(patterns.of_structs(dyn) or avals)
        for program in self.programs:
            if patterns.relaxed_of(program.pattern) == wanted:
                return program.traced
        pattern = patterns.of_structs(dyn)
        program = Program(pattern, self._trace(values, parts), tied=True)
        if pattern is not None:
            self.programs.append(program)
        return program.traced

    # -- choosing and making programs --------------------------------------------------
    def _choose(self, avals, values, parts, export):
        """The symbolic program for `avals`, made if need be; None: run them concretely."""
        if avals in self.concrete:
            return None
        for program in self.programs:
            if patterns.matches(program.pattern, avals) and self._ready(program, export):
                return program
        if self.mode == "signature":
            relaxed = patterns.from_signature(self.specs, avals)
        else:
            known = [*self.concrete, *(patterns.relaxed_of(p.pattern) for p in self.programs)]
            relaxed = patterns.generalize(avals, known)
        if not patterns.varies(relaxed) or not patterns.fits(relaxed, avals):
            return None  # nothing varies, or a size 0 (a symbolic size is at least 1)
        # First with equal sizes tied; when a call then differs, once more untied.
        tie = not any(patterns.relaxed_of(p.pattern) == relaxed for p in self.programs)
        if (relaxed, tie) in self.failed:
            return None
        pattern = patterns.name_sizes(relaxed, avals, self.symbols, tie)
        if not tie and any(p.pattern == pattern for p in self.programs):
            return None  # untying changes nothing: these shapes fit no symbolic program
        try:
            program = Program(pattern, self._trace(values, parts, pattern), tie)
        except Exception as exc:  # noqa: BLE001 (JAX raises many types for symbolic sizes)
            self._give_up(relaxed, tie, pattern, self._why(exc, pattern))
            return None
        self.programs.append(program)
        return program if self._ready(program, export) else None

    def _ready(self, program, export):
        """Make `program` callable (once) when a call needs it; False if it cannot be."""
        if not export or program.call is not None:
            return True
        if (patterns.relaxed_of(program.pattern), program.tied) in self.failed:
            return False
        try:
            program.call = self._compile(program)
        except Exception as exc:  # noqa: BLE001
            self._give_up(patterns.relaxed_of(program.pattern), program.tied,
                          program.pattern, self._why(exc, program.pattern))
            return False
        return True

    def _give_up(self, relaxed, tie, pattern, reason):
        self.failed.add((relaxed, tie))
        self.programs = [p for p in self.programs if p.pattern != pattern]
        self.pending = self.pending or reason

    def _trace(self, values, parts, pattern=None):
        """Trace the Python function once for `pattern`'s symbolic sizes (or `parts` as
        given, when they are abstract already)."""
        value_structs = [jax.ShapeDtypeStruct(v.shape, v.dtype) for v in values]
        if pattern is not None:
            parts = _donation.split(self.donated_leaves, patterns.structs(pattern))
        return self.plain.trace(value_structs, *parts)

    def _compile(self, program):
        """The exported program, called under jax.jit: compiled per concrete shape."""
        closed = program.traced.jaxpr
        if closed.effects:
            raise _Unexportable(
                "it calls back into Python while it runs (xf.print, jax.debug, or a "
                "converted assert), which a program with symbolic sizes cannot hold")
        replay = jaxpr_as_fun(closed)

        def flat(*leaves):
            return replay(*leaves)

        flat.__name__ = getattr(program.traced, "fun_name", "function")
        in_structs = [jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type)
                      for a in closed.in_avals]
        exported = jax.export.export(jax.jit(flat))(*in_structs)
        out_tree = jax.tree_util.tree_structure(program.traced.out_info)
        if self.is_direct:
            caller = jax.jit(lambda *leaves: out_tree.unflatten(exported.call(*leaves)))
            return lambda values, leaves: ((), caller(*leaves))
        caller = jax.jit(
            lambda values, *parts: out_tree.unflatten(
                exported.call(*jax.tree_util.tree_leaves((values, *parts)))),
            donate_argnums=self.donate_argnums)
        return caller

    def _why(self, exc, pattern):
        """Why `pattern` has no program, naming the symbolic sizes the error mentions."""
        shape = patterns.describe(pattern, self.names)
        if isinstance(exc, _Unexportable):
            return (f"its trace for {shape} cannot be compiled for other shapes: {exc}. "
                    "Leave those out of this function to trace it once.")
        sizes = patterns.sizes_named_in(str(exc), pattern, self.names)
        where = f" at {', '.join(sizes)}" if sizes else ""
        return (f"tracing it for {shape} failed{where} with {type(exc).__name__}: "
                f"{_first_line(exc)}. Code that needs a fixed size (range(x.shape[0]), an "
                "`if` on a size, int(x.shape[i])) cannot run on a symbolic size: compute "
                "with the size as a value (x.shape[0] in jnp arithmetic, jnp.arange, lax "
                "loops), or give that dimension a size in the input_signature.")


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else "(no message)"


class _Unexportable(Exception):
    """A symbolic trace that succeeded but cannot become a program for any shape."""
