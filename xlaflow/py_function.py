"""tf.py_function and tf.numpy_function: run a Python function on tensor values, eagerly
or, inside compiled code, as a host callback each time the program runs.

TF lets such outputs have unknown shapes; XLA needs every shape when it compiles. So:
  * eagerly (no traced input) `func` simply runs, and `Tout` may be plain dtypes;
  * traced (inside xf.function or jax.jit) each output must be given as
    `xf.TensorSpec(shape, dtype)` with every dimension known; a bare dtype is an error that
    says so. (Running `func` at trace time to learn the shapes would repeat its side
    effects, and its shapes may depend on the values, so xlaflow does not guess.)
Stateful functions (py_function always; numpy_function by default) run through
jax.experimental.io_callback, which XLA never drops or duplicates; `stateful=False`
uses jax.pure_callback, which it may. Under vmap (xf.vectorized_map) func runs once per
element, as TF's vectorized_map falls back to a loop for them. Neither is differentiable
(TF's py_function is): a gradient that reaches one raises NotImplementedError.
An exception in `func` under xf.function is raised by the xf.function call, before any
Variable is written, on every backend (see _runtime_checks.deferring_errors).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap
from jax.experimental import io_callback

from xlaflow import _host_callbacks, _runtime_checks
from xlaflow.tensors import TensorSpec, as_dtype, is_string_dtype
from xlaflow.variables import Variable


def _outputs(Tout, api):
    """[(dtype, shape or None)] for each output, and whether Tout was a single entry."""
    single = not isinstance(Tout, (list, tuple))
    specs = []
    for entry in [Tout] if single else Tout:
        if isinstance(entry, TensorSpec):
            specs.append((entry.dtype, entry.shape))
            continue
        if entry is None:  # jnp.dtype(None) would read it as float64
            raise TypeError(f"{api}: Tout must be a dtype, an xf.TensorSpec, or a list of "
                            f"them; received None (for a func that returns nothing, pass "
                            f"Tout=[])")
        if is_string_dtype(entry):
            specs.append((np.dtype(object), None))
            continue
        try:
            specs.append((as_dtype(entry), None))
        except TypeError as e:
            raise TypeError(f"{api}: Tout must be a dtype, an xf.TensorSpec, or a list of "
                            f"them; received {entry!r}") from e
    return specs, single


def _is_text(value):
    return isinstance(value, (str, bytes)) or (
        isinstance(value, np.ndarray) and value.dtype.kind in "USO")


def _as_result(value, dtype, shape, api, index):
    if is_string_dtype(dtype):
        # host text stays on the host (XLA holds no strings): bytes in an object array,
        # so binary results (a serialized tf.train.Example) keep every byte
        out = np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=object)
    else:
        out = np.asarray(value, dtype=dtype)
    if shape is not None and (len(shape) != out.ndim or any(
            want is not None and want != have for want, have in zip(shape, out.shape))):
        raise ValueError(f"{api}: output {index} has shape {out.shape}, but Tout gives "
                         f"{shape}")
    return out


def _run(func, args, specs, api, to_arg):
    results = func(*[to_arg(a) for a in args])
    if not specs:
        return []
    if len(specs) == 1 and not isinstance(results, (list, tuple)):
        results = [results]
    if not isinstance(results, (list, tuple)) or len(results) != len(specs):
        count = len(results) if isinstance(results, (list, tuple)) else 1
        raise ValueError(f"{api}: func returned {count} value(s) but Tout lists "
                         f"{len(specs)}")
    return [_as_result(r, dtype, shape, api, i)
            for i, (r, (dtype, shape)) in enumerate(zip(results, specs))]


def _call(func, inp, Tout, stateful, api, to_arg):
    if not callable(func):
        raise TypeError(f"{api}: func must be callable; received {func!r}")
    args = list(inp) if isinstance(inp, (list, tuple)) else [inp]
    args = [a.value if isinstance(a, Variable) else a for a in args]
    specs, single = _outputs(Tout, api)
    traced = any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(args))
    if not traced:
        # eagerly, host text (a string element of a Dataset.map) is passed and returned as
        # it is: it has no jax form
        from xlaflow.data.host_tensor import HostTensor  # xf.data loads on first use
        outs = [r.view(HostTensor) if r.dtype.kind in "USO" else jnp.asarray(r) for r in
                _run(func, args, specs, api, lambda a: a if _is_text(a) else to_arg(a))]
    else:
        _host_callbacks.refuse(f"{api} (func {getattr(func, '__name__', func)!r})",
                               f"compute with xf/jnp operations instead of {api} in the "
                               "exported function")
        unknown = [i for i, (_, shape) in enumerate(specs)
                   if shape is None or any(d is None for d in shape)]
        if unknown:
            raise TypeError(
                f"{api}: inside compiled code every output needs a known shape, and output(s)"
                f" {unknown} of Tout={Tout!r} have none; give each as xf.TensorSpec(shape, "
                f"dtype) with every dimension known, e.g. Tout=xf.TensorSpec([3], "
                f"xf.float32), or call {api} outside xf.function")
        result_shapes = [jax.ShapeDtypeStruct(shape, dtype) for dtype, shape in specs]

        def stand_in():
            return [np.zeros(shape, dtype) for dtype, shape in specs]

        host = _runtime_checks.deferring_errors(
            lambda *values: _run(func, values, specs, api, to_arg), stand_in)
        passed = _runtime_checks.passed_so_far()
        operands = [jnp.asarray(a) for a in args]
        if passed is not None:  # an earlier check failed: TF never reaches this op
            ungated = host
            host = lambda ok, *values: ungated(*values) if bool(ok) else stand_in()
            operands = [passed, *operands]

        @custom_vmap
        def run_host(*values):
            if stateful:
                return io_callback(host, result_shapes, *values, ordered=True)
            return jax.pure_callback(host, result_shapes, *values)

        @run_host.def_vmap
        def _one_element_at_a_time(axis_size, in_batched, *values):
            # XLA cannot batch host code (and refuses to vmap an ordered callback); TF's
            # vectorized_map falls back to a loop for a py_function, and so does this
            values = [v if batched else jnp.broadcast_to(v, (axis_size, *jnp.shape(v)))
                      for v, batched in zip(values, in_batched)]
            outs = jax.lax.map(lambda row: run_host(*row), values)
            return outs, [True] * len(outs)

        @jax.custom_jvp
        def callback(*values):
            return run_host(*values)

        @callback.defjvp
        def _no_derivative(primals, tangents):
            # only reached when a gradient flows into the call (unconnected inputs skip it)
            raise NotImplementedError(
                f"{api}: gradients through a Python function are not supported (XLA cannot "
                f"differentiate host code); write it with xf/jnp ops, or give it a gradient "
                f"with xf.custom_gradient")

        outs = list(callback(*operands))
    if single:
        return outs[0]
    return outs


def _call_or_decorate(func, inp, Tout, stateful, api, to_arg):
    """TF 2.14's two forms: `api(func, inp, Tout)` calls `func(*inp)`, and `api(Tout=...)`
    (no func, no inp) is a decorator whose function's positional arguments are the inp."""
    if Tout is None:
        raise TypeError(f"{api}: Tout must be a dtype, an xf.TensorSpec, or a list of them; "
                        f"received None (missing: as a decorator write "
                        f"@xf.{api}(Tout=xf.float32); for a func that returns nothing, pass "
                        f"Tout=[])")
    if func is None:
        if inp is not None:
            raise TypeError(f"{api}: don't set `inp` when using {api} as a decorator "
                            f"(func=None): the decorated function's arguments are its "
                            f"inputs; received inp={inp!r}")

        def decorator(fn):
            if not callable(fn):
                raise TypeError(f"{api}: the decorated object must be callable; received "
                                f"{fn!r}")

            @functools.wraps(fn)
            def wrapper(*args, **kwargs):
                if kwargs:
                    raise TypeError(f"{api}: a decorated function takes its inputs "
                                    f"positionally, as TF's; received keyword argument(s) "
                                    f"{sorted(kwargs)}")
                return _call(fn, list(args), Tout, stateful, api, to_arg)
            return wrapper
        return decorator
    if inp is None:
        raise TypeError(f"{api}: missing required argument inp (the list of inputs to "
                        f"func); to use {api} as a decorator pass only Tout (and name)")
    return _call(func, inp, Tout, stateful, api, to_arg)


def py_function(func=None, inp=None, Tout=None, name=None):
    """`func(*inp)` on tensors (jax arrays), its results converted to `Tout`'s dtypes; a
    single Tout gives one tensor, a list of them a list. `@py_function(Tout=...)` decorates
    a function so that it always runs this way."""
    return _call_or_decorate(func, inp, Tout, True, "py_function", jnp.asarray)


def numpy_function(func=None, inp=None, Tout=None, stateful=True, name=None):
    """`func(*inp)` on NumPy arrays, its results converted to `Tout`'s dtypes; see the
    module docstring for shapes under compilation and what `stateful` changes. Also a
    decorator: `@numpy_function(Tout=...)`."""
    return _call_or_decorate(func, inp, Tout, stateful, "numpy_function", np.asarray)
