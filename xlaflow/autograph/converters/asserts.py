"""`assert test, msg` -> `ag__.assert_stmt(test, lambda: msg)`: a tensor test checks at run time."""

from __future__ import annotations

import ast

from xlaflow.autograph.pyct import templates


class _Asserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        message = node.msg if node.msg is not None else ast.Constant(value=None)
        return templates.replace("ag__.assert_stmt(test, lambda: message)", node,
                                 test=node.test, message=message)


def transform(node):
    return _Asserts().visit(node)
