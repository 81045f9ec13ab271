"""What a tape's recorded run reads: its marked Variables (Recorded, the lifting context
of the block) and the identity of watched tensors across the rebinding tape.watch does."""

from __future__ import annotations

import weakref

import jax
import jax.extend
import jax.numpy as jnp

from xlaflow import _lifting


class Recorded(_lifting.OverrideContext):
    """The Variables of the recorded run. Every float Variable the enclosing trace knows is
    marked when the block starts (its value plus zero, made at the tape's own trace level,
    so a first read inside a nested tape or a tensor `if` reaches it; run eagerly, one
    first reached there is marked then, at the block's trace); a read of a Variable
    being differentiated (trainable, or watched) returns its mark, a result the tape can
    differentiate with respect to. As in TF, an assignment is not differentiated: a later
    read is differentiated with respect to the Variable itself."""

    def __init__(self, auto, guess):
        super().__init__((), ())
        self.auto = auto  # watch_accessed_variables
        self.explicit = set()  # ids of Variables passed to tape.watch
        # Inside an xf.function the enclosing trace knows every Variable; run eagerly,
        # `guess()` (what the block can reach) stands in for it.
        known = _known(self.parent) if self.parent is not None else \
            [(var, var._value) for var in guess()]
        self.premarked = {id(var): (var, value + 0) for var, value in known
                          if jnp.issubdtype(var.dtype, jnp.inexact)}
        self.used = {}  # id -> Variable: the differentiated ones the block read or wrote
        self.level = jax.extend.core.get_opaque_trace_state()  # the block's own trace
        with jax.extend.core.take_current_trace() as trace:
            self.trace = trace  # to mark, from a deeper trace, a Variable new to the block

    def _differentiated(self, var):
        return jnp.issubdtype(var.dtype, jnp.inexact) and (
            (self.auto and var.trainable) or id(var) in self.explicit)

    def mark_of(self, var):
        """The mark a differentiated `var` reads as here (None if the enclosing trace does
        not know `var` yet: it traces again with it, and this trace reads it plainly)."""
        if not self._differentiated(var):
            return None
        entry = self.premarked.get(id(var))
        if entry is None:  # a Variable no enclosing trace knows (eager, or new to it)
            if jax.extend.core.get_opaque_trace_state() != self.level:
                if self.parent is not None:
                    return None  # the enclosing xf.function traces again, knowing it
                # Run eagerly, nothing traces again: a Variable first read in a nested
                # tape's block or a tensor `if` (a layer built there, as TF's guides do)
                # is marked at the block's own trace, which the deeper one closes over
                # (run eagerly, a Variable's stored value is concrete).
                with jax.extend.core.set_current_trace(self.trace):
                    entry = self.premarked[id(var)] = (var, var._value + 0)
            else:
                entry = self.premarked[id(var)] = (var, super().read(var) + 0)
        if id(var) not in self.used:
            self.used[id(var)] = var
            super().read(var)  # the enclosing trace records the read (kept in exports)
        return entry[1]

    def read(self, var):
        mark = None if id(var) in self.values else self.mark_of(var)
        return super().read(var) if mark is None else mark

    def write(self, var, value):
        value = jax.lax.stop_gradient(value)
        mark = self.mark_of(var)
        if mark is not None:
            value = _carrying(value, mark)
        super().write(var, value)


def _known(ctx):
    """(Variable, current value) for every Variable the contexts from `ctx` outward know,
    read without recording a read (an outer tape's differentiated ones as its marks)."""
    found, chain = {}, []
    while ctx is not None:
        chain.append(ctx)
        for key, var in getattr(ctx, "variables", {}).items():
            found.setdefault(key, var)
        if isinstance(ctx, Recorded):
            for key, (var, _) in ctx.premarked.items():
                found.setdefault(key, var)
        ctx = getattr(ctx, "parent", None)

    def value(var):
        for ctx in chain:
            if id(var) in ctx.values:
                return ctx.values[id(var)]
            if isinstance(ctx, Recorded) and ctx._differentiated(var) and \
                    id(var) in ctx.premarked:
                return ctx.premarked[id(var)][1]
        return var._value

    return [(var, value(var)) for var in found.values()]


@jax.custom_jvp
def _carrying(value, source):
    """`value`, differentiated as if it were `source` (an assignment's new value carries
    the Variable's own gradient; arithmetic would turn an infinite value into NaN)."""
    return value


@_carrying.defjvp
def _carrying_jvp(primals, tangents):
    return primals[0], tangents[1]


# A watched tensor is rebound to its mark; every object standing for it (the mark, the
# replayed result a local holds after the block) maps to the tensor first watched, so a
# gradient with respect to any of them finds it, as TF's tensors keep their identity.
_roots = {}  # id(object) -> (weak reference to it, the tensor it stands for)


def root(obj):
    entry = _roots.get(id(obj))
    return entry[1] if entry is not None and entry[0]() is obj else obj


def stand_for(obj, root):
    if obj is root:
        return  # the tensor itself (a watched input the replay passed through)
    key = id(obj)
    try:
        # the dict bound as a default: the callback may run as the interpreter shuts down,
        # when module globals are None
        ref = weakref.ref(obj, lambda _, key=key, roots=_roots: roots.pop(key, None))
    except TypeError:
        return
    _roots[key] = (ref, root)
