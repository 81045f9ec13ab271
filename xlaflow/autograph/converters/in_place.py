"""In-place changes (`items.pop()`, `d.update(...)`) to a container from outside a block.

They are not state AutoGraph can carry: traced once, a tensor loop's body would change the
container once rather than once per iteration, and a tensor `if` would apply both branches'
changes. The block names them; the run-time operator refuses them if a tensor decides it.
"""

from __future__ import annotations

import ast

from xlaflow.autograph.pyct import analysis, templates

# Methods of list, dict, set, deque and bytearray that change the object itself. Other
# objects may share a name (an array's `.sort()` returns a copy): ag__.in_place_changes
# keeps only the receivers that are such containers when the block runs.
MUTATORS = frozenset({
    "append", "extend", "insert", "remove", "pop", "clear", "sort", "reverse",
    "popitem", "update", "setdefault", "add", "discard", "difference_update",
    "intersection_update", "symmetric_difference_update", "appendleft", "extendleft",
    "popleft", "rotate"})


_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _expressions(stmt):
    """(node, names bound around it by comprehensions) for the nodes of `stmt` itself: not
    its nested statements, lambdas or definitions. A comprehension's targets are its own
    names (`[d.pop() for d in rows]` changes no outer `d`), except in its first iterable,
    which runs in the enclosing scope."""
    stack = [(child, frozenset()) for child in ast.iter_child_nodes(stmt) if not isinstance(
        child, (ast.stmt, ast.excepthandler))]
    while stack:
        node, bound = stack.pop()
        yield node, bound
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, _COMPREHENSIONS):
            inner = bound | {n.id for g in node.generators for n in ast.walk(g.target)
                             if isinstance(n, ast.Name)}
            for i, generator in enumerate(node.generators):
                stack.append((generator.iter, bound if i == 0 else inner))
                stack.extend((part, inner) for part in generator.ifs)
            stack.extend((child, inner) for child in ast.iter_child_nodes(node)
                         if not isinstance(child, ast.comprehension))
            continue
        stack.extend((child, bound) for child in ast.iter_child_nodes(node))


def unsupported(stmts, names, static, origin):
    """The block's `unsupported` argument: the constant `static` descriptions, plus, when the
    block calls a changing method on a receiver it does not assign (a name, or an attribute
    or subscript chain such as `self.items` or `bag["k"]`), a call that adds those whose
    receiver is a built-in container when the statement runs."""
    composites = set(analysis.writes(stmts)[1])
    found = {}
    for stmt in analysis.own_statements(stmts):
        for node, bound in _expressions(stmt):
            if isinstance(node, ast.Attribute) and node.attr in MUTATORS and \
                    _outside(node.value, names, bound, composites):
                text = ast.unparse(node.value)
                found.setdefault(f"`{text}.{node.attr}(...)` at line {node.lineno} (changes "
                                 f"'{text}' in place)", node.value)
    constant = ast.Constant(value=tuple(static))
    if not found:
        return constant
    candidates = ast.Tuple(elts=[ast.Tuple(elts=[
        templates.replace_expr("lambda: receiver", origin, receiver=_load(receiver)),
        ast.Constant(value=text)], ctx=ast.Load()) for text, receiver in found.items()],
        ctx=ast.Load())
    return templates.replace_expr("ag__.in_place_changes(static, candidates)", origin,
                                  static=constant, candidates=candidates)


def _outside(receiver, names, bound, composites):
    """Whether `receiver` is a container from outside the block that reading it again
    before the block finds: a name, attributes and subscripts of one (no call, no slice,
    which make new objects) whose names the block does not bind and no part of which it
    assigns (`self.items = []` in the block makes a new list each time)."""
    chain = receiver
    while isinstance(chain, (ast.Attribute, ast.Subscript)):
        if analysis.composite_name(chain) in composites:
            return False
        chain = chain.value
    if not isinstance(chain, ast.Name):
        return False
    for node in ast.walk(receiver):
        if isinstance(node, ast.Name) and (node.id in names or node.id in bound):
            return False
        if not isinstance(node, (ast.Name, ast.Attribute, ast.Subscript, ast.Constant,
                                 ast.Tuple, ast.UnaryOp, ast.USub, ast.expr_context)):
            return False
    return True


def _load(receiver):
    """A copy of `receiver` that reads (it may come from a load already, but may be shared)."""
    copy = ast.parse(ast.unparse(receiver), mode="eval").body
    return ast.copy_location(copy, receiver)
