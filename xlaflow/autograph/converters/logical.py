"""`and`/`or`/`not` and `a if c else b` -> ag__ operators that stay lazy like Python and
become XLA select/cond when a traced tensor decides."""

from __future__ import annotations

import ast
import copy

from xlaflow.autograph.pyct import templates


def _binds(node):
    """Whether `node` contains a walrus: wrapped in a lambda it would bind there instead."""
    return any(isinstance(n, ast.NamedExpr) for n in ast.walk(node))


class _Logical(ast.NodeTransformer):
    # An operand with `:=` stays plain Python (a lambda would bind the name inside itself);
    # its truth tests then refuse a tensor with an error saying what to write instead.
    def visit_BoolOp(self, node):
        self.generic_visit(node)
        if any(_binds(v) for v in node.values[1:]):
            node.values[:-1] = [_python_test(v) for v in node.values[:-1]]
            return node
        op = "and_" if isinstance(node.op, ast.And) else "or_"
        first, *rest = node.values
        lazies = [ast.copy_location(ast.Lambda(args=_no_args(), body=v), v) for v in rest]
        call = templates.replace_expr(f"ag__.{op}(first)", node, first=first)
        call.args.extend(lazies)
        return call

    def visit_Compare(self, node):
        # `a < b < c` tests `a < b` for truth in Python: as `(a < b) and (b < c)` a tensor
        # comparison combines lazily instead. Names, constants and attribute chains as middle
        # operands are repeated (evaluating them twice changes nothing): the plain `and`.
        self.generic_visit(node)
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn)):
            # `x in (1, 2)` tests `x == 1` for truth in Python; ag__.in_ combines tensors
            call = templates.replace_expr("ag__.in_(a, b)", node, a=node.left,
                                          b=node.comparators[0])
            return call if isinstance(node.ops[0], ast.In) else templates.replace_expr(
                "ag__.not_(x)", node, x=call)
        if len(node.ops) < 2 or any(_binds(c) for c in node.comparators):
            return node
        if not all(_plain(c) for c in node.comparators[:-1]):
            # Other middle operands are evaluated once each, lazily: ag__.compare_chain
            call = templates.replace_expr("ag__.compare_chain(left, ops)", node,
                                          left=node.left, ops=ast.Tuple(elts=[
                                              ast.Constant(type(op).__name__)
                                              for op in node.ops], ctx=ast.Load()))
            call.args.extend(ast.copy_location(ast.Lambda(args=_no_args(), body=c), c)
                             for c in node.comparators)
            return call
        operands = [node.left, *node.comparators]
        pairs = [ast.copy_location(ast.Compare(left=copy.deepcopy(operands[i]), ops=[op],
                                               comparators=[copy.deepcopy(operands[i + 1])]),
                                   node)
                 for i, op in enumerate(node.ops)]
        return self.visit_BoolOp(ast.copy_location(ast.BoolOp(op=ast.And(), values=pairs),
                                                   node))

    def visit_ListComp(self, node):
        # Each `if` clause is a Python truth test deciding which items exist: a tensor there
        # gets an error saying to select with jnp.where (operators/logical.py).
        self.generic_visit(node)
        kind = _COMPREHENSIONS[type(node)]
        for generator in node.generators:
            generator.ifs = [templates.replace_expr("ag__.comprehension_test(x, kind)", test,
                                                    x=test, kind=ast.Constant(kind))
                             for test in generator.ifs]
        return node

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            return templates.replace_expr("ag__.not_(x)", node, x=node.operand)
        return node

    def visit_IfExp(self, node):
        self.generic_visit(node)
        if _binds(node.body) or _binds(node.orelse):
            node.test = _python_test(node.test)
            return node
        return templates.replace_expr("ag__.if_exp(test, lambda: body, lambda: orelse)", node,
                                      test=node.test, body=node.body, orelse=node.orelse)


_COMPREHENSIONS = {ast.ListComp: "list comprehension", ast.SetComp: "set comprehension",
                   ast.DictComp: "dict comprehension", ast.GeneratorExp: "generator expression"}


def _plain(node):
    return isinstance(node, (ast.Name, ast.Constant)) or (
        isinstance(node, ast.Attribute) and _plain(node.value))


def _python_test(expr):
    return templates.replace_expr("ag__.python_test(x)", expr, x=expr)


def _no_args():
    return ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[],
                         kwarg=None, defaults=[])


def transform(node):
    return _Logical().visit(node)
