"""`f(a, *b, k=c, **d)` -> `ag__.converted_call(f, (a, *b), {'k': c, **d})`.

At run time `converted_call` converts user functions on first call and calls library code
(jax, numpy, the standard library, xlaflow) as it is; see operators/calls.py.
"""

from __future__ import annotations

import ast

from xlaflow.autograph.pyct import beside_loops, templates


def _is_generated(func):
    return isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and \
        func.value.id == "ag__"


# Calls that read the calling frame (its locals, globals or class cell) must stay in the
# user's frame: converted_call would run them in its own (as TF's AutoGraph, left as is).
_FRAME_READERS = {"eval", "exec", "locals", "globals", "vars", "dir", "super"}
_FRAME_ATTRIBUTES = {("sys", "_getframe"), ("inspect", "currentframe"), ("inspect", "stack")}


def _reads_frame(func):
    if isinstance(func, ast.Name):
        return func.id in _FRAME_READERS
    return isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and \
        (func.value.id, func.attr) in _FRAME_ATTRIBUTES


def _keywords(node):
    """The call's keywords as one dict expression. With `**` unpacking, a helper merges the
    parts and raises Python's TypeError for a repeated keyword (a dict literal would let the
    last one win silently)."""
    if not any(k.arg is None for k in node.keywords):
        return ast.Dict(keys=[ast.Constant(value=k.arg) for k in node.keywords],
                        values=[k.value for k in node.keywords])
    parts = [k.value if k.arg is None else
             ast.Dict(keys=[ast.Constant(value=k.arg)], values=[k.value])
             for k in node.keywords]
    return templates.replace_expr("ag__.merged_keywords(name, parts)", node,
                                  name=ast.Constant(value=ast.unparse(node.func)),
                                  parts=ast.Tuple(elts=parts, ctx=ast.Load()))


class _Calls(beside_loops.Transformer):
    def visit_Call(self, node):
        self.generic_visit(node)
        if _is_generated(node.func) or _reads_frame(node.func):
            return node
        args = ast.Tuple(elts=node.args, ctx=ast.Load())
        kwargs = _keywords(node) if node.keywords else ast.Constant(value=None)
        call = templates.replace_expr("ag__.converted_call(func, args, kwargs)", node,
                                      func=node.func, args=args, kwargs=kwargs)
        return call

    def visit_FunctionDef(self, node):
        # Decorators of nested functions run as written (they build the function object).
        node.body = [self.visit(s) for s in node.body]
        return node

    visit_AsyncFunctionDef = visit_FunctionDef


def transform(node):
    node.body = [_Calls().visit(s) for s in node.body]
    return node
