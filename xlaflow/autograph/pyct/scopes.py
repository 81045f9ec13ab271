"""What one function being converted binds and shares: its parameters, global/nonlocal
declarations, names read late (by closures, generators, `finally`), and the nested helpers
that rebind its names with `nonlocal` (a block calling one carries those names too)."""

from __future__ import annotations

import ast

from xlaflow.autograph.pyct import analysis


class Scope:
    """One user function being converted: its parameters and global/nonlocal names."""

    def __init__(self, node, parent=None):
        self.params = parameters(node)
        self.globals, self.nonlocals = _declared(node)
        # Names of this function written by calling a nested function that rebinds them
        # (`nonlocal total` in a helper): helper name -> names. A block that mentions the
        # helper carries those names too. Helpers of enclosing functions count when this
        # one shadows neither the helper nor the names; those names are then not bound
        # here, like nonlocals.
        locals_ = self.params | set(analysis.writes(node.body)[0])
        own = _helper_rebinds(node, (locals_ - self.globals) | self.nonlocals)
        inherited = {} if parent is None else {
            helper: names - (locals_ - self.nonlocals)
            for helper, names in parent.helpers.items() if helper not in locals_}
        self.helpers = {**inherited, **own}
        aliases = []  # `f = add` of an inherited add: f rebinds (or shadows) what add does
        for child in analysis.own_statements(node.body):
            if isinstance(child, ast.Assign) and isinstance(child.value, ast.Name) and \
                    child.value.id in inherited:
                aliases += [(t.id, child.value.id) for t in child.targets
                            if isinstance(t, ast.Name) and t.id not in own]
        for alias, helper in aliases:
            self.helpers[alias] = inherited[helper]
        self.outer = set().union(*inherited.values()) - locals_
        # Inherited helpers rebinding a name this function (or one it is nested in)
        # shadows: a tensor block here cannot carry the enclosing function's variable.
        self.shadowed = {} if parent is None else {
            helper: names for helper, names in parent.shadowed.items()
            if helper not in locals_}
        if parent is not None:
            for helper, names in parent.helpers.items():
                if helper not in locals_ and names & (locals_ - self.nonlocals):
                    self.shadowed[helper] = self.shadowed.get(helper, set()) | (
                        names & (locals_ - self.nonlocals))
        for alias, helper in aliases:
            if helper in self.shadowed:
                self.shadowed[alias] = self.shadowed[helper]
        # Where each name is first written: a helper's names are carried by a block only
        # once they have been bound (before that, reading them would be a NameError).
        self.first_write = {}
        for child in analysis.own_statements(node.body):
            for name in analysis.writes([child])[0]:
                self.first_write[name] = min(self.first_write.get(name, child.lineno),
                                             child.lineno)
        self.undefined = {}  # names that need an Undefined binding at function entry
        self.deleted = set()  # names a `del` unbinds (converters/control_flow.py)
        self.bound = set(self.params)  # names bound by the top-level statements seen so far
        self.retval = getattr(node, "xf_retval", None)  # the return-value name, if any
        self.flag = getattr(node, "xf_return_flag", None)
        # Names read other than where liveness sees them: by nested functions, lambdas and
        # generator expressions (whenever they run), by `finally` blocks (after a return),
        # and nonlocals (by the enclosing function). Always carried out of blocks that
        # assign them, and never treated as dead once the function has returned.
        self.shared = set(self.nonlocals) | _late_reads(node)


def parameters(node):
    """The names a function's parameters bind."""
    args = node.args
    return {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg,
                            args.kwarg] if a is not None}


def _declared(node):
    """(globals, nonlocals) the function `node` declares."""
    globals_, nonlocals = set(), set()
    for child in analysis.own_statements(node.body):
        if isinstance(child, ast.Global):
            globals_.update(child.names)
        elif isinstance(child, ast.Nonlocal):
            nonlocals.update(child.names)
    return globals_, nonlocals


def _helper_rebinds(node, names):
    """Nested functions of `node` that rebind some of its `names` with `nonlocal`, directly
    or by calling one another: helper name -> the names."""
    helpers, free = {}, {}
    for child in analysis.own_statements(node.body):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            helpers[child.name] = _rebound_nonlocals(child) & names
            free[child.name] = analysis.reads(child)
    for child in analysis.own_statements(node.body):  # `f = add`: f rebinds what add does
        if isinstance(child, ast.Assign) and isinstance(child.value, ast.Name) and \
                child.value.id in helpers:
            for target in child.targets:
                if isinstance(target, ast.Name) and target.id not in helpers:
                    helpers[target.id] = set()
                    free[target.id] = {child.value.id}
    changed = True
    while changed:  # a helper calling a helper rebinds what that one does
        changed = False
        for helper, reads in free.items():
            for other in reads & helpers.keys():
                if not helpers[other] <= helpers[helper]:
                    helpers[helper] |= helpers[other]
                    changed = True
    return {helper: names for helper, names in helpers.items() if names}


def _rebound_nonlocals(fn):
    """Names `fn` (or a function nested in it) declares nonlocal and rebinds, from outside
    `fn` itself."""
    found = set()
    for inner in ast.walk(fn):
        if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)):
            _, nonlocals = _declared(inner)
            found |= nonlocals & set(analysis.writes(inner.body)[0])
    return found - (set(analysis.writes(fn.body)[0]) - _declared(fn)[1]) - parameters(fn)


def _late_reads(node):
    lazy = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.GeneratorExp)
    found = set()
    for inner in ast.walk(node):
        if inner is not node and isinstance(inner, lazy) and \
                not getattr(inner, "xf_called_at_once", False):
            found |= analysis.reads(inner)  # a nested scope's free names
        elif isinstance(inner, ast.Try):
            for stmt in inner.finalbody:
                found |= analysis.reads(stmt)
    return found
