"""`break`/`continue` -> flags: the rest of the body runs `if not flag`, loops test the flag.

After this pass a loop has no jumps left; `node.xf_stop_flags` lists the flags that end it
early (the control-flow pass adds `not flag` to its condition).
"""

from __future__ import annotations

import ast

from xlaflow.autograph.pyct import blocks, templates

_LOOPS = (ast.For, ast.While)


class _BreakContinue(ast.NodeTransformer):
    def __init__(self, namer):
        self.namer = namer

    def visit_FunctionDef(self, node):
        self.generic_visit(node)
        return node

    def _loop(self, node):
        self.generic_visit(node)  # inner loops first: their jumps are theirs
        before, after = [], []
        if blocks.contains(node.body, ast.Continue):
            flag = self.namer.new("continue_")
            body = blocks.guard(node.body, ast.Continue, flag, lambda j: templates.replace(
                "flag = True", j, flag=flag))
            node.body = templates.replace("flag = False", node, flag=flag) + body
        if blocks.contains(node.body, ast.Break):
            flag = self.namer.new("break_")
            node.body = blocks.guard(node.body, ast.Break, flag, lambda j: templates.replace(
                "flag = True", j, flag=flag))
            node.xf_stop_flags = [*getattr(node, "xf_stop_flags", []), flag]
            before = templates.replace("flag = False", node, flag=flag)
            if node.orelse:  # `else:` runs only when the loop was not broken out of
                after = templates.replace("if not flag:\n    orelse", node.orelse[0], flag=flag,
                                          orelse=node.orelse)
                node.orelse = []
        elif node.orelse:
            after, node.orelse = node.orelse, []
        return [*before, node, *after]

    visit_While = visit_For = _loop


def transform(node, namer):
    return _BreakContinue(namer).visit(node)
