"""tf.cond and tf.while_loop: TF's functional control flow, run through the same operators
as AutoGraph's converted `if` and `while` (so a Python predicate runs in Python, a traced
one becomes lax.cond / lax.while_loop, and Variables assigned in a branch or body persist).
"""

from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow.autograph.operators import conditionals, loops
from xlaflow.autograph.operators.dispatch import is_traced
from xlaflow.autograph.operators.variables import Undefined
from xlaflow.errors import InvalidArgumentError
from xlaflow.tensor_array import TensorArray
from xlaflow.tensors import TensorSpec, as_dtype, constant, convert_preferred
from xlaflow.variables import Variable

_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def _user_line():
    """'file:line' of the user's call (the first frame outside xlaflow), for errors."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
    return "<unknown>" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _tensor(x):
    if isinstance(x, Variable):
        return x.value
    # TF's convert_to_tensor: a Python 0.0 is a float32 tensor, not JAX's weakly typed
    # scalar, which a lax loop or cond would silently promote to the body's dtype (a
    # bfloat16 body made a float32 carry bfloat16) and whose result then adopts the dtype
    # of whatever array it meets, where TF's tensor keeps (or refuses to mix) its own.
    return constant(x) if isinstance(x, (bool, int, float, complex, np.ndarray,
                                         np.generic)) else x


def _is_array(x):
    return isinstance(x, TensorArray)


def _no_gradient(value, back_prop):
    # TF 2's back_prop=False: stop_gradient on the loop's outputs (and JAX then never
    # needs to transpose the loop, so a tensor-bounded one may sit inside a tape)
    return value if back_prop else jax.tree_util.tree_map(jax.lax.stop_gradient, value)


def _structure(value):
    """`value`'s tree structure with lists read as tuples: TF's while_loop takes a list
    and a tuple for the same structure when it compares the body's output with loop_vars.
    A TensorArray is one node whatever its element shape, which its first write in the
    body may set (the loop then checks the shapes, naming the loop variable)."""
    def retuple(x):
        if isinstance(x, TensorArray):
            return {"TensorArray": None}
        if isinstance(x, list) or type(x) is tuple:
            return tuple(retuple(v) for v in x)
        if isinstance(x, dict):
            return {k: retuple(v) for k, v in x.items()}
        return x

    return jax.tree_util.tree_structure(retuple(value))


def _autographed(fn):
    """`fn` converted by AutoGraph when it is user code, as TF's map_fn converts its `fn`
    (autograph.tf_convert), so a Python `if` on an element works."""
    from xlaflow.config import flags
    if not flags.autograph:
        return fn
    from xlaflow.autograph.operators.calls import convertible
    converted = convertible(fn)
    return fn if converted is None else converted


def _tensors(value):
    """`value` with its Variables read and Python/NumPy values made tensors, as TF converts
    outputs, loop variables and scan carries: `lambda: v.assign_add(x)` gives the new
    value, a Python 0 an int32 tensor (never weakly typed)."""
    return jax.tree_util.tree_map(_tensor, value, is_leaf=lambda x: isinstance(x, Variable))


def cond(pred, true_fn=None, false_fn=None, name=None):
    """`true_fn()` if `pred` else `false_fn()`; a traced `pred` compiles both branches
    into one lax.cond, and their outputs must then match in structure, shape and dtype."""
    if not callable(true_fn) or not callable(false_fn):
        raise TypeError(f"cond: `true_fn` and `false_fn` must be callables, received "
                        f"true_fn={true_fn!r}, false_fn={false_fn!r}")
    if not is_traced(pred):
        return _tensors(true_fn() if bool(pred) else false_fn())
    out = [Undefined("the output of tf.cond")]

    def set_state(state):
        out[0] = state[0]

    def body():
        out[0] = _tensors(true_fn())

    def orelse():
        out[0] = _tensors(false_fn())

    conditionals.tensor_if(pred, body, orelse, lambda: (out[0],), set_state,
                           ("cond output",), 1, _user_line())
    return out[0]


def while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10,
               back_prop=True, swap_memory=False, maximum_iterations=None, name=None):
    """Repeat `loop_vars = body(*loop_vars)` while `cond(*loop_vars)`, at most
    `maximum_iterations` times; returns the final loop_vars in their structure (TF 2's
    return_same_structure). Traced conditions make it one lax.while_loop."""
    if not callable(cond) or not callable(body):
        raise TypeError(f"while_loop: `cond` and `body` must be callables, received "
                        f"cond={cond!r}, body={body!r}")
    if shape_invariants is not None:
        raise NotImplementedError(
            "while_loop: shape_invariants is not supported: XLA loop variables keep their "
            "shapes; preallocate the final shape (and fill it with .at[i].set) instead")
    spread = isinstance(loop_vars, (list, tuple))
    loop_vars = _tensors(loop_vars)
    state = [loop_vars]
    # a TensorArray is one loop variable (its buffer may be allocated by the first pass)
    leaves, tree = jax.tree_util.tree_flatten(loop_vars, is_leaf=_is_array)
    count = [0]

    def call(fn):
        return fn(*state[0]) if spread else fn(state[0])

    def get_state():
        return (*jax.tree_util.tree_leaves(state[0], is_leaf=_is_array), count[0])

    def set_state(values):
        state[0] = tree.unflatten(values[:-1])
        count[0] = values[-1]

    def test():
        if maximum_iterations is None:
            return call(cond)
        from xlaflow.autograph.operators import logical
        return logical.and_(count[0] < maximum_iterations, lambda: call(cond))

    def step():
        out = _tensors(call(body))
        if spread and len(leaves) == 1 and not isinstance(out, (list, tuple)):
            out = [out]  # `lambda i: i + 1` over [i]
        if _structure(out) != _structure(state[0]):
            raise ValueError(f"while_loop: `body` must return the structure of loop_vars "
                             f"({tree}), received {jax.tree_util.tree_structure(out)}")
        state[0] = tree.unflatten(jax.tree_util.tree_leaves(out, is_leaf=_is_array))
        count[0] = count[0] + 1

    names = tuple(f"loop_vars[{i}]" for i in range(len(leaves))) + ("iteration count",)
    where = _user_line()  # errors name the user's call, not this module
    if isinstance(maximum_iterations, int) and not isinstance(maximum_iterations, bool):
        # A Python bound: AutoGraph's `for _ in range(n): if not cond: break`, which stays
        # differentiable in reverse mode (as TF's bounded while loop under jit_compile)
        loops.for_stmt(range(maximum_iterations), lambda: call(cond), lambda _: step(),
                       get_state, set_state, names, len(names), where=where)
    else:
        loops.while_stmt(test, step, get_state, set_state, names, len(names), where=where)
    return _no_gradient(state[0], back_prop)


def map_fn(fn, elems, dtype=None, parallel_iterations=None, back_prop=True,
           swap_memory=False, infer_shape=True, name=None, fn_output_signature=None):
    """`fn` on each slice of `elems` (a tensor or a structure of them) along axis 0, the
    results stacked: one lax.map (a compiled loop), as TF's while loop.

    As in TF, `fn` returns the structure and dtypes of `elems` unless `fn_output_signature`
    (or its deprecated alias `dtype`: dtypes or TensorSpecs, nested) says otherwise; an
    output of another dtype raises (a Python number takes the dtype it should have)."""
    if not callable(fn):
        raise TypeError(f"map_fn: `fn` must be callable, received {fn!r}")
    if dtype is not None and fn_output_signature is not None:
        raise ValueError("map_fn: pass fn_output_signature or its deprecated alias dtype, "
                         f"not both; received dtype={dtype!r} and "
                         f"fn_output_signature={fn_output_signature!r}")
    signature = fn_output_signature if fn_output_signature is not None else dtype
    from xlaflow import ragged_array_ops

    if ragged_array_ops.has_ragged(elems) or ragged_array_ops.has_ragged(signature):
        # rows of different lengths: fn runs per row (ragged_array_ops.map_fn says when)
        return _no_gradient(ragged_array_ops.map_fn(_autographed(fn), elems, signature),
                            back_prop)
    elems = _tensors(elems)
    leaves, elems_tree = jax.tree_util.tree_flatten(elems)
    for k, leaf in enumerate(leaves):
        if jnp.ndim(leaf) == 0:  # fn maps slices along axis 0: a scalar has none
            where = "elems" if elems_tree.num_leaves == 1 and not elems_tree.children() \
                else f"elems[{k}]"
            raise ValueError(f"map_fn: elements in elems must be 1+ dimensional tensors, "
                             f"not scalars; {where} received shape ()")
    if signature is None:
        argument = "elems"  # no signature: fn keeps elems' structure and dtypes
        dtypes, structure = [jnp.dtype(leaf.dtype) for leaf in jax.tree_util.tree_leaves(
            elems)], jax.tree_util.tree_structure(elems)
    else:
        argument = "fn_output_signature"
        leaves, structure = jax.tree_util.tree_flatten(
            signature, is_leaf=lambda x: isinstance(x, TensorSpec))
        dtypes = [_signature_dtype(leaf) for leaf in leaves]
    mapped = _autographed(fn)

    def checked(element):
        # Variables read, Python numbers kept: convert_preferred gives them the expected
        # dtype, as TF's TensorArray write does (a Python 0 from fn fills a float32 map).
        out = jax.tree_util.tree_map(lambda v: v.value if isinstance(v, Variable) else v,
                                     mapped(element), is_leaf=lambda v: isinstance(v, Variable))
        leaves = jax.tree_util.tree_leaves(out)
        if _structure(out) != _structure(jax.tree_util.tree_unflatten(structure, dtypes)):
            raise ValueError(
                f"map_fn: `fn` returned {jax.tree_util.tree_structure(out)}, but the "
                f"structure of `{argument}` is {structure}; pass fn_output_signature= "
                "with fn's output structure (dtypes or xf.TensorSpec) when it differs "
                "from elems'")
        results = []
        for k, (leaf, want) in enumerate(zip(leaves, dtypes)):
            array, have = convert_preferred(leaf, want)
            if array is None:
                raise InvalidArgumentError(None, None, (
                    f"map_fn: `fn` returned dtype {have} for output {k}, but `{argument}` "
                    f"gives it dtype {want.name} (TF: \"TensorArray dtype is {want.name} "
                    f"but Op is trying to write dtype {have}\"); pass "
                    "fn_output_signature= with fn's output dtypes, or cast in fn"))
            results.append(array)
        return jax.tree_util.tree_unflatten(structure, results)

    return _no_gradient(jax.lax.map(checked, elems), back_prop)


def _signature_dtype(spec):
    """The dtype a leaf of fn_output_signature names (a dtype or a TensorSpec; TF, too,
    keeps only the dtype of a TensorSpec there)."""
    if isinstance(spec, TensorSpec):
        return spec.dtype
    try:
        return as_dtype(spec)
    except TypeError:
        raise TypeError(f"map_fn: fn_output_signature holds {spec!r}; expected dtypes or "
                        "xf.TensorSpec, nested as fn's outputs") from None


def vectorized_map(fn, elems, fallback_to_while_loop=True, warn=True):
    """`fn` on each slice of `elems` along axis 0, vectorized (jax.vmap: one batched
    computation, as TF's pfor)."""
    if not callable(fn):
        raise TypeError(f"vectorized_map: `fn` must be callable, received {fn!r}")
    return jax.vmap(_autographed(fn))(_tensors(elems))
