"""xf.GradientTape: TF's tape, as a rewrite of the `with tape:` block into a function.

AutoGraph hands the block to the tape as a function (see autograph/operators/contexts.py).
The tape first runs it abstractly to learn which trainable Variables it reads and which
tensors it watches, then runs it once under `jax.vjp` with those as inputs: the block's
results come out as ordinary values and the pullback stays on the tape, so
`tape.gradient(loss, variables)` is one vector-Jacobian product — all inside the enclosing
xf.function's single XLA computation.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp

from xlaflow import _eager_tape_blocks as _eager_blocks
from xlaflow import _jaxpr_replay as _replay
from xlaflow import _lifting
from xlaflow import _tape_diagnostics as _diagnostics
from xlaflow import _tape_marks as _marks
from xlaflow._reachable import reachable_variables
from xlaflow.gradient_flow import unconnected_mode
from xlaflow.variables import Variable


def _substituted(tree, pairs):
    """`tree` with each leaf that is the first of a pair replaced by the second."""
    def swap(leaf):
        return next((new for old, new in pairs if leaf is old), leaf)
    if not any(leaf is old for leaf in jax.tree_util.tree_leaves(tree) for old, _ in pairs):
        return tree
    return jax.tree_util.tree_map(swap, tree)


def _zeros(aval):
    """Zeros of `aval`, varying over the same manual axes: inside strategy.run a replica's
    own value gets a per-replica shift, whose gradient is then that replica's alone."""
    zeros = jnp.zeros(aval.shape, aval.dtype)
    axes = tuple(getattr(getattr(aval, "manual_axis_type", None), "varying", ()))
    return jax.lax.pcast(zeros, axes, to="varying") if axes else zeros


def _is_array(x):
    return isinstance(x, (jax.Array, jnp.ndarray)) and not isinstance(x, Variable)


class GradientTape:
    """Record a block and differentiate its results (TF's tf.GradientTape).

    Args:
      persistent: allow several gradient()/jacobian() calls (one forward pass).
      watch_accessed_variables: watch every trainable Variable the block reads.
    """

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self.persistent = persistent
        self.watch_accessed_variables = watch_accessed_variables
        self._record = None
        self._used = False
        self._scope = None  # the recorded run's Variables, while the block runs
        self._watch_marks, self._watch_roots = [], []  # tape.watch in the running block
        self._slots = None  # the running block's (get_reads, set_reads)
        self._leader = None  # the tape recording for this one too (see _xf_join_block)
        self._followers = []  # the tapes this one records for

    @property
    def _recording(self):
        return self._scope is not None

    # A plain `with`: code AutoGraph did not convert. Eagerly, the tape converts its block
    # (see _eager_tape_blocks); inside a trace, the function around it was not converted.
    def __enter__(self):
        frame = sys._getframe(1)
        if _lifting.current() is None:
            try:
                return _eager_blocks.enter(self, frame)
            except _eager_blocks.CannotRecord as exc:
                raise RuntimeError(_diagnostics.not_recorded_eagerly(frame, exc)) from None
        raise RuntimeError(_diagnostics.not_recorded(frame))

    def __exit__(self, exc_type, exc, traceback):
        return _eager_blocks.exit_(self, sys._getframe(1), exc_type)

    def watch(self, tensor):
        """Differentiate with respect to `tensor` too: a Variable, or in converted code a
        local name holding a tensor or a list/dict of them (see _xf_watch)."""
        if not self._recording:
            raise RuntimeError("tape.watch() must be called inside the tape's `with` block")
        leaves = jax.tree_util.tree_leaves(tensor, is_leaf=lambda x: isinstance(x, Variable))
        for leaf in leaves:
            if not isinstance(leaf, Variable):
                raise TypeError(
                    "tape.watch() needs a Variable or a local name holding tensors "
                    "(`y = expression; tape.watch(y)`): a watched tensor is rebound to a "
                    "value the tape can differentiate, which only a name can hold")
            self._scope.explicit.add(id(leaf))

    def _xf_watch(self, value):
        """`name = ag__.watch(tape, name)` (AutoGraph's form of `tape.watch(name)`): each
        float tensor in `value` is rebound to itself plus zero, a result of the block the
        tape differentiates with respect to (Variables are watched as they are)."""
        if self._leader is not None:
            return self._leader._xf_watch(value)
        if not self._recording:
            raise RuntimeError("tape.watch() must be called inside the tape's `with` block")

        def mark(leaf):
            if isinstance(leaf, Variable):
                self.watch(leaf)
                return leaf
            if not hasattr(leaf, "dtype"):
                raise TypeError(f"tape.watch() needs a tensor; received {type(leaf).__name__} "
                                f"{leaf!r} (make it one with xf.constant)")
            if not jnp.issubdtype(leaf.dtype, jnp.inexact):
                return leaf  # integers have no gradient (TF gives None)
            marked = jnp.asarray(leaf) + 0
            self._watch_marks.append(marked)
            self._watch_roots.append(_marks.root(leaf))
            _marks.stand_for(marked, _marks.root(leaf))
            substitutes.append((leaf, marked))
            return marked

        substitutes = []
        value = jax.tree_util.tree_map(mark, value, is_leaf=lambda x: isinstance(x, Variable))
        if substitutes and self._slots is not None:
            # Every other local holding a watched tensor (`h = x` before the block) reads
            # the marked one, as TF records any use of the watched tensor.
            get_reads, set_reads = self._slots
            set_reads(tuple(_substituted(r, substitutes) for r in get_reads()))
        return value

    def stop_recording(self):
        """A context whose computations are not differentiated (their values are kept)."""
        return _StopRecording(self)

    def reset(self):
        """Forget the recorded block (TF's tape.reset())."""
        if self._recording:
            raise NotImplementedError(
                "tape.reset() inside the tape's `with` block is not supported: end the "
                "block there and record the rest with a new tape (`with xf.GradientTape() "
                "as tape2:`), or call reset() after the block")
        self._record, self._used = None, False

    def watched_variables(self):
        if self._recording:
            return tuple(self._scope.used.values())
        return tuple(self._record[2]) if self._record else ()

    # -- recording -------------------------------------------------------------------------
    def _refuse_reentry(self):
        if self._recording:  # TF's error; recording again would drop the running block's
            raise ValueError(  # state (`with t, t:` would make t its own leader)
                "Tape is still recording, This can happen if you try to re-enter an "
                "already-active tape: use a second GradientTape for the inner block")

    def _xf_join_block(self, leader, body):
        """`with leader, self:` (TF's `with GradientTape() as g, GradientTape() as d:`):
        when `leader` is a tape recording this very block with the same watching policy,
        one recording serves both (each tape keeps its own persistence), so both can take
        gradients after the block. False: record nested, as a `with` inside the block."""
        self._refuse_reentry()
        if leader is None or not leader._recording or \
                leader._leader is not None or \
                leader.watch_accessed_variables != self.watch_accessed_variables:
            return False
        self._leader, self._scope = leader, leader._scope
        leader._followers.append(self)
        try:
            body(self)
        finally:
            self._scope = None
        return True

    def _xf_record_block(self, body, get_state, set_state, get_reads, set_reads, read_names):
        """Record the block (see _record_block), for this tape and the tapes joining it."""
        self._refuse_reentry()
        self._followers = []
        try:
            self._record_block(body, get_state, set_state, get_reads, set_reads)
        finally:
            # Followers got the record where the block ran; either way they are free again
            # (a block that raised must not leave them delegating to this tape).
            for follower in self._followers:
                follower._leader = None
            self._followers = []

    def _record_block(self, body, get_state, set_state, get_reads, set_reads):
        """Run the block once, tracing it into a jaxpr; replay that under jax.vjp, adding a
        zero input where each marked read, watched tensor and float result is computed: the
        pullback's gradient for each input is the gradient with respect to that value."""
        captured = {}
        reads = get_reads()
        self._nested = bool(_diagnostics.loop_logs)  # recorded inside another tape's block

        def forward():
            self._watch_marks, self._watch_roots = [], []
            self._slots = (get_reads, set_reads)
            loops = []
            _diagnostics.loop_logs.append(loops)
            def guess():
                from xlaflow.autograph.operators.variables import Undefined
                return reachable_variables(body, [r for r in reads
                                                  if not isinstance(r, Undefined)])

            with _marks.Recorded(self.watch_accessed_variables, guess) as scope:
                self._scope = scope
                try:
                    body(self)
                finally:
                    self._scope, self._slots = None, None
                    # by identity: list.remove compares by value, and nested tapes' logs
                    # often hold the same entries
                    logs = _diagnostics.loop_logs
                    del logs[next(i for i, log in enumerate(logs) if log is loops)]
            leaves, tree = jax.tree_util.tree_flatten(
                get_state(), is_leaf=lambda x: isinstance(x, Variable))
            arrays = [i for i, leaf in enumerate(leaves) if _is_array(leaf)]
            written = list(scope.assigned.values())
            used = list(scope.used.values())
            captured.update(leaves=leaves, tree=tree, arrays=arrays, written=written,
                            loops=loops, variables=used, roots=list(self._watch_roots))
            return ([leaves[i] for i in arrays], [scope.values[id(v)] for v in written],
                    [scope.premarked[id(v)][1] for v in used], list(self._watch_marks))

        closed, out_shape = jax.make_jaxpr(forward, return_shape=True)()
        out_tree = jax.tree_util.tree_structure(out_shape)
        n_arrays, n_written = len(captured["arrays"]), len(captured["written"])
        outvars = closed.jaxpr.outvars
        marks = outvars[n_arrays + n_written:]  # marked reads, then watched tensors
        shifted = _replay.computed_results(closed.jaxpr, marks + outvars[:n_arrays])
        passthrough, starts = _replay.starting_points(closed, shifted, _zeros)
        replayed = _replay.replayer(closed, shifted, passthrough)
        outputs, pullback = jax.vjp(
            lambda shifts: jax.tree_util.tree_unflatten(out_tree, replayed(shifts)), starts)
        array_out, written_values, _, _ = outputs
        leaves = list(captured["leaves"])
        for i, value in zip(captured["arrays"], array_out):
            leaves[i] = value
        set_reads(reads)  # locals the block only read hold what they held before it
        set_state(jax.tree_util.tree_unflatten(captured["tree"], leaves))
        for var, value in zip(captured["written"], written_values):
            var.assign(jax.lax.stop_gradient(value))
        position = {id(v): k for k, v in enumerate(shifted)}
        variables, roots = captured["variables"], captured["roots"]
        watch_vars = marks[len(variables):]
        # Where each source's gradient is: a Variable's at its marked read, a watched
        # tensor's at its mark (found through the tensor first watched), any other tensor's
        # at the result it is (the block's locals hold the replayed results).
        by_variable = {id(var): position.get(id(marks[k])) for k, var in enumerate(variables)}
        by_root = [(root, position.get(id(v))) for root, v in zip(roots, watch_vars)]
        by_result = [position.get(id(v)) for v in outvars[:n_arrays]]
        for value, var in zip(array_out, outvars[:n_arrays]):
            for root, v in zip(roots, watch_vars):
                if v is var:  # a local still holding the watched tensor after the block
                    _marks.stand_for(value, root)
        self._record = (_diagnostics.explained(pullback, captured["loops"]), outputs,
                        variables, by_variable, by_result, by_root)
        self._depends = _replay.dependencies(closed.jaxpr, shifted)
        self._used = False
        for follower in self._followers:
            follower._record, follower._depends, follower._used = \
                self._record, self._depends, False
            follower._nested = self._nested

    # -- gradients -------------------------------------------------------------------------
    def _use(self):
        if self._recording:
            raise NotImplementedError(
                "tape.gradient()/jacobian() inside the tape's own `with` block is not "
                "supported (the tape records the whole block first): call it after the "
                "block, dedented; for higher-order gradients nest a second tape")
        if self._record is None:
            raise RuntimeError("tape.gradient() needs a recorded `with tape:` block first")
        if self._used and not self.persistent:
            raise RuntimeError("A non-persistent GradientTape computes one set of gradients; "
                               "create it with GradientTape(persistent=True) to call "
                               "gradient() several times")
        self._used = True
        return self._record

    def _output_index(self, outputs, tensor):
        index = next((i for i, o in enumerate(outputs) if o is tensor), None)
        # only once no tape records any more: inside the outer block a nested tape's target
        # that is missing was simply computed outside it (the ValueError below)
        if index is None and getattr(self, "_nested", False) and not _diagnostics.loop_logs:
            raise NotImplementedError(_diagnostics.NESTED_AFTER)
        if index is None:
            raise ValueError("tape.gradient(target, ...): the target was not computed inside "
                             "the tape's `with` block (compute the loss inside it; for a "
                             "tape nested in another tape's block, call its gradient() "
                             "inside the outer block)")
        return index

    def _seeded(self, outputs, index_seeds):
        """The cotangents for the recorded outputs: `index_seeds` on the array results."""
        array_out, written, marks, watched = outputs
        cotangent = [jnp.zeros_like(o) for o in array_out]
        for index, seed in index_seeds:
            cotangent[index] = cotangent[index] + seed
        return (cotangent, [jnp.zeros_like(w) for w in written],
                [jnp.zeros_like(m) for m in marks], [jnp.zeros_like(w) for w in watched])

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """d(sum of `target`)/d`sources`, structured like `sources` (None where a source
        does not affect the target, or zeros with unconnected_gradients='zero')."""
        unconnected_gradients = unconnected_mode(unconnected_gradients)
        pullback, outputs, _, by_variable, by_result, by_root = self._use()
        array_out = outputs[0]
        seeds = jax.tree_util.tree_leaves(output_gradients) if output_gradients is not None \
            else None
        index_seeds, connected = [], set()
        for n, t in enumerate(jax.tree_util.tree_leaves(target)):
            index = self._output_index(array_out, t)
            if not jnp.issubdtype(jnp.result_type(t), jnp.inexact):
                continue  # TF: an integer target has no gradient to give
            connected |= self._depends[index]
            index_seeds.append((index, jnp.ones_like(t) if seeds is None
                                else jnp.asarray(seeds[n], t.dtype)))
        (grads,) = pullback(self._seeded(outputs, index_seeds))
        return self._arrange(sources, array_out, by_variable, by_result, by_root, grads,
                             unconnected_gradients, connected)

    def _arrange(self, sources, array_out, by_variable, by_result, by_root, grads,
                 unconnected, connected, prefix=()):
        """Gradients in `sources`' structure; None (or zeros) for a source the target does
        not depend on, as TF."""
        def pick(source):
            if jnp.issubdtype(getattr(source, "dtype", jnp.float32), jnp.inexact):
                if isinstance(source, Variable):
                    k = by_variable.get(id(source))
                else:
                    root = _marks.root(source)
                    k = next((k for r, k in by_root if r is root and k is not None), None)
                    if k is None:
                        k = next((by_result[i] for i, o in enumerate(array_out)
                                  if o is source), None)
                if k is not None and k in connected:
                    return grads[k]
            # TF: integer sources and sources the target does not use have no gradient
            if unconnected == "zero":  # prefix: the target's shape, for jacobians
                return jnp.zeros((*prefix, *jnp.shape(source)),
                                 getattr(source, "dtype", jnp.float32))
            return None

        return jax.tree_util.tree_map(pick, sources, is_leaf=lambda x: isinstance(x, Variable))

    def jacobian(self, target, sources, unconnected_gradients="none"):
        """d`target`/d`sources`: shape target.shape + source.shape for each source (one
        vector-Jacobian product per element of the target, vectorized with vmap)."""
        unconnected_gradients = unconnected_mode(unconnected_gradients)
        pullback, outputs, _, by_variable, by_result, by_root = self._use()
        array_out = outputs[0]
        index = self._output_index(array_out, target)
        out = array_out[index]
        basis = jnp.eye(out.size, dtype=out.dtype).reshape((out.size, *out.shape))
        (rows,) = jax.vmap(lambda seed: pullback(self._seeded(outputs, [(index, seed)])))(basis)
        rows = [g.reshape((*out.shape, *g.shape[1:])) for g in rows]
        return self._arrange(sources, array_out, by_variable, by_result, by_root, rows,
                             unconnected_gradients, self._depends[index], out.shape)

    def batch_jacobian(self, target, source, unconnected_gradients="none"):
        """Per-example jacobians (batch, *target[1:], *source[1:]) for a target whose rows
        each depend only on the same row of `source`: the diagonal blocks of jacobian()."""
        full = self.jacobian(target, source, unconnected_gradients)
        if full is None:
            return None
        rest = jnp.ndim(target) - 1
        return jnp.moveaxis(jnp.diagonal(full, axis1=0, axis2=1 + rest), -1, 0)


class _StopRecording:
    """`with tape.stop_recording():` — the block's results are constants for the tape."""

    def __init__(self, tape):
        self._tape = tape

    def _check_recording(self):
        if not self._tape._recording:  # TF's error: there is nothing to stop
            raise RuntimeError(
                "Trying to stop recording a tape which is not recording: `with "
                "tape.stop_recording():` goes inside the tape's own `with` block")

    def __enter__(self):
        self._check_recording()
        raise RuntimeError(_diagnostics.not_recorded(sys._getframe(1)))

    def __exit__(self, *exc):
        return False

    def _xf_record_block(self, body, get_state, set_state, get_reads, set_reads, read_names):
        self._check_recording()
        body(None)
        set_state(jax.tree_util.tree_map(
            lambda x: jax.lax.stop_gradient(x) if _is_array(x) else x, get_state(),
            is_leaf=lambda x: isinstance(x, Variable)))
