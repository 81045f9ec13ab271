"""Convert one function: parse, run the converters in order, compile with its own closure.

The compiled code is cached per code object, so converting the same function again (or
another closure of the same `def`) never re-parses; each function object gets its own
instance bound to its globals, defaults and closure cells (live, not copied). What the
converters read of the globals (which names they bind, what `jnp.abs` resolves to) is
checked on each use: other or rebound globals get code converted for them.
"""

from __future__ import annotations

import ast
import time
import types

from xlaflow.autograph import operators
from xlaflow.autograph.converters import (
    asserts,
    break_continue,
    calls,
    canonical,
    control_flow,
    lists,
    logical,
    loop_exits,
    matches,
    returns,
    watches,
    windows,
)
from xlaflow.autograph.operators.calls import CONVERTED
from xlaflow.autograph.pyct import naming, parsing, purity

_FACTORY = "__xf_autograph_factory"
_AG_CELL = types.CellType(operators)


class Compiled:
    """The converted code of one `def` and what produced it."""

    __slots__ = ("calls", "code", "outer", "seconds", "source")

    def __init__(self, code, source, seconds, builtins, module_globals, calls):
        self.code, self.source, self.seconds = code, source, seconds
        # The globals the converters saw: whether they bind the builtins the body reads,
        # and the objects the calls taken as pure (purity.pure_calls) resolved to.
        self.outer = tuple((name, name in module_globals) for name in builtins)
        self.calls = tuple((path, purity.resolve(path, module_globals)) for path in calls)

    def fits(self, module_globals):
        """Whether this code was converted for what `module_globals` binds now (checked on
        every conversion: plain loops, as this runs once per converted call)."""
        for name, bound in self.outer:
            if (name in module_globals) is not bound:
                return False
        for path, obj in self.calls:
            if purity.resolve(path, module_globals) is not obj:
                return False
        return True


_by_code = {}
# The converted function is kept on the original (in its __dict__), so that the two are
# freed together. A weak-key dictionary could not hold it: the converted function refers
# back to its key (`__wrapped__`), so every lambda converted once stayed alive for good.
_CONVERTED = "__xf_autograph_converted__"


def forget(fn):
    """Drop `fn`'s converted function (the benchmark converts afresh)."""
    fn.__dict__.pop(_CONVERTED, None)


def _own_scope(node):
    """The nodes of a def's own scope (nested defs, lambdas and classes left out)."""
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                  ast.ClassDef)):
            yield child
            yield from _own_scope(child)


def _set_aside_generators(node, kept, root=True):
    """Replace the bodies of nested generator defs by a marker: they run as Python (a
    converted loop around `yield` would turn the loop body into the generator)."""
    if not root and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
            isinstance(n, (ast.Yield, ast.YieldFrom)) for n in _own_scope(node)):
        key = f"__xf_generator_{len(kept)}"
        kept[key], node.body = node.body, [ast.Expr(ast.Constant(key))]
        return
    for child in ast.iter_child_nodes(node):
        _set_aside_generators(child, kept, root=False)


def _restore_generators(node, kept):
    for def_ in ast.walk(node):
        if isinstance(def_, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for stmt in def_.body:
                if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and \
                        stmt.value.value in kept:
                    def_.body = kept.pop(stmt.value.value)
                    break


def transform(node):
    """The converter pipeline over a parsed `def` (order matters: see each module)."""
    generators = {}
    _set_aside_generators(node, generators)
    node = _transform(node)
    _restore_generators(node, generators)
    return node


def _transform(node):
    namer = naming.Namer(node)
    node = canonical.transform(node)
    node = matches.transform(node)  # value patterns -> if/elif, for the passes below
    node = asserts.transform(node)
    node = lists.transform(node)
    node = watches.transform(node)
    node = loop_exits.transform(node, namer)
    node = break_continue.transform(node, namer)
    node = returns.transform(node, namer)
    node = windows.transform(node)  # before calls: its messages quote the source as written
    node = calls.transform(node)
    node = control_flow.transform(node, namer)
    node = logical.transform(node)
    return node


def compiled(fn):
    """The converted code for `fn`'s code object (converted once for the globals it relies
    on, then cached)."""
    code = fn.__code__
    for entry in _by_code.get(code, ()):
        if entry.fits(fn.__globals__):
            return entry
    start = time.perf_counter()
    entry = compile_def(parsing.parse_function(fn), code, fn.__globals__, start)
    _by_code.setdefault(code, []).append(entry)
    return entry


def compile_def(node, code, module_globals, start, epilogue=()):
    """Convert the parsed `def` `node` of `code` (its file, name and free variables) for
    `module_globals`; `start` is when the conversion began (perf_counter), for its cost.
    `epilogue`: statements appended to the converted body as they are."""
    shown = node.name
    # Defined in the factory under another name: the function's own name inside its body
    # (a recursive call) must stay a global lookup, as in the original, not a closure.
    node.name = "__xf_converted"
    node.xf_name = shown  # for messages
    # Names the body may read from its closure or module rather than from builtins
    node.xf_outer_names = frozenset(code.co_freevars) | frozenset(module_globals)
    node.xf_pure_calls = pure_calls = purity.pure_calls(node, module_globals, code.co_freevars)
    relied_on = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} & \
        loop_exits.BUILTINS_RELIED_ON
    node = transform(node)
    node.body.extend(epilogue)
    factory = ast.FunctionDef(
        name=_FACTORY, args=ast.arguments(
            posonlyargs=[], args=[ast.arg(arg=n) for n in ("ag__", *code.co_freevars)],
            vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]),
        body=[node, ast.Return(value=ast.Name(id=node.name, ctx=ast.Load()))],
        decorator_list=[], returns=None, type_params=[])
    ast.copy_location(factory, node)
    module = ast.fix_missing_locations(ast.Module(body=[factory], type_ignores=[]))
    try:
        module_code = compile(module, code.co_filename, "exec", dont_inherit=True)
    except SyntaxError as e:
        raise parsing.ConversionError(
            f"AutoGraph cannot convert {code.co_qualname!r}: {e.msg} (line {e.lineno}). "
            "Opt out with @xf.autograph.do_not_convert.") from e
    factory_code = _child(module_code, _FACTORY)
    inner = _child(factory_code, node.name).replace(co_name=code.co_name,
                                                     co_qualname=code.co_qualname)
    node.name = shown
    return Compiled(inner, ast.unparse(node), time.perf_counter() - start, relied_on,
                    module_globals, pure_calls)


def _child(code, name):
    return next(c for c in code.co_consts if isinstance(c, types.CodeType) and c.co_name == name)


def convert(fn):
    """The converted function for the plain Python function `fn` (cached per function)."""
    converted = fn.__dict__.get(_CONVERTED)
    entry = compiled(fn)
    # not one copied by wraps(), nor one converted for what the globals bound before
    if converted is not None and converted.__wrapped__ is fn and \
            converted.__code__ is entry.code:
        return converted
    cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or ()))
    closure = tuple(_AG_CELL if name == "ag__" else cells[name] for name in entry.code.co_freevars)
    converted = types.FunctionType(entry.code, fn.__globals__, fn.__name__, fn.__defaults__,
                                   closure)
    converted.__kwdefaults__ = fn.__kwdefaults__
    converted.__dict__.update((k, v) for k, v in fn.__dict__.items() if k != _CONVERTED)
    converted.__doc__, converted.__qualname__ = fn.__doc__, fn.__qualname__
    converted.__module__, converted.__wrapped__ = fn.__module__, fn
    setattr(converted, CONVERTED, True)
    fn.__dict__[_CONVERTED] = converted
    return converted
