"""`match` on values -> an `if`/`elif` chain, so a tensor subject becomes lax.cond.

A case whose pattern only compares the subject (`case 0:`, `case 1 | 2:`, `case None:`,
`case _:`, `case n:`, `case 3 as k:`) tests `subject == value` (`is` for None/True/False),
which is exactly what Python's match does; written as `if` tests, the control-flow pass can
lower them when the subject is traced. A match with any other pattern (sequence, mapping,
class) stays a Python match, with its tensor truth tests refused clearly at run time.
"""

from __future__ import annotations

import ast

from xlaflow.autograph.pyct import naming


class _Keep(Exception):
    """The match has a pattern an `if` test cannot express: it stays a Python match."""


def transform(node):
    """Rewrite the `match` statements of this function (not of the functions it defines)."""
    lowering = _Lowering(naming.Namer(node))
    body = []
    for stmt in node.body:
        new = lowering.visit(stmt)
        body.extend(new if isinstance(new, list) else [new])
    node.body = body
    return node


class _Lowering(ast.NodeTransformer):
    def __init__(self, namer):
        self.namer = namer

    def visit_FunctionDef(self, node):
        return node  # converted on its own when called

    visit_AsyncFunctionDef = visit_Lambda = visit_ClassDef = visit_FunctionDef

    def visit_Match(self, node):
        self.generic_visit(node)
        try:
            return self._lowered(node)
        except _Keep:
            return self._guarded(node)

    def _lowered(self, node):
        tests = [_test(case.pattern) for case in node.cases]  # raises _Keep first
        if any(test and bound and case.guard is not None
               for case, (test, bound) in zip(node.cases, tests)):
            raise _Keep()  # `case 2 as k if k > x:` binds k only when the test passes
        # The subject is evaluated once, before any case; a name is read again by each test,
        # unless a guard could rebind it (`case 1 if (x := ...)`).
        rebinds = any(isinstance(n, ast.NamedExpr) for case in node.cases if case.guard
                      for n in ast.walk(case.guard))
        stmts = []
        if isinstance(node.subject, ast.Name) and not rebinds:
            subject = node.subject.id
        else:
            subject = self.namer.new("match_subject")
            stmts.append(_at(ast.Assign(targets=[_name(subject, ast.Store())],
                                        value=node.subject), node))
        chain = []
        for case, (test, bound) in reversed(list(zip(node.cases, tests))):
            binds = [_at(ast.Assign(targets=[_name(n, ast.Store())],
                                    value=_name(subject, ast.Load())), case.pattern)
                     for n in bound]
            if test is None and case.guard is None:
                chain = binds + case.body  # irrefutable: Python allows it only last
            elif test is None:
                # `case n if n > 0:` binds n before its guard reads it (and keeps it bound
                # when the guard fails, as CPython does)
                chain = binds + [_at(ast.If(test=case.guard, body=case.body, orelse=chain),
                                     case.pattern)]
            else:
                condition = test(lambda: _name(subject, ast.Load()))  # a fresh node per use
                if case.guard is not None:
                    condition = ast.BoolOp(op=ast.And(), values=[condition, case.guard])
                chain = [_at(ast.If(test=_at(condition, case.pattern), body=binds + case.body,
                                    orelse=chain), case.pattern)]
        return stmts + chain

    def _guarded(self, node):
        """A Python match kept: its guards and (where a value case is reached before any
        class pattern could match) its subject must not be tensors."""
        for case in node.cases:
            if case.guard is not None:
                case.guard = _call("match_guard", case.guard, case.guard)
        for case in node.cases:
            if isinstance(_inner(case.pattern), ast.MatchClass):
                break
            if _tests_value(case.pattern):
                node.subject = _call("match_subject", node.subject, node.subject)
                break
        return node


def _test(pattern):
    """(build, bound): `build(subject)` is the test, given a function making the subject's
    node (None: always matches); `bound` the names the pattern binds to the subject."""
    if isinstance(pattern, ast.MatchValue):
        return (lambda s: ast.Compare(left=s(), ops=[ast.Eq()], comparators=[pattern.value])), []
    if isinstance(pattern, ast.MatchSingleton):
        return (lambda s: ast.Compare(left=s(), ops=[ast.Is()],
                                      comparators=[ast.Constant(pattern.value)])), []
    if isinstance(pattern, ast.MatchAs):
        if pattern.pattern is None:
            return None, [pattern.name] if pattern.name else []
        test, bound = _test(pattern.pattern)
        return test, bound + [pattern.name]
    if isinstance(pattern, ast.MatchOr):
        alternatives = [_test(p) for p in pattern.patterns]
        if any(bound for _, bound in alternatives):
            raise _Keep()  # `case (1 as a) | (2 as a):` binds in each alternative
        if any(test is None for test, _ in alternatives):
            return None, []
        return (lambda s: ast.BoolOp(op=ast.Or(), values=[t(s) for t, _ in alternatives])), []
    raise _Keep()


def _inner(pattern):
    while isinstance(pattern, ast.MatchAs) and pattern.pattern is not None:
        pattern = pattern.pattern
    return pattern


def _tests_value(pattern):
    pattern = _inner(pattern)
    if isinstance(pattern, ast.MatchOr):
        return any(_tests_value(p) for p in pattern.patterns)
    return isinstance(pattern, (ast.MatchValue, ast.MatchSingleton))


def _name(name, ctx):
    return ast.Name(id=name, ctx=ctx)


def _at(new, old):
    return ast.fix_missing_locations(ast.copy_location(new, old))


def _call(operator, arg, where):
    call = ast.Call(func=ast.Attribute(value=_name("ag__", ast.Load()), attr=operator,
                                       ctx=ast.Load()), args=[arg], keywords=[])
    return _at(call, where)
