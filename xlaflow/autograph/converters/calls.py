"""`f(a, *b, k=c, **d)` -> `ag__.converted_call(f, (a, *b), {'k': c, **d})`.

At run time `converted_call` converts user functions on first call and calls library code
(jax, numpy, the standard library, xlaflow) as it is; see operators/calls.py.
"""

from __future__ import annotations

import ast

from xlaflow.autograph.pyct import templates


def _is_generated(func):
    return isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and \
        func.value.id == "ag__"


class _Calls(ast.NodeTransformer):
    def visit_Call(self, node):
        self.generic_visit(node)
        if _is_generated(node.func):
            return node
        args = ast.Tuple(elts=node.args, ctx=ast.Load())
        if node.keywords:
            kwargs = ast.Dict(keys=[ast.Constant(value=k.arg) if k.arg else None
                                    for k in node.keywords],
                              values=[k.value for k in node.keywords])
        else:
            kwargs = ast.Constant(value=None)
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
