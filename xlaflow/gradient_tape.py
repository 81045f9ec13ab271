"""xf.GradientTape: TF's tape, as a rewrite of the `with tape:` block into a function.

AutoGraph hands the block to the tape as a function (see autograph/operators/contexts.py).
The tape first runs it abstractly to learn which trainable Variables it reads and which
tensors it watches, then runs it once under `jax.vjp` with those as inputs: the block's
results come out as ordinary values and the pullback stays on the tape, so
`tape.gradient(loss, variables)` is one vector-Jacobian product — all inside the enclosing
xf.function's single XLA computation.
"""

from __future__ import annotations

import linecache
import sys

import jax
import jax.extend
import jax.numpy as jnp

from xlaflow import _jaxpr_replay as _replay
from xlaflow import _lifting
from xlaflow.variables import Variable

_EAGER = (
    "xf.GradientTape records a block by converting it into a function, which needs the code "
    "around it to be compiled. Put the step in an xf.function:\n"
    "    @xf.function\n"
    "    def train_step(x, y): ...  # the `with xf.GradientTape() as tape:` block goes here\n"
    "or compute gradients functionally: xf.value_and_grad(loss_fn, wrt=model)()")


# The logs of the tapes recording now: AutoGraph reports each loop it traces that XLA cannot
# differentiate in reverse mode (a while_loop: a tensor test or tensor range bounds).
_loop_logs = []
_NO_REVERSE = "Reverse-mode differentiation does not work for lax.while_loop"


def note_unbounded_loop(where):
    """Called by AutoGraph where it traces a lax.while_loop (`where`: file and line)."""
    for log in _loop_logs:
        log.append(where)


def _explained(pullback, loops):
    """`pullback`, whose while-loop refusal names the loops in the block and what to write."""
    def pull(cotangents):
        try:
            return pullback(cotangents)
        except ValueError as exc:
            if _NO_REVERSE not in str(exc):
                raise
            places = ", ".join(dict.fromkeys(loops)) or "a lax.while_loop in the block"
            raise ValueError(
                f"xf.GradientTape: the recorded block runs loops whose trip count a tensor "
                f"decides ({places}), and XLA cannot differentiate those in reverse mode "
                "(TF with jit_compile=True needs maximum_iterations for the same reason). "
                "Loop over a Python range instead (`for i in range(N)` with an int N becomes "
                "a lax.scan) and stop updating with an `if`, or differentiate in forward "
                "mode (jax.jvp).") from exc
    return pull


def _not_recorded(frame):
    """Why a `with tape:` block ran as a plain `with` (unconverted code), for the error.
    `frame` runs the block: outside any trace it is eager code; inside one, the function
    holding the block was not converted, and its code says why where it can."""
    if _lifting.current() is None:
        return _EAGER
    from xlaflow.autograph.operators.calls import is_user_code
    code = frame.f_code
    where = f"{code.co_name!r} ({code.co_filename}, line {frame.f_lineno})"
    if code.co_filename.startswith("<") and not linecache.getlines(code.co_filename):
        why = "its source cannot be read (code made by exec() or compile() from a string)"
        fix = "define the step in a file or a notebook cell"
    elif not is_user_code(code):
        why = "it is library code (installed with Python or a package), called as is"
        fix = "record the tape in your own code"
    else:
        why = ("it was opted out (xf.function(autograph=False), @xf.autograph."
               "do_not_convert, or XLAFLOW_AUTOGRAPH=0)")
        fix = "let AutoGraph convert it"
    return (f"xf.GradientTape: the `with` block in {where} runs inside an xf.function, but "
            f"AutoGraph did not convert {code.co_name!r}: {why}. The tape records blocks "
            f"of converted code only: {fix}, or compute gradients functionally: "
            "xf.value_and_grad(loss_fn, wrt=model)()")


class _Reads(_lifting.OverrideContext):
    """Records the Variables a block reads (for the tape's abstract first pass)."""

    def __init__(self):
        super().__init__((), ())
        self.read_order = {}

    def read(self, var):
        self.read_order.setdefault(id(var), var)
        return super().read(var)


class _Recorded(_lifting.OverrideContext):
    """The Variables of the block's differentiated run. As in TF, an assignment is not
    differentiated: a later read of the Variable is differentiated with respect to the
    Variable itself (its new value plus a zero that carries the Variable's gradient)."""

    def __init__(self, variables, values):
        super().__init__(variables, values)
        self.sources = dict(self.values)

    def write(self, var, value):
        value = jax.lax.stop_gradient(value)
        source = self.sources.get(id(var))
        if source is not None:
            value = value + (source - jax.lax.stop_gradient(source))
        super().write(var, value)


def _leaf_at(reads, slot, leaf):
    return reads[slot] if leaf is None else jax.tree_util.tree_leaves(reads[slot])[leaf]


def _with_leaf(tree, index, value):
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    leaves[index] = value
    return jax.tree_util.tree_unflatten(treedef, leaves)


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
        self._watched = []
        self._record = None
        self._used = False
        self._recording = False
        self._phase = None  # "discover" or "forward" while the block runs
        self._current_reads = ()
        self._intermediates = []  # watched tensors computed inside the block
        self._eps, self._eps_objects = [], []

    # A plain `with` (code AutoGraph did not convert) cannot be recorded.
    def __enter__(self):
        raise RuntimeError(_not_recorded(sys._getframe(1)))

    def __exit__(self, *exc):
        return False

    def watch(self, tensor):
        """Differentiate with respect to `tensor` too (in converted code a tensor computed
        inside the block works as well: see _xf_watch)."""
        if not self._recording:
            raise RuntimeError("tape.watch() must be called inside the tape's `with` block")
        for leaf in jax.tree_util.tree_leaves(tensor, is_leaf=lambda x: isinstance(x, Variable)):
            if not any(leaf is w for w in self._watched):
                self._watched.append(leaf)

    def _xf_watch(self, value):
        """`name = ag__.watch(tape, name)` (AutoGraph's form of `tape.watch(name)`): a tensor
        computed inside the block is rebound to itself plus a zero input, whose gradient is
        the gradient with respect to that tensor."""
        if isinstance(value, Variable) or self._phase is None or any(
                value is r for r in self._current_reads):
            self.watch(value)
            return value
        if not hasattr(value, "dtype"):
            raise TypeError(f"tape.watch() needs a tensor; received {type(value).__name__} "
                            f"{value!r} (make it one with xf.constant)")
        if self._phase == "discover":
            self._intermediates.append(jax.ShapeDtypeStruct(jnp.shape(value), value.dtype))
            return value
        shifted = value + self._eps[len(self._eps_objects)]
        self._eps_objects.append(shifted)
        return shifted

    def stop_recording(self):
        """A context whose computations are not differentiated (their values are kept)."""
        return _StopRecording()

    def reset(self):
        """Forget the recorded block (TF's tape.reset())."""
        if self._recording:
            raise NotImplementedError(
                "tape.reset() inside the tape's `with` block is not supported: end the "
                "block there and record the rest with a new tape (`with xf.GradientTape() "
                "as tape2:`), or call reset() after the block")
        self._record, self._used, self._watched = None, False, []

    def watched_variables(self):
        return tuple(self._record[2]) if self._record else ()

    # -- recording -------------------------------------------------------------------------
    def _xf_record_block(self, body, get_state, set_state, get_reads, set_reads, read_names):
        init, reads = get_state(), get_reads()
        self._watched, self._intermediates = [], []
        variables, watched_slots = self._discover(body, init, set_state, reads, set_reads,
                                                  read_names)
        captured = {}

        def forward(var_values, watched_values, eps_values):
            local = list(reads)
            for group, value in zip(watched_slots, watched_values):
                for slot, leaf in group:  # every local holding the watched tensor sees it
                    local[slot] = value if leaf is None else _with_leaf(local[slot], leaf, value)
            set_state(init)
            set_reads(tuple(local))  # after set_state: a watched name may also be written
            self._current_reads = tuple(local)
            self._eps, self._eps_objects = list(eps_values), []
            loops = []
            _loop_logs.append(loops)
            with _Recorded(variables, var_values) as scope:
                self._recording, self._phase = True, "forward"
                try:
                    body(self)
                finally:
                    self._recording, self._phase = False, None
                    # by identity: list.remove compares by value, and nested tapes' logs
                    # often hold the same entries
                    del _loop_logs[next(i for i, log in enumerate(_loop_logs) if log is loops)]
            state = get_state()
            leaves, tree = jax.tree_util.tree_flatten(
                state, is_leaf=lambda x: isinstance(x, Variable))
            arrays = [i for i, leaf in enumerate(leaves) if _is_array(leaf)]
            written = list(scope.assigned.values())  # watched ones included: they persist
            # Where each watched intermediate ends up among the array outputs (None when the
            # block does not keep it in a local that outlives it).
            eps_out = [next((n for n, i in enumerate(arrays) if leaves[i] is obj), None)
                       for obj in self._eps_objects]
            captured.update(leaves=leaves, tree=tree, arrays=arrays, written=written,
                            eps_out=eps_out, loops=loops)
            return ([leaves[i] for i in arrays],
                    [scope.values[id(v)] for v in written])

        watched_tensors = [_leaf_at(reads, *g[0]) for g in watched_slots]
        primals = ([v.value for v in variables], watched_tensors,
                   [jnp.zeros(spec.shape, spec.dtype) for spec in self._intermediates])
        # Trace the block once into a jaxpr: replaying it under jax.vjp needs no second run
        # of the Python code, and its data flow says which sources each result depends on.
        closed, out_shape = jax.make_jaxpr(forward, return_shape=True)(*primals)
        out_tree = jax.tree_util.tree_structure(out_shape)
        # Every float result the block computes may be a source too (TF differentiates with
        # respect to any tensor the tape saw computed): the replay adds a zero input where
        # each is computed, and the pullback's gradient for that input is the gradient with
        # respect to the result.
        shifted = _replay.computed_results(closed.jaxpr, len(captured["arrays"]))
        outputs, pullback = jax.vjp(
            lambda *args: jax.tree_util.tree_unflatten(out_tree, _replay.replay(
                closed, shifted, jax.tree_util.tree_leaves(args[:3]), args[3])),
            *primals, [jnp.zeros(v.aval.shape, v.aval.dtype) for v in shifted])
        array_out, written_values = outputs
        leaves = list(captured["leaves"])
        for i, value in zip(captured["arrays"], array_out):
            leaves[i] = value
        set_reads(reads)
        set_state(jax.tree_util.tree_unflatten(captured["tree"], leaves))
        for var, value in zip(captured["written"], written_values):
            var.assign(jax.lax.stop_gradient(value))
        watched_objects = watched_tensors + [
            None if n is None else array_out[n] for n in captured["eps_out"]]
        # The results the shifts stand for, as the block's locals hold them now.
        out_vars = closed.jaxpr.outvars[:len(array_out)]
        watched_objects += [next(o for o, v in zip(array_out, out_vars) if v is var)
                            for var in shifted]
        self._record = (_explained(pullback, captured["loops"]), outputs, variables,
                        watched_objects)
        self._depends = _replay.dependencies(closed.jaxpr, shifted)
        self._used = False

    def _discover(self, body, init, set_state, reads, set_reads, read_names):
        """One abstract pass: the trainable Variables read and the watched read slots."""
        probe = _Reads()

        def run():
            self._current_reads = reads
            with probe:
                self._recording, self._phase = True, "discover"
                try:
                    body(self)
                finally:
                    self._recording, self._phase = False, None
            return 0

        try:
            jax.eval_shape(run)
        finally:
            set_state(init)
            set_reads(reads)
        variables = [v for v in probe.read_order.values() if v.trainable] \
            if self.watch_accessed_variables else []
        groups = []  # per watched tensor: every read slot holding that very object
        for tensor in self._watched:
            if isinstance(tensor, Variable):  # watched as a Variable, never as a slot
                if not any(tensor is v for v in variables):
                    variables.append(tensor)
                continue
            # Every local holding the tensor, or holding it inside a list/dict/tuple
            # (`tape.watch(params)` with params a dict of tensors, as TF allows).
            group = [(i, None) for i, r in enumerate(reads) if r is tensor] or [
                (i, k) for i, r in enumerate(reads) if not _is_array(r)
                for k, leaf in enumerate(jax.tree_util.tree_leaves(r)) if leaf is tensor]
            if not group:
                raise ValueError(
                    "tape.watch() needs a tensor held by a local variable of the function "
                    "(`tape.watch(y)`, with y assigned before or inside the block, or a "
                    "list/dict of them); assign the expression to a name first")
            groups.append(group)
        self._watched = []
        return variables, groups

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
        if index is None:
            raise ValueError("tape.gradient(target, ...): the target was not computed inside "
                             "the tape's `with` block (compute the loss inside it; for a "
                             "tape nested in another tape's block, call its gradient() "
                             "inside the outer block)")
        return index

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """d(sum of `target`)/d`sources`, structured like `sources` (None where a source
        does not affect the target, or zeros with unconnected_gradients='zero')."""
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError("unconnected_gradients must be 'none' or 'zero'; received "
                             f"{unconnected_gradients!r}")
        pullback, (array_out, written), variables, watched = self._use()
        seeds = jax.tree_util.tree_leaves(output_gradients) if output_gradients is not None \
            else None
        cotangent = [jnp.zeros_like(o) for o in array_out]
        connected = set()
        for n, t in enumerate(jax.tree_util.tree_leaves(target)):
            index = self._output_index(array_out, t)
            connected |= self._depends[index]
            seed = jnp.ones_like(t) if seeds is None else jnp.asarray(seeds[n], t.dtype)
            cotangent[index] = cotangent[index] + seed
        var_grads, slot_grads, eps_grads, result_grads = pullback(
            (cotangent, [jnp.zeros_like(w) for w in written]))
        watched_grads = [*slot_grads, *eps_grads, *result_grads]
        return self._arrange(sources, variables, watched, var_grads, watched_grads,
                             unconnected_gradients, connected)

    def _arrange(self, sources, variables, watched, var_grads, watched_grads, unconnected,
                 connected, prefix=()):
        """Gradients in `sources`' structure; None (or zeros) for a source the target does
        not depend on, as TF."""
        def pick(source):
            if not jnp.issubdtype(getattr(source, "dtype", jnp.float32), jnp.inexact):
                # TF: integer sources have no gradient (JAX would hand back float0 values).
                return _unconnected(source)
            for i, (v, g) in enumerate(zip(variables, var_grads)):
                if source is v and i in connected:
                    return g
            for j, (w, g) in enumerate(zip(watched, watched_grads)):
                if w is not None and source is w and len(variables) + j in connected:
                    return g
            return _unconnected(source)

        def _unconnected(source):
            if unconnected == "zero":  # prefix: the target's shape, for jacobians
                return jnp.zeros((*prefix, *jnp.shape(source)),
                                 getattr(source, "dtype", jnp.float32))
            return None

        return jax.tree_util.tree_map(pick, sources, is_leaf=lambda x: isinstance(x, Variable))

    def jacobian(self, target, sources, unconnected_gradients="none"):
        """d`target`/d`sources`: shape target.shape + source.shape for each source (one
        vector-Jacobian product per element of the target, vectorized with vmap)."""
        pullback, (array_out, written), variables, watched = self._use()
        index = self._output_index(array_out, target)
        out = array_out[index]
        basis = jnp.eye(out.size, dtype=out.dtype).reshape((out.size, *out.shape))

        def row(seed):
            cotangent = [jnp.zeros_like(o) for o in array_out]
            cotangent[index] = seed
            return pullback((cotangent, [jnp.zeros_like(w) for w in written]))

        var_rows, slot_rows, eps_rows, result_rows = jax.vmap(row)(basis)
        watched_rows = [*slot_rows, *eps_rows, *result_rows]
        reshape = lambda g: g.reshape((*out.shape, *g.shape[1:]))  # noqa: E731
        return self._arrange(sources, variables, watched, [reshape(g) for g in var_rows],
                             [reshape(g) for g in watched_rows], unconnected_gradients,
                             self._depends[index], out.shape)

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

    def __enter__(self):
        raise RuntimeError(_not_recorded(sys._getframe(1)))

    def __exit__(self, *exc):
        return False

    def _xf_record_block(self, body, get_state, set_state, get_reads, set_reads, read_names):
        body(None)
        set_state(jax.tree_util.tree_map(
            lambda x: jax.lax.stop_gradient(x) if _is_array(x) else x, get_state(),
            is_leaf=lambda x: isinstance(x, Variable)))
