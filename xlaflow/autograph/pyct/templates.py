"""Build AST from code templates: parse a snippet, then substitute names with nodes.

Template nodes take the source position of the user statement they stand for (`origin`),
so tracebacks through generated code point at the user's line; substituted user nodes keep
their own positions.
"""

from __future__ import annotations

import ast
import copy
import textwrap


class _Substitute(ast.NodeTransformer):
    def __init__(self, replacements):
        self.replacements = replacements

    def visit_Name(self, node):
        if node.id not in self.replacements:
            return node
        value = self.replacements[node.id]
        if isinstance(value, str):
            return ast.copy_location(ast.Name(id=value, ctx=node.ctx), node)
        if isinstance(value, ast.expr):
            return _with_ctx(copy.deepcopy(value), node.ctx)
        raise TypeError(f"template placeholder {node.id!r} used as an expression")

    def visit_FunctionDef(self, node):
        node.name = self.replacements.get(node.name, node.name)
        self.generic_visit(node)
        return node

    def visit_arg(self, node):
        node.arg = self.replacements.get(node.arg, node.arg)
        return node

    def visit_Nonlocal(self, node):
        return _expand_names(node, self.replacements)

    def visit_Global(self, node):
        return _expand_names(node, self.replacements)

    def visit_Expr(self, node):
        # A placeholder standing alone as a statement stands for a list of statements.
        if isinstance(node.value, ast.Name) and isinstance(
                self.replacements.get(node.value.id), list):
            return self.replacements[node.value.id] or [ast.copy_location(ast.Pass(), node)]
        self.generic_visit(node)
        return node


def _expand_names(node, replacements):
    names = []
    for name in node.names:
        value = replacements.get(name, name)
        names.extend(value if isinstance(value, list) else [value])
    if not names:
        return []  # an empty declaration disappears from the body
    node.names = names
    return node


def _with_ctx(node, ctx):
    if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript, ast.Starred, ast.Tuple,
                         ast.List)):
        node.ctx = type(ctx)()
    if isinstance(node, (ast.Tuple, ast.List)):
        for elt in node.elts:
            _with_ctx(elt, ctx)
    return node


def _locate(tree, origin):
    line, end_line, col, end_col = _span(origin)
    for child in ast.walk(tree):
        if "lineno" in child._attributes:
            child.lineno, child.end_lineno = line, end_line
            child.col_offset, child.end_col_offset = col, end_col


def _span(origin):
    """Where generated code for `origin` claims to be. A compound statement claims only its
    header line: CPython reports a call spanning several lines at the line where its callee
    expression ends, so `ag__.while_stmt(...)` spanning the whole loop showed the loop's
    last line in tracebacks instead of the `while`."""
    line = getattr(origin, "lineno", None) or 1
    col = getattr(origin, "col_offset", 0)
    if not hasattr(origin, "body"):
        return (line, getattr(origin, "end_lineno", None) or line, col,
                getattr(origin, "end_col_offset", None) or 0)
    heads = [getattr(origin, "test", None), getattr(origin, "iter", None),
             *(item.context_expr for item in getattr(origin, "items", []))]
    ends = [h.end_col_offset for h in heads if h is not None and h.end_lineno == line]
    return line, line, col, max(ends, default=col + 1)


def replace(template, origin, **replacements):
    """Statements from `template`, placed at `origin`'s line, with placeholders replaced.

    A replacement is a new name (str), an expression node, a list of names (in
    `nonlocal`/`global`), or, for a placeholder standing alone as a statement, a list of
    statements.
    """
    tree = ast.parse(textwrap.dedent(template))
    _locate(tree, origin)
    tree = _Substitute(replacements).visit(tree)
    body = []
    for stmt in tree.body:
        body.extend(stmt if isinstance(stmt, list) else [stmt])
    return body


def replace_expr(template, origin, **replacements):
    """One expression from `template` with placeholders replaced."""
    return replace(template, origin, **replacements)[0].value


def name(identifier, origin, store=False):
    node = ast.Name(id=identifier, ctx=ast.Store() if store else ast.Load())
    return ast.copy_location(node, origin)
