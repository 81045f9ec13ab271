"""The state-lifting context: what a Variable read or assignment means while xf.function traces.

Outside any context a Variable is a plain mutable cell. While `xf.function` traces, a
`LiftContext` maps each Variable to the traced value that stands for it; reads return that
value and assignments rebind it, so the traced program stays pure and the new values are
written back to the cells only after the compiled call returns.
"""

from __future__ import annotations

import contextlib
import threading

from xlaflow import _init_lifting


class _Local(threading.local):
    # A class-level default: reading a missing attribute of a threading.local (getattr with
    # a default) costs ~0.35 µs for the AttributeError; this read costs ~0.03 µs, and
    # xf.function's fast path makes it on every call.
    ctx = None


_local = _Local()

# fast_path_open[0]: no context is active in any thread and xf.functions are not forced to
# run eagerly. xf.function's fast path reads this one cell instead of this thread's context
# and the eager flag (0.15 µs less per call); while any thread traces or differentiates
# through a context, every call takes the full path, which looks at its own thread's.
fast_path_open = [True]
_active = 0
_eager = False
_gate = threading.Lock()


_listeners = []  # called with the new state when fast_path_open[0] changes


def _reopen(delta=0, eager=None):
    global _active, _eager
    with _gate:
        _active += delta
        if eager is not None:
            _eager = eager
        was, fast_path_open[0] = fast_path_open[0], _active == 0 and not _eager
        if was != fast_path_open[0]:
            for listener in _listeners:
                listener(fast_path_open[0])


def on_fast_path_change(listener):
    """Call `listener(is_open)` whenever the fast path opens or closes (_cpp_dispatch's
    classes switch their `__call__` by it), first with the state now."""
    with _gate:
        _listeners.append(listener)
        listener(fast_path_open[0])


def set_eager(eager):
    """Called by the run_functions_eagerly flag: eager calls never take the fast path."""
    _reopen(eager=bool(eager))


def current():
    """The innermost active LiftContext of this thread, or None when running eagerly."""
    return _local.ctx


@contextlib.contextmanager
def outside_traces():
    """TF's init_scope: a Variable made here belongs to no trace, so a retrace may make it
    too (xf.random's per-seed streams); a trace reading it lifts it as any outside one."""
    outer = _local.ctx
    _local.ctx = None
    try:
        yield
    finally:
        _local.ctx = outer


CANNOT_LIFT = _init_lifting.CANNOT  # lift_initial_value's answer: rerun with eager init


class Retrace(BaseException):
    """Internal: the trace reached Variables it was not given; trace again with `variables`.

    A BaseException so that a user's `except Exception` inside the traced code cannot
    swallow it.
    """

    def __init__(self, variables, assigned=None, unordered_prints=False, undonated=False):
        super().__init__("xlaflow internal: retrace with more Variables")
        self.variables = variables
        self.assigned = assigned
        self.unordered_prints = unordered_prints  # its prints must not be ordered effects
        self.undonated = undonated  # its Variable values must survive a failed run


class NeedsEagerInit(BaseException):
    """Internal: a Variable was created from a traced value; rerun under compile-time eval."""


class _Scoped:
    """Entering makes the context current for this thread; leaving restores the outer one."""

    def __enter__(self):
        self._outer = current()
        _local.ctx = self
        _reopen(+1)
        return self

    def __exit__(self, *exc):
        _local.ctx = self._outer
        _reopen(-1)
        return False


class LiftContext(_Scoped):
    """Maps Variables to their values inside one trace and records what the trace did.

    `known` are the Variables the compiled function receives as inputs, paired with the
    traced values standing for them. A Variable reached but not known is recorded in
    `missing`: its concrete value is used so the trace can finish, and the caller traces
    again with it as an input.
    """

    def __init__(self, known, values, *, allow_create, eager_init, fn_name):
        self.known = list(zip(known, values))  # as the trace received them
        self.values = {id(v): x for v, x in zip(known, values)}
        self.variables = {id(v): v for v in known}
        self.missing = {}
        self.assigned = {}
        self.touched = set()
        self.check_tokens = []  # run-time checks (asserts) this trace contains
        # checks at the top level of the trace (no loop or branch around them): outputs of
        # the program, read after the call, instead of host callbacks (_runtime_checks)
        self.inline_checks = []
        self.top_trace = None  # the trace those checks must be made in
        self.write_log = []  # every write in order, so AutoGraph can see what a block wrote
        self.allow_create = allow_create
        self.eager_init = eager_init
        self.fn_name = fn_name
        self.shape_only = False  # set by eval_shape: a shape pass, not a compiled trace
        self.created_log = []  # Variables created in this trace, in order
        self.raise_checks = False  # traced for a caller's own JAX transformation
        self.inputs = ()  # the traced arguments (xf.print asks whether any spans devices)
        self.ordered_prints = True  # False: a trace found its program spans devices
        self.printed_in_order = False  # set by xf.print when it made an ordered callback

    def read(self, var):
        key = id(var)
        self.touched.add(key)
        try:
            return self.values[key]
        except KeyError:
            self._add_missing(var)
            return self.values[key]

    def write(self, var, value):
        key = id(var)
        self.touched.add(key)
        if key not in self.variables:
            self._add_missing(var)
        self.values[key] = value
        self.assigned[key] = var
        self.write_log.append(var)

    def _add_missing(self, var):
        key = id(var)
        self.missing[key] = var
        self.variables[key] = var
        self.values[key] = var._value

    def lift_initial_value(self, value):
        """A new Variable's traced initial value made concrete now, as TF's lift_to_graph
        (see _init_lifting), or CANNOT_LIFT; one computed from an argument is refused."""
        from xlaflow.variables import _FROM_ARGUMENT  # variables imports this module

        try:
            return _init_lifting.lift(value, self.known, self.inputs)
        except _init_lifting.FromArgument:
            raise ValueError(_FROM_ARGUMENT.format(fn=self.fn_name)) from None

    def on_create(self, var):
        """Called by Variable.__init__ inside a trace; enforces TF's first-trace-only rule."""
        if not self.allow_create:
            raise ValueError(
                f"xf.function {self.fn_name!r} created a Variable ({var.name!r}) on a trace "
                "other than its first. Variables may only be created on the first trace, as "
                "in TensorFlow. Create it once outside the function, or guard the creation:\n"
                "    if self.v is None:\n"
                "        self.v = xf.Variable(...)"
            )
        self.created_log.append(var)
        self._add_missing(var)



class OverrideContext(_Scoped):
    """Binds some Variables to given values (e.g. the tracers of jax.grad) on top of the
    enclosing context; other reads fall through to it (or to the cells, eagerly).

    Assignments stay here, so a transformation can return them as outputs rather than
    leaking its tracers into the enclosing context.
    """

    def __init__(self, variables, values):
        self.parent = current()
        self.values = {id(v): x for v, x in zip(variables, values)}
        self.variables = {id(v): v for v in variables}
        self.assigned = {}
        self.write_log = []
        parent = self.parent
        self.check_tokens = parent.check_tokens if parent is not None else []
        self.created_log = parent.created_log if parent is not None else []
        self.eager_init = parent.eager_init if parent is not None else False
        self.fn_name = parent.fn_name if parent is not None else None  # None: no xf.function
        # With no xf.function around to collect run-time checks (an eager tape under
        # jax.vjp), they must raise inside the program.
        self.raise_checks = parent.raise_checks if parent is not None else True

    def read(self, var):
        key = id(var)
        if key in self.values:
            return self.values[key]
        return var._value if self.parent is None else self.parent.read(var)

    def write(self, var, value):
        key = id(var)
        self.values[key] = value
        self.variables[key] = var
        self.assigned[key] = var
        self.write_log.append(var)

    def lift_initial_value(self, value):
        # The walk follows what `value` was computed from, whatever this scope bound (a
        # transformation's own tracers are not lifted), so the trace's context can answer.
        if self.parent is None:
            return CANNOT_LIFT
        return self.parent.lift_initial_value(value)

    def on_create(self, var):
        if self.parent is not None:
            self.parent.on_create(var)


def eval_shape(fn, *specs):
    """jax.eval_shape(fn, *specs) for code that may read, assign and create Variables (a
    model built by tracing `call`): reads see the cells, assignments are dropped (only
    shapes are wanted), and a Variable created from a traced value (`xf.Variable(
    jnp.zeros(...))` in `build`) is made by rerunning with compile-time evaluation, as
    xf.function does."""
    import jax

    for eager_init in (False, True):
        ctx = LiftContext([], [], allow_create=True, eager_init=eager_init,
                          fn_name=getattr(fn, "__name__", "build"))
        ctx.shape_only = True  # Variables made here are real: placed as outside a trace
        try:
            with ctx:
                if not eager_init:
                    return jax.eval_shape(fn, *specs)
                with jax.ensure_compile_time_eval():
                    return jax.eval_shape(fn, *specs)
        except NeedsEagerInit:
            continue
    raise AssertionError("unreachable: the compile-time pass cannot ask for itself")
