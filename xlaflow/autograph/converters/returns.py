"""`return` inside if/loops -> `do_return`/`retval_` flags and guards, one exit at the end.

When one branch of an `if` always returns, the statements after the `if` move into the
other branch instead of behind a guard: the common `if c: return a` / `return b` shape then
becomes a plain two-branch conditional whose branches both define the return value.

A final `return e` after a statement that may return (a loop with an early `return`)
becomes `retval = e if not do_return else retval` (`select_return`) rather than a guarded
block: a select instead of a lax.cond when `e` is cheap, which XLA compiles faster.
"""

from __future__ import annotations

import ast

from xlaflow.autograph.pyct import analysis, blocks, purity, scopes, templates

_NESTED = (ast.If, ast.For, ast.While, ast.With, ast.Try, ast.Match)


def _always_returns(stmts):
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, (ast.Return, ast.Raise)):
        return True
    if isinstance(last, ast.While) and isinstance(last.test, ast.Constant) and \
            last.test.value and not blocks.contains(last.body, ast.Break) and \
            not getattr(last, "xf_stop_flags", None):  # breaks are flags by now
        return True  # `while True:` without a break leaves only by return or raise
    if isinstance(last, ast.With):
        return _always_returns(last.body)
    if isinstance(last, ast.Try):
        # the end is reached past `finally` when the body (then `else`) or a handler ends
        return _always_returns(last.finalbody) or (
            (_always_returns(last.body) or _always_returns(last.orelse)) and
            all(_always_returns(h.body) for h in last.handlers))
    if isinstance(last, ast.Match):
        return bool(last.cases) and _irrefutable(last.cases[-1]) and all(
            _always_returns(c.body) for c in last.cases)
    return isinstance(last, ast.If) and _always_returns(last.body) and \
        _always_returns(last.orelse)


def _irrefutable(case):
    """`case _:` or `case name:` without a guard: every subject matches."""
    pattern = case.pattern
    while isinstance(pattern, ast.MatchAs) and pattern.pattern is not None:
        pattern = pattern.pattern
    return case.guard is None and isinstance(pattern, ast.MatchAs)


def _returns_only_none(body):
    """Whether every `return` of this function (not of the functions it defines) is a bare
    `return` or `return None`."""
    todo = list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):
            return False
        todo.extend(ast.iter_child_nodes(node))
    return True


def _needs_conversion(body):
    return any(isinstance(s, _NESTED) and blocks.contains([s], ast.Return, through_loops=True)
               for s in body)


class _Returns:
    def __init__(self, do_return, retval, params, assigned, none_only=False):
        self.flag, self.retval, self.none_only = do_return, retval, none_only
        self.params, self.assigned = params, assigned  # every name the function assigns

    def on_return(self, node):
        if self.none_only:
            # Every return gives None, as falling off the end does: the return value stays
            # the (empty) undefined one on every path, tensor `if`s and loops alike, and
            # return_value gives None however a tensor decided.
            return templates.replace("flag = True", node, flag=self.flag)
        # The value first: if computing it raises (and a `try` catches that), the function
        # has not returned, as in Python, and the statements after the handler still run.
        value = node.value if node.value is not None else ast.Constant(value=None)
        return templates.replace("retval = value\nflag = True", node, flag=self.flag,
                                 retval=self.retval, value=value)

    def block(self, stmts, bound=None):
        out = []
        bound = set(self.params if bound is None else bound)  # names bound on every path
        for i, stmt in enumerate(stmts):
            rest = stmts[i + 1:]
            if isinstance(stmt, ast.Return):
                out.extend(self.on_return(stmt))
                return out
            if isinstance(stmt, ast.If) and rest and (_always_returns(stmt.body)
                                                     or _always_returns(stmt.orelse)):
                # Fold what follows into the branch that does not return.
                if _always_returns(stmt.body):
                    stmt.orelse = stmt.orelse + rest
                else:
                    stmt.body = stmt.body + rest
                for moved in rest:  # for messages: the user wrote it after the `if`
                    moved.xf_folded_into = stmt.lineno
                out.append(self.statement(stmt, bound))
                return out
            may_return = blocks.contains([stmt], ast.Return, through_loops=True)
            out.append(self.statement(stmt, bound) if may_return else stmt)
            bound |= analysis.always_binds(stmt)
            if may_return and rest:
                if self._selectable(rest, bound):
                    out.extend(self._select(rest[0]))
                    return out
                guard = templates.replace("if not flag:\n    rest", rest[0], flag=self.flag,
                                          rest=self.block(rest, bound))
                guard[0].xf_return_guard = True  # the one statement that runs after a return
                if all(hasattr(r, "xf_folded_into") for r in rest):  # written after an `if`
                    guard[0].xf_folded_into = rest[0].xf_folded_into
                out.extend(guard)
                return out
        return out

    def _selectable(self, rest, bound):
        """Whether `rest` is one `return e` that may be evaluated whether or not the
        function has returned already: `e` runs no user code, and every name in it that
        the function assigns has a value here on every path."""
        if len(rest) != 1 or not isinstance(rest[0], ast.Return) or rest[0].value is None:
            return False
        value = rest[0].value
        names = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
        return purity.pure(value) and names & self.assigned <= bound

    def _select(self, node):
        out = templates.replace(
            "retval = ag__.select_return(ag__.not_(flag), lambda: value, retval)\n"
            "flag = True", node, flag=self.flag, retval=self.retval, value=node.value)
        out[0].value.args[1].xf_called_at_once = True  # not a late read (pyct/scopes.py)
        return out

    def statement(self, stmt, bound):
        loop_returns = isinstance(stmt, (ast.For, ast.While)) and blocks.contains(
            stmt.body, ast.Return, through_loops=True)
        for field in ("body", "orelse", "finalbody"):
            sub = getattr(stmt, field, None)
            if isinstance(sub, list) and sub:
                setattr(stmt, field, self.block(sub, bound) or
                        [ast.copy_location(ast.Pass(), stmt)])
        for handler in [*getattr(stmt, "handlers", []), *getattr(stmt, "cases", [])]:
            handler.body = self.block(handler.body, bound) or [ast.Pass()]
        if loop_returns:
            stmt.xf_stop_flags = [*getattr(stmt, "xf_stop_flags", []), self.flag]
        return stmt


class _Functions(ast.NodeTransformer):
    def __init__(self, namer):
        self.namer = namer

    def visit_FunctionDef(self, node):
        self.generic_visit(node)  # nested functions have their own returns
        if not _needs_conversion(node.body):
            return node
        flag, retval = self.namer.new("do_return"), self.namer.new("retval_")
        always = _always_returns(node.body)
        converter = _Returns(flag, retval, scopes.parameters(node), set(analysis.writes(node.body)[0]),
                             none_only=_returns_only_none(node.body))
        body = converter.block(node.body)
        head = templates.replace("flag = False\nretval = ag__.UndefinedReturnValue()", node,
                                 flag=flag, retval=retval)
        tail = templates.replace("return ag__.return_value(retval, flag, always)",
                                 node.body[-1], retval=retval, flag=flag,
                                 always=ast.Constant(value=always))
        node.body = head + body + tail
        node.xf_retval, node.xf_return_flag = retval, flag
        return node


def transform(node, namer):
    return _Functions(namer).visit(node)
