"""Variable: a mutable cell holding a jax.Array, lifted into xf.function traces as an input."""

from __future__ import annotations

import operator
import threading

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _lifting
from xlaflow import name_scopes as _scopes
from xlaflow import variable_policies as _policies
from xlaflow.variable_operators import ArrayOperators


def _is_tracer(x):
    return isinstance(x, jax.core.Tracer)


_placement = None  # set by a distribution strategy's scope: where new Variables live


class _Autocast(threading.local):
    # Set while a mixed-precision layer's call runs: read float32 as `dtype`. Per thread:
    # a layer running in a data-pipeline or server thread must not cast the reads of
    # another thread (an optimizer update being traced there).
    dtype = None


_autocast = _Autocast()
_FLOAT32 = jnp.dtype("float32")


# TF computes a Variable's initial value outside the function (init_scope, lifting): from
# constants, shapes and other Variables' values it can, from an argument's values it cannot
# under XLA (its other fallback, initializing inside a tf.cond, is not XLA's either).
_FROM_ARGUMENT = (
    "xf.function {fn!r}: xf.Variable's initial value depends on the values of the "
    "function's arguments. As in tf.function(jit_compile=True), a Variable created on the "
    "first trace gets its initial value outside the function: from constants, shapes (xf.zeros(x.shape), "
    "xf.ones_like(x)) and other Variables' current values, never from a traced argument. "
    "Create the Variable outside the function (xf.Variable(xf.zeros(shape))) and assign "
    "the argument's value to it inside.")


_FROM_RECORDED = (
    "xf.Variable's initial value is computed from traced values of a recorded block: a "
    "GradientTape's `with` block (eagerly too), xf.custom_gradient or xf.recompute_grad "
    "runs its code as a traced function, so a Variable made there cannot take its value "
    "from them (TF's eager tape can). Create the Variable before the block "
    "(w = xf.Variable(x * 2)) and use or assign it inside.")


def _initial_array(initial_value, dtype, ctx):
    if callable(initial_value) and not isinstance(initial_value, (Variable, jax.Array)):
        # A callable initializer is evaluated now, outside any trace, as in TF.
        with jax.ensure_compile_time_eval():
            initial_value = initial_value()
    if isinstance(initial_value, Variable):
        initial_value = initial_value.value
    if _is_tracer(initial_value):
        if ctx is None:
            raise ValueError(
                "xf.Variable's initial value depends on a traced value of a JAX "
                "transformation (jax.jit, jax.grad, ...). A Variable is a cell outside "
                "compiled code: create it before the transformation, or use xf.function, "
                "which lifts Variables into the program")
        if ctx.eager_init:  # rerun with the Variables' values concrete: an argument's, then
            raise ValueError(_FROM_ARGUMENT.format(fn=ctx.fn_name))
        lifted = ctx.lift_initial_value(initial_value)
        if lifted is _lifting.CANNOT_LIFT:
            if ctx.fn_name is None:  # no xf.function around to trace again
                raise ValueError(_FROM_RECORDED)
            raise _lifting.NeedsEagerInit()
        initial_value = lifted
    if dtype is not None:
        dtype = jnp.dtype(dtype)
    elif not hasattr(initial_value, "dtype"):
        # Python numbers and lists: TF's defaults (float32, int32), never weakly typed.
        dtype = jnp.asarray(initial_value).dtype
    else:
        # a NumPy float64/int64 value becomes float32/int32 unless x64 is on, silently, as
        # jnp.asarray converts it: the user asked for no dtype (but wrapped values refused)
        dtype = jax.dtypes.canonicalize_dtype(initial_value.dtype)
        from xlaflow.tensors import _check_narrowed_integers  # tensors imports this module
        _check_narrowed_integers(initial_value, dtype, "Variable")
    # Concrete here, so made now: inside a trace jnp.asarray would stage the conversion
    # and the cell would keep a tracer of that trace (xf.Variable(3.0) in a first trace)
    with jax.ensure_compile_time_eval():
        return jnp.asarray(initial_value, dtype=dtype)


class Variable(ArrayOperators):
    """A mutable, named cell holding a `jax.Array`.

    Reads and `assign*` work eagerly; inside `xf.function` they are lifted into the compiled
    program as inputs and outputs, so assignments persist after the call exactly as in eager
    mode. `constraint` (a Keras optimizer applies it after each update), `shape` (None
    sizes may change on assign), `synchronization` and `aggregation` are TF's
    (variable_policies.py). Operators act on the value (variable_operators.py).

    >>> v = Variable([1.0, 2.0], name="v")
    >>> _ = v.assign_add([1.0, 1.0])
    >>> v.numpy()
    array([2., 3.], dtype=float32)
    """

    __slots__ = ("_value", "_trainable", "_name", "_declared", "_constraint",
                 "_synchronization", "_aggregation", "__weakref__")
    __array_priority__ = 200

    def __init__(self, initial_value, trainable=None, name=None, dtype=None, *,
                 constraint=None, synchronization=_policies.VariableSynchronization.AUTO,
                 aggregation=_policies.VariableAggregation.NONE, shape=None):
        # trainable=None: True, except for ON_READ Variables (TF's rule)
        (self._trainable, self._constraint, self._synchronization,
         self._aggregation) = _policies.options(trainable, constraint, synchronization,
                                                aggregation)
        ctx = _lifting.current()
        value = _initial_array(initial_value, dtype, ctx)
        self._declared = _policies.declared_shape(shape, value.shape)
        self._value = value
        self._name = _scopes.scoped("Variable" if name is None else str(name))
        if _placement is not None and (ctx is None or getattr(ctx, "shape_only", False)) \
                and not _is_tracer(self._value):
            with jax.ensure_compile_time_eval():  # also when created during a shape trace
                self._value = _placement(self._value, self._name)
        if ctx is not None:
            ctx.on_create(self)

    # -- reading -------------------------------------------------------------------------
    @property
    def value(self):
        """The current value: the cell's array eagerly, the traced value inside xf.function."""
        value = self._stored()
        autocast = _autocast.dtype
        if autocast is not None and value.dtype == _FLOAT32:
            return value.astype(autocast)
        return value

    def _stored(self):
        # The value in the Variable's own dtype (never autocast): what updates build on.
        ctx = _lifting.current()
        return self._value if ctx is None else ctx.read(self)

    def read_value(self):
        """The current value (TF name for `.value`)."""
        return self.value

    def numpy(self):
        """The current value as a NumPy array; only outside compiled code, as in TF."""
        value = self.value
        if _is_tracer(value):
            raise TypeError(
                f"Variable {self._name!r}.numpy() was called inside a compiled xf.function, "
                "where values are not known yet. Use xf.print(v) to print at run time, or "
                "return the value from the function."
            )
        return np.asarray(value)

    @property
    def shape(self):
        return self._value.shape

    @property
    def dtype(self):
        return self._value.dtype

    @property
    def ndim(self):
        return self._value.ndim

    @property
    def size(self):
        return self._value.size

    @property
    def name(self):
        return self._name

    @property
    def trainable(self):
        return self._trainable

    # constraint: applied by Keras optimizers after each update; declared_shape: `shape=`
    # (None: any size), `shape` is the current one; the others: see variable_policies.
    constraint = property(operator.attrgetter("_constraint"))
    synchronization = property(operator.attrgetter("_synchronization"))
    aggregation = property(operator.attrgetter("_aggregation"))
    declared_shape = property(operator.attrgetter("_declared"))

    def ref(self):
        """A hashable reference to this Variable (Variables compare elementwise, as in TF2)."""
        return _Ref(self)

    # -- writing -------------------------------------------------------------------------
    def assign(self, value, read_value=True):
        """Set the value; its shape and dtype must match the Variable's. Returns self."""
        return self._assign_checked(value, "assign", read_value)

    def assign_add(self, delta, read_value=True):
        """Add `delta` (broadcastable to the Variable's shape) in place. Returns self."""
        return self._assign_checked(self._stored() + self._delta(delta, "assign_add"),
                                    "assign_add", read_value)

    def assign_sub(self, delta, read_value=True):
        """Subtract `delta` (broadcastable to the Variable's shape) in place. Returns self."""
        return self._assign_checked(self._stored() - self._delta(delta, "assign_sub"),
                                    "assign_sub", read_value)

    def _delta(self, delta, method):
        delta = self._typed(delta, method)
        shape = tuple(delta.shape)
        if len(shape) > len(self.shape) or any(
                d not in (1, s) for d, s in zip(shape[::-1], self.shape[::-1])):
            raise ValueError(
                f"Variable {self._name!r}.{method}: expected a delta broadcastable to shape "
                f"{self.shape}, received shape {shape}."
            )
        if len(shape) < len(self.shape):
            delta = jnp.broadcast_to(delta, self.shape)
        return delta

    def _assign_checked(self, value, method, read_value):
        new = self._checked(value, method)
        ctx = _lifting.current()
        if ctx is not None:
            ctx.write(self, new)
        elif _is_tracer(new):
            raise _escaped_tracer_error(self)
        else:
            old = getattr(self._value, "sharding", None)
            if isinstance(old, jax.sharding.NamedSharding) and new.sharding != old:
                new = jax.device_put(new, old)  # a replicated Variable stays replicated
            self._value = new
        return self if read_value else None

    def _typed(self, value, method):
        if isinstance(value, Variable):
            value = value.value
        if not hasattr(value, "dtype") or isinstance(value, (np.ndarray, np.generic)):
            return self._converted(value, method)
        if _autocast.dtype is not None and jnp.dtype(value.dtype) != self.dtype and \
                jnp.issubdtype(value.dtype, jnp.floating) and \
                jnp.issubdtype(self.dtype, jnp.floating):
            return value.astype(self.dtype)  # a mixed-precision layer writing its state
        if jnp.dtype(value.dtype) != self.dtype:
            raise TypeError(
                f"Variable {self._name!r}.{method}: expected dtype {self.dtype}, received "
                f"{jnp.dtype(value.dtype)}. Cast first: xf.cast(value, {self.dtype.name!r})."
            )
        return value

    def _converted(self, value, method):
        """Python numbers, lists and NumPy arrays take the Variable's dtype, as TF's
        convert_to_tensor(value, dtype) does; a fraction never becomes an integer."""
        array = np.asarray(value)
        if array.dtype == self.dtype:
            return array
        if array.dtype == object:
            raise TypeError(f"Variable {self._name!r}.{method}: expected numbers of dtype "
                            f"{self.dtype}; received {type(value).__name__} {value!r}")
        target = np.dtype(self.dtype)
        if (target.kind == "b") != (array.dtype.kind == "b") or (
                array.dtype.kind == "c" and target.kind != "c"):
            raise TypeError(f"Variable {self._name!r}.{method}: cannot convert {value!r} "
                            f"({array.dtype}) to the Variable's dtype {target}")
        if target.kind in "biu" and array.dtype.kind not in "biu":
            raise TypeError(f"Variable {self._name!r}.{method}: cannot convert {value!r} "
                            f"({array.dtype}) to the Variable's dtype {target}")
        if target.kind in "iu" and array.size and (
                array.min() < np.iinfo(target).min or array.max() > np.iinfo(target).max):
            raise ValueError(f"Variable {self._name!r}.{method}: values from {array.min()} to "
                             f"{array.max()} do not fit the Variable's dtype {target}")
        return array.astype(target)

    def _checked(self, value, method):
        # Python numbers and lists take the Variable's dtype, as TF converts them.
        value = self._typed(value, method)
        if not _policies.compatible(self._declared, tuple(value.shape)):
            raise ValueError(
                f"Variable {self._name!r}.{method}: expected shape {self._declared}, "
                f"received {tuple(value.shape)}."
            )
        if getattr(value, "weak_type", False) or isinstance(value, np.ndarray):
            # Keep the stored value strongly typed and on device, so compiled signatures
            # never flip between weak and strong types.
            value = jax.lax.convert_element_type(value, self.dtype)
        return value

    # -- array protocols -----------------------------------------------------------------
    def __jax_array__(self):
        return self.value

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.numpy(), dtype=dtype)

    def __repr__(self):
        value = self.value
        shown = "<traced>" if _is_tracer(value) else np.array2string(np.asarray(value))
        return (f"<xf.Variable {self._name!r} shape={self.shape} dtype={self.dtype.name} "
                f"numpy={shown}>")

    def __hash__(self):
        raise TypeError("Variable is unhashable (== is elementwise, as in TF2). "
                        "Use v.ref() or id(v) as a key.")

    def __len__(self):
        return len(self._value)


class _Ref:
    """Hashable identity wrapper returned by Variable.ref()."""

    __slots__ = ("_var",)

    def __init__(self, var):
        self._var = var

    def deref(self):
        return self._var

    def __hash__(self):
        return id(self._var)

    def __eq__(self, other):
        return isinstance(other, _Ref) and other._var is self._var


class _DetachedVariable(Variable):
    """A Variable rebuilt by a JAX transformation from its value leaf (see the pytree below).

    It carries a value (often a tracer of that transformation) but is not the user's cell:
    reading it never consults the lifting context and assigning to it is an error.
    """

    __slots__ = ()

    @property
    def value(self):
        return self._value

    def _assign_checked(self, value, method, read_value):
        # assign, assign_add and assign_sub all end here.
        raise TypeError(
            f"Cannot {method} to Variable {self._name!r} inside a JAX transformation "
            "(jax.jit/grad/vmap flattened it to its value). Use xf.function, which "
            "writes assignments back, or return the new value."
        )


def _flatten(var):
    return (var.value,), (var._name, var._trainable)


def _unflatten(aux, children):
    out = object.__new__(_DetachedVariable)
    out._value = children[0]
    out._name, out._trainable = aux
    out._declared, out._constraint = tuple(getattr(out._value, "shape", ())), None
    out._synchronization = _policies.VariableSynchronization.AUTO
    out._aggregation = _policies.VariableAggregation.NONE
    return out


# A Variable is a pytree with one leaf, its value: jnp functions (which run under jax.jit)
# and jax.tree_util see the array, which is what JAX 0.10 asks of array-like objects.
jax.tree_util.register_pytree_node(Variable, _flatten, _unflatten)
jax.tree_util.register_pytree_node(_DetachedVariable, _flatten, _unflatten)


def _escaped_tracer_error(var):
    return TypeError(
        f"Cannot assign a traced value to Variable {var.name!r} outside an xf.function: "
        "inside a plain jax.jit/grad/vmap the assignment could not persist. Decorate the "
        "function with @xf.function, or return the new value and assign it outside."
    )
