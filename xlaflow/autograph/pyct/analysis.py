"""Static analysis: which names a block writes and reads, and which are live afterwards.

The control-flow converter turns a block into a function whose state is the names it
writes; liveness decides which of those the rest of the function reads, so temporaries
never become outputs of `lax.cond` or loop carries.

Results are stored on the nodes themselves: `If`, `While` and `For` get `xf_live_out` (names
read after the statement) and loops also `xf_live_head` (names live when the next iteration
starts).
"""

from __future__ import annotations

import ast

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp,
           ast.SetComp, ast.DictComp, ast.GeneratorExp)


def own_statements(stmts):
    """Every statement in `stmts`, nested blocks included, but not inside nested scopes."""
    for stmt in stmts:
        yield stmt
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for field in ("body", "orelse", "finalbody"):
            sub = getattr(stmt, field, None)
            if isinstance(sub, list):
                yield from own_statements(sub)
        for handler in getattr(stmt, "handlers", []):
            yield from own_statements(handler.body)


def composite_name(node):
    """'self.count', "d['k']" or 'l[-1]' for an attribute chain / constant subscript."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = composite_name(node.value)
        return None if base is None else f"{base}.{node.attr}"
    if isinstance(node, ast.Subscript):
        try:  # a constant key: 'k', -1, (0, 1)
            key = ast.literal_eval(node.slice)
        except (ValueError, TypeError, SyntaxError):
            return None
        base = composite_name(node.value)
        return None if base is None else f"{base}[{key!r}]"
    return None


class _Writes(ast.NodeVisitor):
    """Names (and composite targets) a block binds, without entering nested scopes."""

    def __init__(self):
        self.names = {}
        self.composites = {}
        self.declared = set()  # global/nonlocal declarations seen

    def _target(self, node):
        if isinstance(node, ast.Name):
            self.names[node.id] = None
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                self._target(elt)
        elif isinstance(node, ast.Starred):
            self._target(node.value)
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            name = composite_name(node)
            if name is not None:
                self.composites[name] = node

    def visit_Assign(self, node):
        for target in node.targets:
            self._target(target)
        self.visit(node.value)

    def visit_AugAssign(self, node):
        self._target(node.target)
        self.visit(node.value)

    def visit_AnnAssign(self, node):
        if node.value is not None:
            self._target(node.target)
            self.visit(node.value)

    def visit_Delete(self, node):
        # `del x` rebinds x to "no value" (converters/control_flow.py makes it Undefined):
        # a tensor block that deletes x must carry it, so reading x afterwards can fail.
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.names[target.id] = None
        self.generic_visit(node)

    def visit_NamedExpr(self, node):
        self._target(node.target)
        self.visit(node.value)

    def visit_For(self, node):
        self._target(node.target)
        self.generic_visit(node)

    def visit_With(self, node):
        for item in node.items:
            if item.optional_vars is not None:
                self._target(item.optional_vars)
        self.generic_visit(node)

    def visit_ExceptHandler(self, node):
        # `except E as e:` binds e only inside the handler: Python deletes it at the end,
        # so it is never state a block carries out (reading it would find no value)
        self.generic_visit(node)

    def visit_Import(self, node):
        for alias in node.names:
            self.names[(alias.asname or alias.name).split(".")[0]] = None

    visit_ImportFrom = visit_Import

    def visit_FunctionDef(self, node):
        self.names[node.name] = None  # binds its name; its body is another scope

    visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef

    def visit_Global(self, node):
        self.declared.update(node.names)

    visit_Nonlocal = visit_Global

    def visit_MatchAs(self, node):  # `case (a, b):` and `case _ as x:` bind names
        if node.name:
            self.names[node.name] = None
        self.generic_visit(node)

    def visit_MatchStar(self, node):
        if node.name:
            self.names[node.name] = None

    def visit_MatchMapping(self, node):
        if node.rest:
            self.names[node.rest] = None
        self.generic_visit(node)

    def visit_Lambda(self, node):
        pass

    def visit_ListComp(self, node):
        # Its own names stay inside, but `:=` binds in the enclosing function (PEP 572).
        for inner in _comprehension_nodes(node):
            if isinstance(inner, ast.NamedExpr):
                self._target(inner.target)

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp


def _comprehension_nodes(node):
    """The nodes of a comprehension, its nested comprehensions included (their `:=` also
    binds in the enclosing function), but not lambdas or other scopes inside it."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        yield child
        yield from _comprehension_nodes(child)


def writes(stmts):
    """(names, composites) bound by `stmts`, in first-write order."""
    visitor = _Writes()
    for stmt in stmts:
        visitor.visit(stmt)
    return list(visitor.names), visitor.composites


def always_binds(stmt):
    """Names `stmt` binds on every path through it (only simple statements are counted)."""
    if isinstance(stmt, (ast.Assign, ast.AugAssign)) or (
            isinstance(stmt, ast.AnnAssign) and stmt.value is not None):
        return set(writes([stmt])[0])
    return set()


def reads(node):
    """Names `node` reads, including the free names of lambdas, comprehensions and defs."""
    found = set()
    for child in _walk_reads(node):
        found.add(child)
    return found


def _walk_reads(node):
    if isinstance(node, ast.Name):
        if isinstance(node.ctx, (ast.Load, ast.Del)):
            yield node.id
        return
    if isinstance(node, _SCOPES):
        yield from _free_names(node)
        return
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        yield node.target.id
    for child in ast.iter_child_nodes(node):
        yield from _walk_reads(child)


def _free_names(scope):
    """Names a nested scope reads from its surroundings (its loads minus its own binds, plus
    what the surroundings evaluate for it: defaults, decorators, the first iterable)."""
    loads, binds, outside = set(), set(), set()
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = scope.args
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is not None:
                binds.add(arg.arg)
        outer = [*args.defaults, *[d for d in args.kw_defaults if d is not None]]
        if not isinstance(scope, ast.Lambda):
            outer += scope.decorator_list
        for expr in outer:
            outside |= reads(expr)
        body = scope.body if isinstance(scope.body, list) else [scope.body]
    elif isinstance(scope, ast.ClassDef):
        body = scope.body
        for expr in [*scope.bases, *scope.decorator_list]:
            outside |= reads(expr)
    else:  # comprehensions: generators bind their targets; the first iterable is outside
        body = [scope.elt] if not isinstance(scope, ast.DictComp) else [scope.key, scope.value]
        outside |= reads(scope.generators[0].iter)
        for i, gen in enumerate(scope.generators):
            binds |= {n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
            body = [*([gen.iter] if i else []), *gen.ifs, *body]
    declared = set()  # nonlocal/global here: outer variables, not this scope's own
    for stmt in body:
        for child in _in_scope(stmt):
            if isinstance(child, ast.Name):
                (loads if isinstance(child.ctx, ast.Load) else binds).add(child.id)
            elif isinstance(child, (ast.Nonlocal, ast.Global)):
                declared.update(child.names)
            elif isinstance(child, ast.AugAssign) and isinstance(child.target, ast.Name):
                loads.add(child.target.id)
            elif isinstance(child, _SCOPES):  # its own names stay its own
                loads |= _free_names(child)
                if not isinstance(child, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                                          ast.GeneratorExp)):
                    binds.add(child.name)
    return (loads - (binds - declared)) | outside


def _in_scope(node):
    """`node` and its descendants, stopping at nested scopes (yielded, not entered)."""
    yield node
    if isinstance(node, _SCOPES):
        return
    for child in ast.iter_child_nodes(node):
        if isinstance(child, _SCOPES):
            yield child
        else:
            yield from _in_scope(child)


def _kills(stmt):
    """Names certainly (re)bound by a simple statement."""
    names, _ = writes([stmt])
    return set(names)


def _uses(stmt):
    """Names read by a simple statement (targets' subexpressions included)."""
    found = set()
    for child in ast.iter_child_nodes(stmt):
        found |= reads(child)
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
        found.add(stmt.target.id)
    return found


class _Loop:
    def __init__(self, exit_live, continue_live):
        self.exit_live = exit_live
        self.continue_live = continue_live


def annotate_liveness(body):
    """Annotate every If/While/For in a function body with live-out (and loop-head) sets."""
    _block(body, frozenset(), None)


def _block(stmts, live, loop):
    for stmt in reversed(stmts):
        live = _stmt(stmt, live, loop)
    return live


def _stmt(stmt, live_out, loop):
    if isinstance(stmt, ast.Return):
        return frozenset(reads(stmt.value)) if stmt.value is not None else frozenset()
    if isinstance(stmt, ast.Break):
        return loop.exit_live if loop else live_out
    if isinstance(stmt, ast.Continue):
        return loop.continue_live if loop else live_out
    if isinstance(stmt, ast.If):
        stmt.xf_live_out = live_out
        return (frozenset(reads(stmt.test)) | _block(stmt.body, live_out, loop)
                | _block(stmt.orelse, live_out, loop))
    if isinstance(stmt, ast.While):
        return _while(stmt, live_out, loop)
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        return _for(stmt, live_out, loop)
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return (live_out - {stmt.name}) | frozenset(_free_names(stmt))
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        inner = _block(stmt.body, live_out, loop)
        items = set()
        for item in stmt.items:
            items |= reads(item.context_expr)
            if item.optional_vars is not None:  # `as name` binds name before the block
                inner = inner - {n.id for n in ast.walk(item.optional_vars)
                                 if isinstance(n, ast.Name)}
        return inner | items
    if isinstance(stmt, ast.Try):
        after = _block(stmt.finalbody, live_out, loop) | live_out
        live = _block(stmt.orelse, after, loop) | after
        for handler in stmt.handlers:
            live |= _block(handler.body, after, loop)
        return _block(stmt.body, live, loop) | live
    if hasattr(ast, "Match") and isinstance(stmt, ast.Match):
        live = frozenset(reads(stmt.subject)) | live_out
        for case in stmt.cases:
            captured = set(writes([case.pattern])[0])
            live |= (_block(case.body, live_out, loop) - captured) | frozenset(
                reads(case.pattern)) | (frozenset(reads(case.guard)) - captured
                                        if case.guard is not None else frozenset())
        return live
    return (live_out - _kills(stmt)) | frozenset(_uses(stmt))


def _stop_flags(stmt):
    """What the converted loop's extra test reads: the break/return flags and the exit
    tests hoisted out of its body (set by converters that run before this analysis)."""
    names = set(getattr(stmt, "xf_stop_flags", ()))
    for test in getattr(stmt, "xf_stop_tests", ()):
        names |= reads(test)
    if hasattr(stmt, "xf_stop_on"):  # (lambda target: c, record): c's names but the target
        names |= reads(stmt.xf_stop_on[0])
    return frozenset(names)


def _while(stmt, live_out, loop):
    test = frozenset(reads(stmt.test)) | _stop_flags(stmt)
    head = test | live_out
    while True:
        body = _block(stmt.body, head, _Loop(live_out, head))
        new = test | body | _block(stmt.orelse, live_out, loop)
        if new == head:
            break
        head = new
    stmt.xf_live_out, stmt.xf_live_head = live_out, head
    return head


def _for(stmt, live_out, loop):
    target = frozenset(n.id for n in ast.walk(stmt.target) if isinstance(n, ast.Name))
    exit_live = _block(stmt.orelse, live_out, loop)
    head = exit_live | _stop_flags(stmt)
    while True:
        body = _block(stmt.body, head, _Loop(live_out, head))
        target_reads = frozenset(reads(stmt.target))
        new = exit_live | _stop_flags(stmt) | (body - target) | target_reads
        if new == head:
            break
        head = new
    stmt.xf_live_out, stmt.xf_live_head = live_out, head
    return head | frozenset(reads(stmt.iter))
