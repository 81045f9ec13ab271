"""Rewriting a jump (break, continue, return) into a flag plus guards on what follows it."""

from __future__ import annotations

import ast

from xlaflow.autograph.pyct import templates

_LOOPS = (ast.For, ast.While, ast.AsyncFor)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def contains(stmts, kind, through_loops=False):
    """Whether `stmts` contain a `kind` statement belonging to them (not to a nested scope,
    nor to a nested loop's body unless `through_loops`: its `else:` jumps for the outer)."""
    for stmt in stmts:
        if isinstance(stmt, kind):
            return True
        if isinstance(stmt, _SCOPES):
            continue
        if isinstance(stmt, _LOOPS) and not through_loops:
            if contains(stmt.orelse, kind):
                return True
            continue
        for block in _sub_blocks(stmt):
            if contains(block, kind, through_loops):
                return True
    return False


def _sub_blocks(stmt):
    blocks = [getattr(stmt, f) for f in ("body", "orelse", "finalbody")
              if isinstance(getattr(stmt, f, None), list)]
    blocks += [h.body for h in getattr(stmt, "handlers", [])]
    blocks += [c.body for c in getattr(stmt, "cases", [])]
    return blocks


def guard(stmts, kind, flag, on_jump, through_loops=False):
    """Replace each `kind` jump in `stmts` by `on_jump(node)` statements, and run what follows
    a statement that may jump only `if not flag`."""
    out = []
    for i, stmt in enumerate(stmts):
        if isinstance(stmt, kind):
            out.extend(on_jump(stmt))
            return out  # anything after the jump is unreachable
        may_jump = contains([stmt], kind, through_loops)
        if may_jump:
            _rewrite_nested(stmt, kind, flag, on_jump, through_loops)
        out.append(stmt)
        if may_jump and i + 1 < len(stmts):
            rest = guard(stmts[i + 1:], kind, flag, on_jump, through_loops)
            out.extend(templates.replace("if not flag:\n    rest", stmts[i + 1], flag=flag,
                                         rest=rest))
            return out
    return out


def _rewrite_nested(stmt, kind, flag, on_jump, through_loops):
    for field in ("body", "orelse", "finalbody"):
        block = getattr(stmt, field, None)
        if isinstance(block, list) and block and (through_loops or not isinstance(
                stmt, _LOOPS) or field == "orelse"):
            setattr(stmt, field, guard(block, kind, flag, on_jump, through_loops) or
                    [ast.copy_location(ast.Pass(), stmt)])
    for handler in [*getattr(stmt, "handlers", []), *getattr(stmt, "cases", [])]:
        handler.body = guard(handler.body, kind, flag, on_jump, through_loops) or [ast.Pass()]
