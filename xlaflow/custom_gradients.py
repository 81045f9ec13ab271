"""xf.custom_gradient: TF's decorator that gives a function its own gradient, on jax.custom_vjp.

TF's grad_fn is a closure over the forward pass's tensors. JAX's custom_vjp wants the
forward's residuals returned explicitly, so the forward (f and the tracing of grad_fn) is
traced into a jaxpr once per call: the values grad_fn closes over become the residuals, and
the values f closes over from enclosing traces (the tape's marked Variables, jax.grad's
tracers) become inputs of the custom_vjp, so that gradients reach them only through grad_fn.
"""

from __future__ import annotations

import functools
import inspect
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _lifting
from xlaflow.variables import Variable


def _is_leaf(x):
    # tf.nest.flatten(None) is [None]: a None argument takes a gradient slot, as in TF
    return x is None or isinstance(x, Variable)


def _is_array(x):
    return isinstance(x, (jax.Array, np.ndarray, np.generic, Variable))


class _Watch(_lifting.OverrideContext):
    """The context f runs in: Variables passed as arguments read as their traced inputs, and
    every trainable float Variable f reads is recorded (TF's VariableWatcher), in order."""

    def __init__(self, variables, values):
        super().__init__(variables, values)
        self.arguments = set(self.values)
        self.reads = {}  # id -> (Variable, the value it read as)
        self.watching = True

    def read(self, var):
        value = super().read(var)
        key = id(var)
        if self.watching and key not in self.arguments and key not in self.reads and \
                var.trainable and jnp.issubdtype(var.dtype, jnp.inexact):
            self.reads[key] = (var, value)
        return value


def custom_gradient(f=None):
    """Decorate `f(*args) -> (y, grad_fn)` so that its gradient is `grad_fn(upstream)`, as
    TF's tf.custom_gradient.

    grad_fn takes one upstream gradient per flattened output (one if y is a single tensor)
    and returns one gradient per flattened positional argument (None for none). When `f`
    reads trainable Variables that are not arguments, grad_fn must accept `variables=None`
    and return `(input_grads, variable_grads)`, one gradient per Variable in `variables`.
    Keyword arguments are passed through and not differentiated (TF's eager rule); Python
    numbers are passed as they are and take a gradient slot whose gradient is ignored.

    >>> @custom_gradient
    ... def log1pexp(x):
    ...     e = jnp.exp(x)
    ...     return jnp.log(1 + e), lambda dy: dy * (1 - 1 / (1 + e))
    >>> float(jax.grad(log1pexp)(100.0))
    1.0
    """
    if f is None:
        return custom_gradient
    if not callable(f):
        raise TypeError(f"custom_gradient(f): expected a function; received "
                        f"{type(f).__name__} {f!r}")

    @functools.wraps(f)
    def decorated(*args, **kwargs):
        return _call(f, args, kwargs)

    return decorated


def _accepts_variables(grad_fn):
    try:
        spec = inspect.getfullargspec(grad_fn)
    except TypeError:
        return True  # a builtin or C callable: let the call itself say
    return "variables" in spec.args or "variables" in spec.kwonlyargs or \
        spec.varkw is not None


def _call(f, args, kwargs):
    name = getattr(f, "__name__", "f")
    arg_leaves, arg_tree = jax.tree_util.tree_flatten(args, is_leaf=_is_leaf)
    kw_leaves, kw_tree = jax.tree_util.tree_flatten(kwargs, is_leaf=_is_leaf)
    # The traced inputs: array and Variable arguments (a Variable's value read here, through
    # the enclosing context), and the arrays among the keywords.
    traced = [i for i, x in enumerate(arg_leaves) if _is_array(x)]
    kw_traced = [i for i, x in enumerate(kw_leaves) if _is_array(x)]
    arg_values = [jnp.asarray(arg_leaves[i].value if isinstance(arg_leaves[i], Variable)
                              else arg_leaves[i]) for i in traced]
    kw_values = [jnp.asarray(kw_leaves[i].value if isinstance(kw_leaves[i], Variable)
                             else kw_leaves[i]) for i in kw_traced]
    found = {}  # what the forward trace learns: the output tree, the Variables, grad_fn

    def forward(arg_vals, kw_vals):
        a_leaves, k_leaves = list(arg_leaves), list(kw_leaves)
        arg_vars, arg_var_vals = [], []
        for i, v in zip(traced, arg_vals):
            if isinstance(a_leaves[i], Variable):
                arg_vars.append(a_leaves[i])
                arg_var_vals.append(v)
            else:
                a_leaves[i] = v
        for i, v in zip(kw_traced, kw_vals):
            if not isinstance(k_leaves[i], Variable):
                k_leaves[i] = v
        call_args = jax.tree_util.tree_unflatten(arg_tree, a_leaves)
        call_kwargs = jax.tree_util.tree_unflatten(kw_tree, k_leaves)
        with _Watch(arg_vars, arg_var_vals) as scope:
            out = f(*call_args, **call_kwargs)
            if not (isinstance(out, (tuple, list)) and len(out) == 2 and callable(out[1])):
                raise TypeError(
                    f"custom_gradient {name!r}: the function must return (result, grad_fn) "
                    f"with grad_fn callable; received {type(out).__name__} {out!r}")
            y, grad_fn = out
            y_leaves, y_tree = jax.tree_util.tree_flatten(
                y, is_leaf=lambda x: isinstance(x, Variable))
            y_leaves = [jnp.asarray(x.value if isinstance(x, Variable) else x)
                        for x in y_leaves]
            scope.watching = False
            written = list(scope.assigned.values())
            written_vals = [scope.values[id(v)] for v in written]
            variables = [var for var, _ in scope.reads.values()]
            if variables and not _accepts_variables(grad_fn):
                raise TypeError(
                    f"custom_gradient {name!r}: grad_fn must accept keyword argument "
                    f"'variables', since the function uses variables: "
                    f"{[v.name for v in variables]}")
            found.update(y_tree=y_tree, written=written, variables=variables,
                         read_values=[value for _, value in scope.reads.values()])
            # grad_fn is traced now, where the values it closes over exist; its errors are
            # kept for the backward pass, where TF raises them (a grad_fn may refuse).
            backward = functools.partial(
                _backward, grad_fn, name, arg_leaves, traced, arg_vals,
                variables, found["read_values"])
            try:
                closed = jax.make_jaxpr(backward)(
                    [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in y_leaves])
                found.update(bwd=closed.jaxpr, error=None)
                residuals = list(closed.consts)
            except Exception as exc:  # noqa: BLE001 (re-raised when a gradient is asked for)
                found.update(bwd=None, error=exc)
                residuals = []
        return y_leaves, written_vals, residuals

    closed = jax.make_jaxpr(forward)(arg_values, kw_values)
    # Values f closed over from enclosing traces: inputs, so they get gradients (for the
    # Variables f read, grad_fn's variable gradients) and never leak into the custom_vjp.
    hoisted = [k for k, c in enumerate(closed.consts) if isinstance(c, jax.core.Tracer)]
    n_y, n_written = found["y_tree"].num_leaves, len(found["written"])

    def evaluate(arg_vals, kw_vals, h_vals):
        consts = list(closed.consts)
        for k, v in zip(hoisted, h_vals):
            consts[k] = v
        flat = jax.core.eval_jaxpr(closed.jaxpr, consts, *arg_vals, *kw_vals)
        return flat[:n_y], flat[n_y:n_y + n_written], flat[n_y + n_written:]

    @jax.custom_vjp
    def run(arg_vals, kw_vals, h_vals):
        return evaluate(arg_vals, kw_vals, h_vals)[:2]

    def run_fwd(arg_vals, kw_vals, h_vals):
        y, written, residuals = evaluate(arg_vals, kw_vals, h_vals)
        return (y, written), (residuals, arg_vals, kw_vals, h_vals)

    def run_bwd(saved, cotangents):
        residuals, arg_vals, kw_vals, h_vals = saved
        if found["error"] is not None:
            raise found["error"]
        y_cts, _ = cotangents  # assignments are not differentiated, as in TF
        y_cts = [jnp.zeros(v.aval.shape, v.aval.dtype) if ct.dtype == jax.dtypes.float0
                 else ct for ct, v in zip(y_cts, closed.jaxpr.outvars)]
        grads = jax.core.eval_jaxpr(found["bwd"], residuals, *y_cts)
        input_grads, variable_grads = grads[:len(traced)], grads[len(traced):]
        by_value = {}  # a hoisted value's gradient: the sum over the Variables read as it
        for value, grad in zip(found["read_values"], variable_grads):
            by_value[id(value)] = grad + by_value[id(value)] if id(value) in by_value \
                else grad
        return (_cotangents(arg_vals, input_grads),
                _cotangents(kw_vals, [None] * len(kw_vals)),
                _cotangents(h_vals, [by_value.get(id(closed.consts[k])) for k in hoisted]))

    run.defvjp(run_fwd, run_bwd)
    y_leaves, written_vals = run(arg_values, kw_values, [closed.consts[k] for k in hoisted])
    for var, value in zip(found["written"], written_vals):
        var.assign(value)
    return jax.tree_util.tree_unflatten(found["y_tree"], y_leaves)


def _cotangents(primals, grads):
    """The custom_vjp's cotangents: `grads` (None: zeros), float0 for integer inputs."""
    out = []
    for primal, grad in zip(primals, grads):
        if not jnp.issubdtype(primal.dtype, jnp.inexact):
            out.append(np.zeros(primal.shape, jax.dtypes.float0))
        elif grad is None:
            out.append(jnp.zeros(primal.shape, primal.dtype))
        else:
            out.append(jnp.asarray(grad, primal.dtype))
    return out


def _backward(grad_fn, name, arg_leaves, traced, arg_values, variables,
              read_values, upstream):
    """grad_fn called as TF calls it, its gradients checked: one per traced argument, then
    one per Variable, each of its input's shape (zeros for None)."""
    # As TF: one upstream gradient per flattened output (a nested or dict result too,
    # dicts in sorted key order), not the result's structure.
    spread = list(upstream)
    if variables:
        out = grad_fn(*spread, variables=variables)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError(
                f"custom_gradient {name!r}: the function reads Variables, so grad_fn must "
                f"return (input_gradients, variable_gradients); received "
                f"{type(out).__name__} {out!r}")
        input_grads, variable_grads = out
        variable_grads = jax.tree_util.tree_leaves(variable_grads, is_leaf=_is_leaf)
        if len(variable_grads) != len(variables):
            raise ValueError(
                f"custom_gradient {name!r}: grad_fn must return a gradient for each "
                f"variable: {len(variables)} expected ({[v.name for v in variables]}), "
                f"received {len(variable_grads)}")
    else:
        input_grads, variable_grads = grad_fn(*spread), []
    input_grads = jax.tree_util.tree_leaves(input_grads, is_leaf=_is_leaf)
    if len(input_grads) != len(arg_leaves):
        raise ValueError(
            f"custom_gradient {name!r}: grad_fn must return one gradient per argument "
            f"({len(arg_leaves)} expected, one for each flattened positional argument), "
            f"received {len(input_grads)}")
    checked = []
    for i, value in zip(traced, arg_values):
        checked.append(_checked(name, f"argument {i}", input_grads[i], value.shape,
                                value.dtype))
    for var, value, grad in zip(variables, read_values, variable_grads):
        checked.append(_checked(name, f"variable {var.name!r}", grad, jnp.shape(value),
                                jnp.result_type(value)))
    return checked


def _checked(name, what, grad, shape, dtype):
    if grad is None or not jnp.issubdtype(dtype, jnp.inexact):
        return jnp.zeros(shape, dtype if jnp.issubdtype(dtype, jnp.inexact) else jnp.float32)
    if isinstance(grad, Variable):
        grad = grad.value
    if not hasattr(grad, "shape") and not isinstance(grad, numbers.Number):
        raise TypeError(f"custom_gradient {name!r}: the gradient for {what} must be a "
                        f"tensor or None; received {type(grad).__name__} {grad!r}")
    grad = jnp.asarray(grad)
    if tuple(grad.shape) != tuple(shape):
        raise ValueError(f"custom_gradient {name!r}: grad_fn returned a gradient of shape "
                         f"{tuple(grad.shape)} for {what}, whose shape is {tuple(shape)}")
    return grad.astype(dtype)
