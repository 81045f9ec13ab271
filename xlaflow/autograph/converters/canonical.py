"""Canonicalize a parsed function before the other passes.

Defaults and annotations are dropped from the `def` (the converted function receives the
original's `__defaults__`, so their expressions are not evaluated twice), and zero-argument
`super()` becomes `super(__class__, <first argument>)`, because the converted function is
compiled outside its class body.
"""

from __future__ import annotations

import ast


def transform(node):
    node.args.defaults = []
    node.args.kw_defaults = [None] * len(node.args.kwonlyargs)
    node.returns = None
    for arg in _all_args(node.args):
        arg.annotation = None
    first = (node.args.posonlyargs + node.args.args)[:1]
    if first:
        rewriter = _SuperRewriter(first[0].arg)
        node.body = [rewriter.visit(stmt) for stmt in node.body]
    return node


def _all_args(args):
    return [a for a in [*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg]
            if a is not None]


class _SuperRewriter(ast.NodeTransformer):
    def __init__(self, first_arg):
        self.first_arg = first_arg

    def visit_Call(self, node):
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "super" and not node.args \
                and not node.keywords:
            node.args = [ast.copy_location(ast.Name(id="__class__", ctx=ast.Load()), node),
                         ast.copy_location(ast.Name(id=self.first_arg, ctx=ast.Load()), node)]
        return node

    def visit_FunctionDef(self, node):
        return node  # a nested def has its own first argument

    visit_AsyncFunctionDef = visit_Lambda = visit_ClassDef = visit_FunctionDef
