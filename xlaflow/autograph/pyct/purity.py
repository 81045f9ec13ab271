"""Expressions that may be evaluated more often (or on another path) than the source says.

A pure expression only reads names and computes from them: no assignment (`:=`), no
lambda or comprehension, and calls only to the side-effect-free builtins a caller allows.
An attribute or subscript read may still run a property or `__getitem__` at trace time; as
in TF's AutoGraph, those are taken to be reads. What may iterate its operand is not: `in`
and a one-argument `min`/`max` consume an iterator, and a second run would see the rest.
A call through a module, `jnp.abs(v)` or `tf.reduce_any(v > t)`, is pure when the module
global resolves, at conversion, to a first-order array function of JAX's numpy, lax, nn,
scipy or random, of `math`, or of xlaflow's array modules (ops, array_ops, linalg, math,
nn_ops; see `pure_calls`): not one that takes a function (`fromfunction`, `cg`, a
parameter named like `fn`), draws random numbers from a global stream (`xf.nn.dropout`)
or sums an iterable (`math.fsum`, `math.prod`).
"""

from __future__ import annotations

import ast
import inspect
import types

_NODES = (ast.Name, ast.Constant, ast.Attribute, ast.Subscript, ast.Slice, ast.BinOp,
          ast.UnaryOp, ast.Compare, ast.Tuple, ast.expr_context, ast.operator, ast.unaryop,
          ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot)
_BOOL = (ast.BoolOp, ast.boolop)
# Builtins that read their arguments and nothing else (on numbers, tensors and sequences).
BUILTINS = frozenset({"len", "abs", "min", "max", "int", "float", "bool"})
_ITERATING = frozenset({"min", "max"})  # with one argument, they iterate over it


# Where array functions that compute only from their arguments live (by `__module__`)
_PURE_MODULES = ("jax.numpy", "jax._src.numpy", "jax.lax", "jax._src.lax", "jax.nn",
                 "jax._src.nn", "jax.scipy", "jax._src.scipy", "jax.random", "jax._src.random",
                 "xlaflow.ops", "xlaflow.array_ops", "xlaflow.linalg", "xlaflow.math",
                 "xlaflow.math_extra", "xlaflow.nn_ops", "math")
# ... but these take functions to call (unannotated), print, draw from a stateful
# generator (xf.nn.dropout: xf.random's global stream), or read and write files
_IMPURE_NAMES = frozenset({
    "print", "cond", "switch", "while_loop", "fori_loop", "scan", "map", "associative_scan",
    "custom_root", "custom_linear_solve", "reduce", "vectorize", "frompyfunc",
    "apply_along_axis", "apply_over_axes", "piecewise", "infeed", "outfeed", "load", "save",
    "savez", "savez_compressed", "loadtxt", "savetxt", "fromfile", "tofile", "genfromtxt",
    "cg", "gmres", "bicgstab", "rng_uniform", "dropout"})
# Parameter names that take a function to call where no annotation says so (TF's and
# xlaflow's own: tf.cond's true_fn, tf.map_fn's fn); not `f`, an array in jnp.gradient
_FUNCTION_PARAMETERS = frozenset({
    "fn", "func", "fun", "pyfunc", "callback", "body", "cond", "true_fn", "false_fn",
    "body_fn", "cond_fn", "map_fn", "loop_fn"})
# math's functions of an iterable: like a one-argument min/max, they consume an iterator
_ITERATING_MATH = frozenset({"fsum", "prod", "sumprod", "dist"})


def pure_calls(fn_node, module_globals, closure_names):
    """The dotted names (`jnp.linalg.norm`) `fn_node` calls that resolve, through module
    globals (not the closure's, which vary per closure of a code object), to pure array
    functions. Only module `__dict__`s are read: no property or lazy import runs."""
    return frozenset(path for path in call_paths(fn_node)
                     if _pure_function(resolve(path, module_globals, closure_names), path))


def call_paths(fn_node):
    """The dotted names `fn_node` calls through a name, but not through a global that it
    or a nested function declares (which may rebind it while the function runs)."""
    rebound = {name for node in ast.walk(fn_node) if isinstance(node, ast.Global)
               for name in node.names}
    paths = (dotted(node.func) for node in ast.walk(fn_node) if isinstance(node, ast.Call))
    return frozenset(path for path in paths if path is not None and "." in path and
                     path.split(".")[0] not in rebound)


def resolve(path, module_globals, closure_names=()):
    """What `path` names through `module_globals` and module `__dict__`s, else None."""
    root, *attrs = path.split(".")
    obj = module_globals.get(root) if root not in closure_names else None
    for attr in attrs:
        if not isinstance(obj, types.ModuleType):
            return None
        obj = vars(obj).get(attr)
    return obj


def _pure_function(obj, path):
    """Whether `obj`, called as `path`, is an array function of JAX, math or xlaflow's ops
    that runs no user code, keeps no state and consumes no iterator."""
    if getattr(obj, "_xf_op", None):  # xf.gather, xf.nn.relu: judged by the op underneath
        obj = obj.__wrapped__  # (the wrapper only checks for symbolic tensors, _op_dispatch)
    module = getattr(obj, "__module__", None) or ""
    name = getattr(obj, "__name__", "")
    return callable(obj) and not isinstance(obj, type) and \
        module.split(".")[0] in ("jax", "xlaflow", "math") and \
        any(module == m or module.startswith(m + ".") for m in _PURE_MODULES) and \
        path.split(".")[-1] not in _IMPURE_NAMES and name not in _IMPURE_NAMES and \
        not (module == "math" and name in _ITERATING_MATH) and not _takes_functions(obj)


def _takes_functions(obj):
    """Whether a public parameter of `obj` is annotated as a function (`fromfunction`,
    `reduce_window`, `minimize`, `pad`'s mode...) or named as one (`fn`, `true_fn`): it
    would run user code."""
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature take no functions
        return False
    return any(("Callable" in str(p.annotation) or p.name in _FUNCTION_PARAMETERS) and
               not p.name.startswith("_") for p in params)


def dotted(node):
    """`a.b.c` for an attribute chain on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def pure(expr, *, boolops=False, calls=frozenset(), shadowed=frozenset(),
         module_calls=frozenset(), local=frozenset()):
    """Whether `expr` is pure: `boolops` admits `and`/`or`, `calls` the builtin names that
    may be called (positional arguments only) unless the function binds them (`shadowed`),
    `module_calls` the dotted calls `pure_calls` found unless their root is `local`."""
    allowed = _NODES + _BOOL + (ast.keyword,) if boolops else _NODES + (ast.keyword,)
    for node in ast.walk(expr):
        if isinstance(node, ast.Call):
            func = node.func
            path = dotted(func) if isinstance(func, ast.Attribute) else None
            if path is not None and path in module_calls and \
                    path.split(".")[0] not in local and \
                    not any(isinstance(a, ast.Starred) for a in node.args) and \
                    all(k.arg is not None for k in node.keywords):
                continue
            if not (isinstance(func, ast.Name) and func.id in calls and
                    func.id not in shadowed and not node.keywords and
                    not any(isinstance(a, ast.Starred) for a in node.args) and
                    not (func.id in _ITERATING and len(node.args) < 2)):
                return False
        elif not isinstance(node, allowed):
            return False
    return True
