"""A transformer that also visits the exit tests loop_exits.py keeps beside a `for` loop.

Those tests (`xf_stop_tests`, `xf_stop_on`) were hoisted out of the loop's body and are
not children of the tree, so a plain NodeTransformer would leave them unconverted.
"""

from __future__ import annotations

import ast


class Transformer(ast.NodeTransformer):
    def visit_For(self, node):
        self.generic_visit(node)
        if hasattr(node, "xf_stop_tests"):
            node.xf_stop_tests = [self.visit(test) for test in node.xf_stop_tests]
        if hasattr(node, "xf_stop_on"):
            test, record = node.xf_stop_on
            node.xf_stop_on = (self.visit(test), record)
        return node
