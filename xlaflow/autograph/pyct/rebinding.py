"""Rewriting method-call statements on a function's local names into rebindings.

`items.append(x)` and `tape.watch(y)` mutate an object behind a name; rewriting them to
assign the name (`items = ...`) makes the name part of the state AutoGraph carries through
branches and loops. Only names local to the function qualify: rebinding a global or a
closure variable would make it local.
"""

from __future__ import annotations

import ast

from xlaflow.autograph.pyct import analysis


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


def single_argument_call(node, method):
    """The call of `<expr>.method(arg)` an expression statement makes, or None."""
    call = node.value
    if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
            and call.func.attr == method and len(call.args) == 1 and not call.keywords
            and not isinstance(call.args[0], ast.Starred)):
        return call
    return None


class Rebinder(ast.NodeTransformer):
    """Visits one function's statements (each nested def with its own local names);
    subclasses define `rewrite(expr_statement, local_names)` returning a replacement or
    None."""

    def __init__(self, names):
        self.names = names

    @classmethod
    def transform(cls, node):
        visitor = cls(local_names(node))
        body = []
        for stmt in node.body:  # a rewritten statement may come back as a list of them
            new = visitor.visit(stmt)
            body.extend(new if isinstance(new, list) else [new])
        node.body = body
        return node

    def visit_Expr(self, node):
        return self.rewrite(node, self.names) or node

    def rewrite(self, node, names):
        raise NotImplementedError(f"{type(self).__name__} must define rewrite")

    def visit_FunctionDef(self, node):
        return type(self).transform(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        return node
