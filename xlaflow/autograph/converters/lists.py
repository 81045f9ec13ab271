"""`items.append(x)` -> `items = ag__.list_append(items, x)` for lists local to the function.

Rebinding makes the list part of the state of any loop or branch around it, so a tensor loop
can stack what was appended (TF's TensorArray pattern) instead of leaking traced values.
Lists the function reaches by closure or as globals are left alone: rebinding them would
make them local.
"""

from __future__ import annotations

import ast

from xlaflow.autograph.pyct import analysis, templates


class _Lists(ast.NodeTransformer):
    def __init__(self, local_names):
        self.local_names = local_names

    def visit_Expr(self, node):
        call = node.value
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and call.func.attr == "append" and isinstance(call.func.value, ast.Name)
                and call.func.value.id in self.local_names
                and len(call.args) == 1 and not call.keywords
                and not isinstance(call.args[0], ast.Starred)):
            target = call.func.value.id
            return templates.replace("target = ag__.list_append(target, item)", node,
                                     target=target, item=call.args[0])
        return node

    def visit_FunctionDef(self, node):
        return transform(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        return node


def local_names(node):
    """Parameters and names the function assigns (not declared global/nonlocal)."""
    args = node.args
    names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg,
                             args.kwarg] if a is not None}
    assigned, _ = analysis.writes(analysis.own_statements(node.body))
    declared = set()
    for stmt in analysis.own_statements(node.body):
        if isinstance(stmt, (ast.Global, ast.Nonlocal)):
            declared.update(stmt.names)
    return (names | set(assigned)) - declared


def transform(node):
    visitor = _Lists(local_names(node))
    node.body = [visitor.visit(stmt) for stmt in node.body]
    return node
