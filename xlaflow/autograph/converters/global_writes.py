"""Writes of globals in converted code go through ag__.global_value / global_aug.

A global rebound inside a tensor block would leak a tracer out of its trace; each write
is checked at run time, which refuses a tensor while a tensor block is being traced (the
control-flow converter applies this to the globals a function rebinds).
"""

from __future__ import annotations

import ast

from xlaflow.autograph.pyct import analysis, templates


def checked(stmts, names, function):
    """Each write of a global in `names` passes ag__.global_value, which refuses a tensor
    while a tensor block (of a caller, say) is traced: `G = v` checks v before binding it;
    other writes (`G += v`, `for G in ...`) check G right after."""
    out = []
    for stmt in stmts:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.append(stmt)
            continue
        for field in ("body", "orelse", "finalbody"):
            block = getattr(stmt, field, None)
            if isinstance(block, list) and block:
                setattr(stmt, field, checked(block, names, function))
        for handler in [*getattr(stmt, "handlers", []), *getattr(stmt, "cases", [])]:
            handler.body = checked(handler.body, names, function)
        targets = [stmt.target] if isinstance(stmt, (ast.For, ast.AsyncFor)) else [
            i.optional_vars for i in stmt.items if i.optional_vars is not None] if isinstance(
            stmt, (ast.With, ast.AsyncWith)) else None
        if targets is not None:  # bound on entry to the body: checked there
            written = sorted({n.id for t in targets for n in ast.walk(t)
                              if isinstance(n, ast.Name)} & names)
            stmt.body = [_global_check(n, function, stmt) for n in written] + stmt.body
            out.append(stmt)
            continue
        if isinstance(stmt, (ast.If, ast.While, ast.Match)):
            # `if (G := v):` binds G where the statement itself runs: checked after it
            header = stmt.test if not isinstance(stmt, ast.Match) else stmt.subject
            written = sorted({n.target.id for n in ast.walk(header)
                              if isinstance(n, ast.NamedExpr)} & names)
            out += [stmt, *[_global_check(n, function, stmt) for n in written]]
            continue
        if isinstance(stmt, ast.Try):
            out.append(stmt)
            continue
        written = sorted(set(analysis.writes([stmt])[0]) & names)
        if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name) and \
                stmt.target.id in names:  # checked before G is rebound
            out += templates.replace(
                "name = ag__.global_aug(label, op, name, value, function)", stmt,
                name=stmt.target.id, label=ast.Constant(value=stmt.target.id),
                op=ast.Constant(value="i" + _AUG_OPS[type(stmt.op)]), value=stmt.value,
                function=ast.Constant(value=function))
            continue
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(
                stmt.targets[0], ast.Name) and stmt.targets[0].id in names:
            stmt.value = templates.replace_expr(
                "ag__.global_value(name, value, function)", stmt, value=stmt.value,
                name=ast.Constant(value=stmt.targets[0].id),
                function=ast.Constant(value=function))
            out.append(stmt)
        else:
            out += [stmt, *[_global_check(n, function, stmt) for n in written]]
    return out


_AUG_OPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.MatMult: "matmul",
            ast.Div: "truediv", ast.FloorDiv: "floordiv", ast.Mod: "mod", ast.Pow: "pow",
            ast.LShift: "lshift", ast.RShift: "rshift", ast.BitOr: "or", ast.BitXor: "xor",
            ast.BitAnd: "and"}


def _global_check(name, function, origin):
    return templates.replace("ag__.global_value(label, name, function)", origin,
                             label=ast.Constant(value=name), name=name,
                             function=ast.Constant(value=function))[0]
