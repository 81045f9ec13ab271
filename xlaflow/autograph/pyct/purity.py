"""Expressions that may be evaluated more often (or on another path) than the source says.

A pure expression only reads names and computes from them: no assignment (`:=`), no
lambda or comprehension, and calls only to the side-effect-free builtins a caller allows.
An attribute or subscript read may still run a property or `__getitem__` at trace time; as
in TF's AutoGraph, those are taken to be reads. What may iterate its operand is not: `in`
and a one-argument `min`/`max` consume an iterator, and a second run would see the rest.
A call through a module, `jnp.abs(v)` or `tf.reduce_any(v > t)`, is pure when the module
global resolves, at conversion, to a first-order array function of JAX's numpy, lax, nn,
scipy or random, of `math`, or of xlaflow's ops (see `pure_calls`).
"""

from __future__ import annotations

import ast
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
                 "xlaflow.ops", "math")
# ... but these take functions to call, print, or read and write files
_IMPURE_NAMES = frozenset({
    "print", "cond", "switch", "while_loop", "fori_loop", "scan", "map", "associative_scan",
    "custom_root", "custom_linear_solve", "reduce", "vectorize", "frompyfunc",
    "apply_along_axis", "apply_over_axes", "piecewise", "infeed", "outfeed", "load", "save",
    "savez", "savez_compressed", "loadtxt", "savetxt", "fromfile", "tofile", "genfromtxt"})


def pure_calls(fn_node, module_globals, closure_names):
    """The dotted names (`jnp.linalg.norm`) `fn_node` calls that resolve, through module
    globals (not the closure's, which vary per closure of a code object), to pure array
    functions. Only module `__dict__`s are read: no property or lazy import runs."""
    found = set()
    for node in ast.walk(fn_node):
        if not isinstance(node, ast.Call):
            continue
        path = dotted(node.func)
        if path is None or "." not in path:
            continue
        root, *attrs = path.split(".")
        obj = module_globals.get(root) if root not in closure_names else None
        for attr in attrs:
            if not isinstance(obj, types.ModuleType):
                obj = None
                break
            obj = vars(obj).get(attr)
        module = getattr(obj, "__module__", None) or ""
        if callable(obj) and not isinstance(obj, type) and \
                module.split(".")[0] in ("jax", "xlaflow", "math") and \
                any(module == m or module.startswith(m + ".") for m in _PURE_MODULES) and \
                attrs[-1] not in _IMPURE_NAMES and \
                getattr(obj, "__name__", "") not in _IMPURE_NAMES:
            found.add(path)
    return frozenset(found)


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
