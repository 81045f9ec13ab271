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
    block calls a changing method on a name it does not assign (`names`), a call that adds
    those whose receiver is a built-in container when the statement runs."""
    found = {}
    for stmt in analysis.own_statements(stmts):
        for node, bound in _expressions(stmt):
            if isinstance(node, ast.Attribute) and node.attr in MUTATORS and isinstance(
                    node.value, ast.Name) and node.value.id not in names and \
                    node.value.id not in bound:
                found.setdefault(f"`{node.value.id}.{node.attr}(...)` at line {node.lineno} "
                                 f"(changes '{node.value.id}' in place)", node.value.id)
    constant = ast.Constant(value=tuple(static))
    if not found:
        return constant
    candidates = ast.Tuple(elts=[ast.Tuple(elts=[
        templates.replace_expr("lambda: receiver", origin, receiver=ast.Name(
            id=name, ctx=ast.Load())), ast.Constant(value=text)], ctx=ast.Load())
        for text, name in found.items()], ctx=ast.Load())
    return templates.replace_expr("ag__.in_place_changes(static, candidates)", origin,
                                  static=constant, candidates=candidates)
