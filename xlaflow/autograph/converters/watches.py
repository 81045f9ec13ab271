"""`tape.watch(y)` -> `y = ag__.watch(tape, y)` for a local `y`.

Rebinding lets a gradient tape watch a tensor computed inside its own block: the tape
returns the tensor plus a zero input it can differentiate with respect to (see
xf.GradientTape._xf_watch). For any other object `ag__.watch` just calls `.watch(y)`.
"""

from __future__ import annotations

import ast

from xlaflow.autograph.converters.lists import local_names
from xlaflow.autograph.pyct import templates


class _Watches(ast.NodeTransformer):
    def __init__(self, names):
        self.names = names

    def visit_Expr(self, node):
        call = node.value
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and call.func.attr == "watch" and len(call.args) == 1 and not call.keywords
                and isinstance(call.args[0], ast.Name) and call.args[0].id in self.names):
            return templates.replace("target = ag__.watch(owner, target)", node,
                                     target=call.args[0].id, owner=call.func.value)
        return node

    def visit_FunctionDef(self, node):
        return transform(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        return node


def transform(node):
    visitor = _Watches(local_names(node))
    node.body = [visitor.visit(stmt) for stmt in node.body]
    return node
