"""An exit at the top of a loop body (`if c: break` / `if c: return e`) joins the loop's test.

    while i < n:                    while i < n and not x[i] > t:
        if x[i] > t:                    i += 1
            return i        ->      if i < n:
        i += 1                          return i

The hand-written lax loop tests `c` in its condition too; kept as a jump, `c` would become
a break or return flag, one more loop carry (and a return value carried beside it) that
XLA reads and writes on every iteration. The rewrite needs `c` pure (tested on a state
where the loop test may be false, as a traced `and` evaluates both sides) and bound
before the loop; after a `while` that left early, the loop test (pure, re-evaluated) tells
that `c` ended it. A `for` loop gets `c` as an extra test (`xf_stop_tests`) checked before
its next element is bound, where a bare `break` with a test that does not read the loop's
target qualifies and nothing reads the target once the loop has stopped (code after it,
closures its body makes) and binding it cannot fail (a name, or names unpacking
`enumerate`/`zip`). Otherwise a `for` headed by `if c: break` or `if c: return e` gets `c`
as a test of the candidate element (the target bound to the next element, before the body
runs), and after the loop, if it stopped there, the target bound to that element and the
exit, or the loop's `else:` if it did not (see _for_candidate). Runs before the
break/return converters.
"""

from __future__ import annotations

import ast
import copy

from xlaflow.autograph.pyct import analysis, blocks, purity, scopes

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef)
# The builtins this converter relies on, unless the module binds them (conversion.py
# converts again for globals that bind other ones)
BUILTINS_RELIED_ON = purity.BUILTINS | {"enumerate", "zip"}


class _LoopExits:
    def __init__(self, fn, namer, parent=None):
        self.fn, self.namer = fn, namer
        # Names this function or an enclosing one binds: not the module's `jnp` or `len`
        self.local = set(analysis.writes(fn.body)[0]) | scopes.parameters(fn) | \
            (parent.local if parent else set())
        # A `len` the function binds, takes as a parameter, or finds in an enclosing
        # function, its closure or its module is not the builtin (conversion.py tells the
        # last two).
        self.shadowed = self.local | (parent.shadowed if parent else set()) | \
            set(getattr(fn, "xf_outer_names", ()))
        # `jnp.abs`-like calls that resolve to pure array functions (conversion.py)
        self.module_calls = parent.module_calls if parent else \
            getattr(fn, "xf_pure_calls", frozenset())
        self.declared = {name for stmt in analysis.own_statements(fn.body)
                         if isinstance(stmt, (ast.Global, ast.Nonlocal)) for name in stmt.names}

    def _pure(self, expr):
        return purity.pure(expr, boolops=True, calls=purity.BUILTINS, shadowed=self.shadowed,
                           module_calls=self.module_calls, local=self.local)

    def block(self, stmts, bound):
        out, bound = [], set(bound)
        for stmt in stmts:
            if isinstance(stmt, _SCOPES):
                _convert(stmt, self.namer, self)  # its own scope: its own names
                out.append(stmt)
                continue
            for field in ("body", "orelse", "finalbody"):
                sub = getattr(stmt, field, None)
                if isinstance(sub, list) and sub:
                    inner = bound | _target_names(stmt) if field == "body" else bound
                    setattr(stmt, field, self.block(sub, inner))
            for handler in [*getattr(stmt, "handlers", []), *getattr(stmt, "cases", [])]:
                handler.body = self.block(handler.body, bound)
            if isinstance(stmt, ast.While):
                out.extend(self._while(stmt, bound))
            elif isinstance(stmt, ast.For):
                out.extend(self._for(stmt, bound))
            else:
                out.append(stmt)
            bound |= analysis.always_binds(stmt)
        return out

    def _guard(self, loop, bound, candidate=False):
        """(the `if`, statements before the jump, jump) of an exit heading `loop`'s body;
        `candidate`: its test may read the target (tested with it bound to the element)."""
        first = loop.body[0]
        if not isinstance(first, ast.If) or first.orelse or not first.body:
            return None
        *before, jump = first.body
        if not isinstance(jump, (ast.Break, ast.Return)) or \
                blocks.contains(before, (ast.Break, ast.Continue)) or \
                not self._pure(first.test):
            return None
        written = set(analysis.writes(loop.body)[0])
        if isinstance(loop, ast.For):
            written = written - _target_names(loop) if candidate else \
                written | _target_names(loop)
        if (analysis.reads(first.test) & written) - bound:
            return None  # may read a name the loop creates: tested before it exists
        return first, before, jump

    def _while(self, loop, bound):
        guard = self._guard(loop, bound)
        if guard is None:
            return [loop]
        first, before, jump = guard
        cond = first.test
        rest = loop.body[1:]
        simple = isinstance(jump, ast.Break) and not before and not loop.orelse
        if not simple and not (self._pure(loop.test) and
                               not blocks.contains(rest, ast.Break)):
            return [loop]  # cannot tell afterwards whether `cond` ended the loop
        test = loop.test
        loop.test = ast.copy_location(ast.BoolOp(op=ast.And(), values=[
            _scalar(copy.deepcopy(test), "while loop"),  # `test` may be tested again below
            ast.copy_location(ast.UnaryOp(op=ast.Not(), operand=_scalar(cond, "`if`")),
                              cond)]), test)
        loop.body = rest or [ast.copy_location(ast.Pass(), loop)]
        if simple:
            return [loop]
        exit_ = before + ([jump] if isinstance(jump, ast.Return) else [])
        orelse, loop.orelse = loop.orelse, []
        if isinstance(test, ast.Constant) and test.value and not orelse:
            return [loop, *exit_]  # `while True:` ends only by `cond`
        after = ast.copy_location(ast.If(test=test, body=exit_ or [ast.Pass()],
                                         orelse=orelse), first)
        return [loop, ast.fix_missing_locations(after)]

    def _for(self, loop, bound):
        first = loop.body[0]
        if not isinstance(first, ast.If) or not first.body or \
                not isinstance(first.body[-1], (ast.Break, ast.Return)):
            return [loop]
        if isinstance(first.body[-1], ast.Break) and self._stop_test(loop, bound):
            return [loop]
        return self._for_candidate(loop, bound)

    def _stop_test(self, loop, bound):
        """A bare `if c: break` whose `c` does not read the target becomes a test checked
        before the next element is bound (also where Python iterates); True if it did."""
        guard = self._guard(loop, bound)
        if guard is None or loop.orelse:
            return False
        first, before, _ = guard
        cond, target = first.test, _target_names(loop)
        if before or analysis.reads(cond) & target or not self._binds_safely(loop) or \
                target & self.declared or self._read_later(loop) & target:
            return False  # the loop would stop before binding the element it stopped on
        loop.body = loop.body[1:] or [ast.copy_location(ast.Pass(), loop)]
        loop.xf_stop_tests = [*getattr(loop, "xf_stop_tests", []), _scalar(cond, "`if`")]
        return True

    def _for_candidate(self, loop, bound):
        """`for t in it: if c: S; break|return e` + rest [else: E], as the hand-written lax
        loop:

            loop_iter = it
            loop_stop = ag__.candidate_stop(loop_iter, 0)   # None: Python iterates it
            if loop_stop is not None:
                for t in loop_iter:       # also stops before an element on which c holds
                    rest                  # (xf_stop_on: lambda t: c, tested on it first)
                if ag__.stopped(loop_stop):
                    t = ag__.stop_element(loop_stop)
                    S
                    return e              # (a break: nothing)
                else:
                    E                     # a break's loop only: run when c never held
            else:
                <the loop as written, its break or return kept as flags>

        The target ends bound as Python leaves it (the element stopped on, else the last);
        a Python-iterated loop, whose `c` may turn traced mid-way, keeps the flags."""
        guard = self._guard(loop, bound, candidate=True)
        if guard is None:
            return [loop]
        first, before, jump = guard
        returns = isinstance(jump, ast.Return)
        rest, target = loop.body[1:], _target_names(loop)
        # Names the rest of the body first assigns: unbound in Python when the first
        # element stops the loop, so neither the exit nor what follows may read them. The
        # target is bound then (the exit binds it): read after the loop, it is carried, and
        # the loop's ran-check passes once it stopped (for_stmt).
        created = set(analysis.writes(rest)[0]) - bound - target
        exit_reads = set().union(*(analysis.reads(s) for s in first.body))
        read_later = self._read_later(loop)
        if blocks.contains(before, ast.Return, through_loops=True) or \
                blocks.contains(rest, ast.Break) or \
                blocks.contains(rest, ast.Return, through_loops=True) or \
                not self._binds_safely(loop) or target & self.declared or \
                created & (read_later | exit_reads):
            return [loop]
        fallback = copy.deepcopy(loop)  # the original, for a loop Python iterates
        iter_name, stop_name = self.namer.new("loop_iter"), self.namer.new("loop_stop")
        def here(node):
            return ast.fix_missing_locations(ast.copy_location(node, loop))

        def name(n, store=False):
            return here(ast.Name(id=n, ctx=ast.Store() if store else ast.Load()))

        width = len(loop.target.elts) if isinstance(loop.target, (ast.Tuple, ast.List)) else 0
        setup = [here(ast.Assign(targets=[name(iter_name, True)], value=loop.iter)),
                 here(ast.Assign(targets=[name(stop_name, True)], value=_ag_call(
                     "candidate_stop", name(iter_name), ast.Constant(value=width))))]
        fallback.iter, loop.iter = name(iter_name), name(iter_name)
        params = self._params([loop.target] if width == 0 else loop.target.elts)
        test = here(ast.Lambda(args=ast.arguments(
            posonlyargs=[], args=params, vararg=None, kwonlyargs=[], kw_defaults=[],
            kwarg=None, defaults=[]), body=_scalar(first.test, "`if`")))
        loop.xf_stop_on = (test, stop_name)
        loop.body = rest or [here(ast.Pass())]
        orelse, loop.orelse = loop.orelse, []
        exit_ = [*before, jump] if returns else before
        if exit_ or target & read_later:  # a dead binding would cost a lax.cond
            exit_.insert(0, ast.copy_location(ast.Assign(
                targets=[_as_store(copy.deepcopy(loop.target))],
                value=_ag_call("stop_element", name(stop_name))), first))
        after = [ast.fix_missing_locations(ast.copy_location(ast.If(
            test=_ag_call("stopped", name(stop_name)), body=exit_ or [here(ast.Pass())],
            orelse=orelse), first))] if exit_ or orelse else []
        hoisted = ast.Compare(left=name(stop_name), ops=[ast.IsNot()],
                              comparators=[ast.Constant(value=None)])
        choose = ast.copy_location(ast.If(test=here(hoisted), body=[loop, *after],
                                          orelse=[fallback]), loop)
        return [*setup, ast.fix_missing_locations(choose)]

    def _params(self, names):
        """The moved test's parameters, one per target name: a name the target repeats
        (`for a, a in ...`, the last binding wins) takes a fresh name where it is not last,
        as a lambda may not repeat a parameter."""
        ids = [n.id for n in names]
        return [ast.arg(arg=n if n not in ids[k + 1:] else self.namer.new("unused"))
                for k, n in enumerate(ids)]

    def _read_later(self, loop):
        """Names that may be read once `loop` has stopped: outside its body (its test and
        iterable included), and by functions and generators its body makes (late)."""
        body, loop.body = loop.body, []
        try:
            found = set().union(*(_reads(stmt) for stmt in self.fn.body))
        finally:
            loop.body = body
        for stmt in body:
            for node in ast.walk(stmt):
                if isinstance(node, _LATE):
                    found |= _reads(node)
        return found

    def _binds_safely(self, loop):
        """Whether binding the target cannot fail, so not binding the element it stops on
        skips no error: local names only (an attribute or subscript target is seen outside
        the loop), and a tuple of names only over what `enumerate` and `zip` give."""
        target = loop.target
        if isinstance(target, ast.Name):
            return True
        if not isinstance(target, (ast.Tuple, ast.List)) or \
                not all(isinstance(n, ast.Name) for n in target.elts):
            return False
        it = loop.iter
        if not isinstance(it, ast.Call) or not isinstance(it.func, ast.Name) or \
                it.func.id in self.shadowed or \
                any(isinstance(a, ast.Starred) for a in it.args) or \
                any(k.arg is None for k in it.keywords):
            return False
        width = {"enumerate": 2, "zip": len(it.args)}.get(it.func.id)
        return width == len(target.elts)


def _ag_call(fn, *args):
    func = ast.Attribute(value=ast.Name(id="ag__", ctx=ast.Load()), attr=fn, ctx=ast.Load())
    return ast.Call(func=func, args=list(args), keywords=[])


def _as_store(target):
    for node in ast.walk(target):
        if isinstance(node, (ast.Name, ast.Tuple, ast.List)):
            node.ctx = ast.Store()
    return target


def _scalar(test, what):
    """`test`, which a traced run requires to be a scalar with an error naming `what` at
    its own line (joined to a loop's test, it would name the loop's)."""
    check = ast.Attribute(value=ast.Name(id="ag__", ctx=ast.Load()), attr="scalar_test",
                          ctx=ast.Load())
    return ast.fix_missing_locations(ast.copy_location(
        ast.Call(func=check, args=[test, ast.Constant(value=what)], keywords=[]), test))


_LATE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.GeneratorExp)


def _reads(node):
    """analysis.reads, plus what the exit tests already hoisted out of loops in `node` read
    (they live beside the tree until the control-flow converter puts them back)."""
    found = analysis.reads(node)
    for inner in ast.walk(node):
        for test in getattr(inner, "xf_stop_tests", ()):
            found |= analysis.reads(test)
    return found


def _target_names(stmt):
    if not isinstance(stmt, (ast.For, ast.AsyncFor)):
        return set()
    return {n.id for n in ast.walk(stmt.target) if isinstance(n, ast.Name)}


def _convert(fn, namer, parent=None):
    fn.body = _LoopExits(fn, namer, parent).block(fn.body, scopes.parameters(fn))


def transform(node, namer):
    _convert(node, namer)
    return node
