"""`if`/`while`/`for` -> calls to ag__.if_stmt/while_stmt/for_stmt with the block as functions.

Each block becomes a local function that rebinds the names it writes (`nonlocal`), plus
`get_state`/`set_state` functions over those names, so the run-time operator can either
just call the block (Python condition) or hand it to lax.cond/while_loop/scan (traced
condition). State names are ordered outputs-first: for an `if`, the names read after it;
for a loop, the names live at its head (carried from one iteration to the next). The rest
are temporaries, reset around each traced branch or iteration but never outputs.
"""

from __future__ import annotations

import ast
import copy

from xlaflow.autograph.converters import global_writes, in_place
from xlaflow.autograph.pyct import analysis, scopes, templates

# Every converted block: functions that rebind the block's names (declared here), and the
# get_state/set_state pair the run-time operator uses to read and reset them.
_DECLARE = """
    global globals_
    nonlocal names
"""
_STATE = """
def get_state():
    return state
def set_state(vars_):""" + _DECLARE + """    set_body
"""

_IF = """
def if_body():""" + _DECLARE + """    body
def else_body():""" + _DECLARE + """    orelse
""" + _STATE + """
ag__.if_stmt(test, if_body, else_body, get_state, set_state, symbols, n_out, unsupported)
"""

_WHILE = """
def loop_test():""" + _DECLARE + """    return test
def loop_body():""" + _DECLARE + """    body
""" + _STATE + """
ag__.while_stmt(loop_test, loop_body, get_state, set_state, symbols, n_out, unsupported,
                extra_test)
"""

_FOR = """
def loop_body(itr):""" + _DECLARE + """    target = itr
    body
""" + _STATE + """
ag__.for_stmt(iterable, extra_test, loop_body, get_state, set_state, symbols, n_out,
              unsupported, stop_on)
"""


def _appended_names(stmts):
    """Names the block appends to (`x.append(v)`, rewritten to `x = ag__.list_append(x, v)`
    by the lists converter): a tensor loop stacks those; other lists are plain state."""
    found = set()
    for stmt in analysis.own_statements(stmts):
        call = getattr(stmt, "value", None)
        if isinstance(stmt, ast.Assign) and isinstance(call, ast.Call) and isinstance(
                call.func, ast.Attribute) and call.func.attr == "list_append" and \
                isinstance(call.func.value, ast.Name) and call.func.value.id == "ag__":
            found.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
    return found


def _computed_key_writes(stmts, names):
    """`d[k] = v` with a computed key on a container from outside the block: not state
    AutoGraph can carry, so each traced branch or iteration would overwrite it in turn."""
    found = []
    for stmt in analysis.own_statements(stmts):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if \
            isinstance(stmt, (ast.AugAssign, ast.AnnAssign)) else []
        for target in targets:
            for node in ast.walk(target):
                root = node
                while isinstance(root, (ast.Subscript, ast.Attribute)):
                    root = root.value
                if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) and \
                        analysis.composite_name(node) is None and \
                        isinstance(root, ast.Name) and root.id not in names:
                    found.append(f"`{ast.unparse(node)} = ...` at line {stmt.lineno} "
                                 "(a subscript with a computed key)")
    return found


def _written_inside(stmts, origin):
    """The statements in `stmts`, nested ones included, less those written after `origin` (an
    `if` that returns on one path) that returns.py folded into it, and what they hold: as
    written they are not inside it, so a `try` among them catches errors raised while
    tracing, as one at that level does (TF's AutoGraph traces it the same way). A return
    guard (`if not flag:`, returns.py) holds only statements written after a statement that
    may return, at that statement's level: none is inside it as written."""
    if getattr(origin, "xf_return_guard", False):
        return
    for stmt in stmts:
        if getattr(stmt, "xf_folded_into", None) != origin.lineno:
            yield from analysis.own_statements([stmt])


def _check_returned(stmts, names):
    """`return e` where `e` reads a name that may hold its Undefined placeholder becomes
    `return ag__.defined(e)`: Python raises for returning an unassigned name (any other use
    of the placeholder raises by itself)."""
    for stmt in analysis.own_statements(stmts):
        if isinstance(stmt, ast.Return) and stmt.value is not None and \
                analysis.reads(stmt.value) & names:
            stmt.value = templates.replace_expr("ag__.defined(value)", stmt, value=stmt.value)


class _ControlFlow(ast.NodeTransformer):
    def __init__(self, namer):
        self.namer = namer
        self.scopes = []

    def visit_FunctionDef(self, node):
        analysis.annotate_liveness(node.body)
        scope = scopes.Scope(node, self.scopes[-1] if self.scopes else None)
        rebound_globals = {n for n in analysis.writes(node.body)[0] if n in scope.globals}
        if rebound_globals:
            node.body = global_writes.checked(node.body, rebound_globals,
                                             getattr(node, "xf_name", node.name))
        self.scopes.append(scope)
        body = []
        for stmt in node.body:
            body.extend(_as_list(self.visit(stmt)))
            if not isinstance(stmt, (ast.If, ast.While, ast.For, ast.With, ast.Try, ast.Match)):
                scope.bound |= set(analysis.writes([stmt])[0])
        node.body = body
        self.scopes.pop()
        if scope.undefined:
            inits = []
            for name in scope.undefined:
                inits += templates.replace("name = ag__.Undefined(label)", node, name=name,
                                           label=ast.Constant(value=name))
            node.body = inits + node.body
        if scope.undefined or scope.deleted:
            _check_returned(node.body, set(scope.undefined) | scope.deleted)
        return node

    def visit_Delete(self, node):
        # `del x` would unbind the shared cell that branch and loop functions read their
        # state from (NameError in get_state); x becomes Undefined instead, which raises
        # on any later use as reading a deleted name does.
        scope = self.scopes[-1] if self.scopes else None
        if scope is None:
            return node
        names = [t for t in node.targets if isinstance(t, ast.Name)
                 and t.id not in scope.globals and t.id not in scope.nonlocals]
        if not names:
            return node
        scope.deleted.update(t.id for t in names)  # returning one raises, as in Python
        out = [templates.replace("name = ag__.Undefined(label)", node, name=t.id,
                                 label=ast.Constant(value=t.id))[0] for t in names]
        rest = [t for t in node.targets if t not in names]
        if rest:
            out.append(ast.copy_location(ast.Delete(targets=rest), node))
        return out

    def visit_Lambda(self, node):
        return node  # lambdas hold expressions only; logical.py converts them

    # -- state -----------------------------------------------------------------------------
    def _state(self, stmts, live, origin, returns_pending=False, refused=()):
        """Template replacements for a block's state: symbols (outputs first), their
        loads/stores, and the nonlocal/global declarations.

        `returns_pending`: the block only runs while the function has not returned (an `if`
        that is not a return guard); its labels then mark the return flag and the names
        nothing reads after a return, for operators/speculation.py. `refused`: descriptions
        of further constructs the block cannot run as XLA control flow.
        """
        scope = self.scopes[-1]
        self._vars_name = self.namer.new("vars_")
        names, composites = analysis.writes(stmts)
        mentioned = set().union(*map(analysis.reads, stmts))
        helped = [n for helper in sorted(mentioned & scope.helpers.keys())
                  for n in sorted(scope.helpers[helper]) if n not in names and (
                      n in scope.params or n in scope.nonlocals or n in scope.outer or
                      scope.first_write.get(n, origin.lineno) < origin.lineno)]
        names += list(dict.fromkeys(helped))
        # Globals and attributes are visible outside the function: always outputs; so are
        # names a called helper rebinds (the helper reads them, and so may the caller).
        outputs = [n for n in names if n in live or n in scope.globals or n in scope.shared
                   or n in helped] + list(composites)
        temps = [n for n in names if n not in outputs]
        symbols = outputs + temps
        for name in names:
            # `nonlocal` needs a binding in the function, and get_state must be able to read
            # the name on every path: bind it to Undefined at entry unless a top-level
            # statement before this one already did.
            if name not in scope.bound and name not in scope.globals \
                    and name not in scope.nonlocals and name not in scope.outer:
                scope.undefined[name] = None
        local_names = [n for n in names if n not in scope.globals]
        global_names = [n for n in names if n in scope.globals]
        loads = [self._load(s, composites, origin) for s in symbols]
        stores = [self._store(s, composites) for s in symbols]
        state = ast.Tuple(elts=loads, ctx=ast.Load())
        if stores:
            set_body = [ast.copy_location(ast.Assign(
                targets=[ast.Tuple(elts=stores, ctx=ast.Store())],
                value=ast.Name(id=self._vars_name, ctx=ast.Load())), origin)]
        else:
            set_body = [ast.copy_location(ast.Pass(), origin)]
        appended = _appended_names(stmts)
        labels = ["append:" + s if s in appended else self._label(s, scope, returns_pending)
                  for s in symbols]
        # Constructs that cannot become XLA control flow: named, so the run-time operator
        # can refuse them if (and only if) a tensor decides this block.
        # (`try`/`finally` alone catches nothing: it runs in order while tracing, as in Python)
        unsupported = list(refused) + [f"`try` at line {child.lineno}" for child in
                       _written_inside(stmts, origin) if isinstance(child, ast.Try)
                       and child.handlers]
        unsupported += _computed_key_writes(stmts, names)
        unsupported += [f"a use of {helper}(), which rebinds the enclosing function's "
                        f"{', '.join(map(repr, sorted(scope.shadowed[helper])))} (shadowed "
                        "here by a local of the same name)"
                        for helper in sorted(mentioned & scope.shadowed.keys())]
        replacements = dict(
            names=local_names, globals_=global_names, state=state, set_body=set_body,
            symbols=ast.Tuple(elts=[ast.Constant(value=s) for s in labels], ctx=ast.Load()),
            n_out=ast.Constant(value=len(outputs)), vars_=self._vars_name,
            unsupported=in_place.unsupported(stmts, names, unsupported, origin))
        return replacements

    @staticmethod
    def _label(symbol, scope, returns_pending):
        if symbol in scope.globals:
            return "global:" + symbol
        if symbol == scope.retval:
            return "return:" + symbol
        if returns_pending and symbol == scope.flag:
            return "flag:" + symbol
        if symbol in scope.shared:
            return "shared:" + symbol
        return symbol

    @staticmethod
    def _load(symbol, composites, origin):
        if symbol not in composites:
            return ast.Name(id=symbol, ctx=ast.Load())
        return templates.replace_expr("ag__.ldu(lambda: target, label)", origin,
                                      target=composites[symbol],
                                      label=ast.Constant(value=symbol))

    @staticmethod
    def _store(symbol, composites):
        if symbol not in composites:
            return ast.Name(id=symbol, ctx=ast.Store())
        target = copy.deepcopy(composites[symbol])
        target.ctx = ast.Store()
        return target

    def _names(self, kind):
        return {k: self.namer.new(k) for k in kind}

    # -- statements ------------------------------------------------------------------------
    def visit_If(self, node):
        live = node.xf_live_out
        replacements = self._state(node.body + node.orelse, live, node,
                                   returns_pending=not getattr(node, "xf_return_guard", False))
        node.body = _visit_block(self, node.body)
        node.orelse = _visit_block(self, node.orelse)
        fresh = self._names(("if_body", "else_body", "get_state", "set_state"))
        return templates.replace(_IF, node, test=node.test, body=node.body, orelse=node.orelse,
                                 **fresh, **replacements)

    def visit_While(self, node):
        live = node.xf_live_head
        # `while (y := f(n)) > 2:` binds y on every test: state of the loop like the body's.
        # XLA's loop condition cannot hand a value to the body.
        walrus = [n for n in ast.walk(node.test) if isinstance(n, ast.NamedExpr)]
        replacements = self._state([ast.Expr(value=node.test), *node.body], live, node,
                                   refused=[f"`:=` in the loop condition at line "
                                            f"{walrus[0].lineno}"] if walrus else [])
        node.body = _visit_block(self, node.body)
        test = node.test
        flags = getattr(node, "xf_stop_flags", [])
        extra_test = ast.Constant(value=None)
        if flags and isinstance(test, ast.Constant) and test.value:
            # `while True:` left by break/return: the flags are the whole test
            for flag in reversed(flags):
                test = templates.replace_expr("not flag and test", node, flag=flag, test=test)
        elif flags:
            extra_test = templates.replace_expr(
                "lambda: " + " and ".join(f"not {flag}" for flag in flags), node)
        fresh = self._names(("loop_test", "loop_body", "get_state", "set_state"))
        return templates.replace(_WHILE, node, test=test, body=node.body,
                                 extra_test=extra_test, **fresh, **replacements)

    def visit_With(self, node):
        node = _split_with(node)
        item = node.items[0]
        stmts = node.body if item.optional_vars is None else [
            ast.Assign(targets=[item.optional_vars], value=ast.Constant(0)), *node.body]
        replacements = self._state(stmts, _with_live(node), node)
        reads = self._reads(node)
        node.body = _visit_block(self, node.body)
        fresh = self._names(("with_body", "get_state", "set_state", "itr", "get_reads",
                             "set_reads", "read_vars"))
        target = item.optional_vars if item.optional_vars is not None else ast.Name(
            id=self.namer.new("unused"), ctx=ast.Store())
        read_store = [ast.Name(id=r, ctx=ast.Store()) for r in reads]
        read_body = [ast.copy_location(ast.Assign(
            targets=[ast.Tuple(elts=read_store, ctx=ast.Store())],
            value=ast.Name(id=fresh["read_vars"], ctx=ast.Load())), node)] if reads else \
            [ast.copy_location(ast.Pass(), node)]
        manager = item.context_expr
        if getattr(node, "xf_joined", False):
            manager = ast.Call(func=ast.Attribute(value=ast.Name(id="ag__", ctx=ast.Load()),
                                                  attr="joined", ctx=ast.Load()),
                               args=[manager], keywords=[])
        return templates.replace(
            _WITH, node, manager=manager, target=target, body=node.body,
            reads=ast.Tuple(elts=[ast.Name(id=r, ctx=ast.Load()) for r in reads],
                            ctx=ast.Load()),
            read_names=reads, read_body=read_body,
            read_symbols=ast.Tuple(elts=[ast.Constant(value=r) for r in reads],
                                   ctx=ast.Load()),
            **fresh, **replacements)

    def _reads(self, node):
        """Local names the block reads (a tape may rebind a watched one to its primal)."""
        scope = self.scopes[-1]
        local = scope.bound | set(scope.undefined)
        found = set()
        for stmt in node.body:
            found |= analysis.reads(stmt)
        return sorted(n for n in found if n in local and n not in scope.globals)

    def visit_For(self, node):
        live = node.xf_live_head
        replacements = self._state([ast.Assign(targets=[node.target], value=ast.Constant(0)),
                                    *node.body], live, node)
        node.body = _visit_block(self, node.body)
        # break/return flags, then exits hoisted from the body's top (loop_exits.py)
        stops = {f"xf_stop_{i}": test for i, test in enumerate(
            getattr(node, "xf_stop_tests", []))}
        terms = [f"not {flag}" for flag in getattr(node, "xf_stop_flags", [])] + \
            [f"not {name}" for name in stops]
        if terms:
            extra_test = templates.replace_expr("lambda: " + " and ".join(terms), node, **stops)
        else:
            extra_test = ast.Constant(value=None)
        # a test of the next element, (lambda target: c, record), from loop_exits.py
        stop_on = ast.Constant(value=None)
        if hasattr(node, "xf_stop_on"):
            test, record = node.xf_stop_on
            stop_on = ast.copy_location(ast.Tuple(elts=[test, templates.name(record, node)],
                                                  ctx=ast.Load()), node)
        fresh = self._names(("loop_body", "get_state", "set_state", "itr"))
        return templates.replace(_FOR, node, iterable=node.iter, target=node.target,
                                 extra_test=extra_test, body=node.body, stop_on=stop_on,
                                 **fresh, **replacements)


_WITH = """
def with_body(itr):""" + _DECLARE + """    target = itr
    body
""" + _STATE + """
def get_reads():
    return reads
def set_reads(read_vars):
    nonlocal read_names
    read_body
ag__.with_stmt(manager, with_body, get_state, set_state, symbols, n_out, get_reads, set_reads,
               read_symbols)
"""


def _split_with(node):
    """`with a as x, b as y: body` -> `with a as x: with b as y: body`, the inner marked as
    joined to the outer (two tapes of one statement record the block together)."""
    if len(node.items) == 1:
        return node
    inner = ast.copy_location(ast.With(items=node.items[1:], body=node.body), node)
    inner.xf_joined = True
    outer = ast.With(items=node.items[:1], body=[_split_with(inner)])
    outer.xf_joined = getattr(node, "xf_joined", False)
    return ast.copy_location(outer, node)


def _with_live(node):
    """Everything a with-block writes is an output: its state must survive the manager."""
    names, _ = analysis.writes(node.body)
    target = node.items[0].optional_vars
    bound = {n.id for n in ast.walk(target) if isinstance(n, ast.Name)} if target else set()
    return set(names) | bound


def _visit_block(visitor, stmts):
    return [s for stmt in stmts for s in _as_list(visitor.visit(stmt))]


def _as_list(result):
    return result if isinstance(result, list) else [result]


def transform(node, namer):
    return _ControlFlow(namer).visit(node)
