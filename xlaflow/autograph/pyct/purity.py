"""Expressions that may be evaluated more often (or on another path) than the source says.

A pure expression only reads names and computes from them: no assignment (`:=`), no
lambda or comprehension, and calls only to the side-effect-free builtins a caller allows.
An attribute or subscript read may still run a property or `__getitem__` at trace time; as
in TF's AutoGraph, those are taken to be reads. What may iterate its operand is not: `in`
and a one-argument `min`/`max` consume an iterator, and a second run would see the rest.
"""

from __future__ import annotations

import ast

_NODES = (ast.Name, ast.Constant, ast.Attribute, ast.Subscript, ast.Slice, ast.BinOp,
          ast.UnaryOp, ast.Compare, ast.Tuple, ast.expr_context, ast.operator, ast.unaryop,
          ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot)
_BOOL = (ast.BoolOp, ast.boolop)
# Builtins that read their arguments and nothing else (on numbers, tensors and sequences).
BUILTINS = frozenset({"len", "abs", "min", "max", "int", "float", "bool"})
_ITERATING = frozenset({"min", "max"})  # with one argument, they iterate over it


def pure(expr, *, boolops=False, calls=frozenset(), shadowed=frozenset()):
    """Whether `expr` is pure: `boolops` admits `and`/`or`, `calls` the builtin names that
    may be called (positional arguments only) unless the function binds them (`shadowed`)."""
    allowed = _NODES + _BOOL if boolops else _NODES
    for node in ast.walk(expr):
        if isinstance(node, ast.Call):
            func = node.func
            if not (isinstance(func, ast.Name) and func.id in calls and
                    func.id not in shadowed and not node.keywords and
                    not any(isinstance(a, ast.Starred) for a in node.args) and
                    not (func.id in _ITERATING and len(node.args) < 2)):
                return False
        elif not isinstance(node, allowed):
            return False
    return True
