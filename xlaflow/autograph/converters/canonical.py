"""Canonicalize a parsed function before the other passes.

Defaults and annotations are dropped from the `def` (the converted function receives the
original's `__defaults__`, so their expressions are not evaluated twice), and zero-argument
`super()` becomes `super(__class__, <first argument>)`, because the converted function is
compiled outside its class body.

Annotated assignments in the body become plain ones, and bare declarations (`k: int`) move
to the top of the function: an annotation is never evaluated in a function, but an annotated
name cannot be `nonlocal`, which the branch and loop functions of later passes declare.
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
    annotations = _Annotations()
    node.body = [annotations.visit(stmt) for stmt in node.body]
    # A declaration still makes the name local to the whole function (reading it unbound
    # raises UnboundLocalError, not a global's NameError), wherever it stood.
    docstring = node.body[:1] if node.body and isinstance(node.body[0], ast.Expr) and \
        isinstance(node.body[0].value, ast.Constant) and isinstance(node.body[0].value.value,
                                                                    str) else []
    node.body = docstring + annotations.declarations + node.body[len(docstring):]
    return node


class _Annotations(ast.NodeTransformer):
    def __init__(self):
        self.declarations = []

    def visit_AnnAssign(self, node):
        if node.value is not None:
            return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)
        if isinstance(node.target, ast.Name):
            self.declarations.append(node)
            return ast.copy_location(ast.Pass(), node)
        return node  # `obj.attr: T` binds nothing (and evaluates `obj`, as it still does)

    def visit_FunctionDef(self, node):
        return node  # a nested def's annotations are its own

    visit_AsyncFunctionDef = visit_Lambda = visit_ClassDef = visit_FunctionDef


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
