"""Eager `with xf.GradientTape() as tape:` blocks, recorded by converting them on entry.

The tape is a compile-time rewrite: AutoGraph hands it the block as a function. Code nobody
converted (a notebook cell, a script, a plain function called eagerly) enters the tape as a
plain `with`, so the tape converts the block itself from its source, as AutoGraph does in
an xf.function: it runs the converted block on the frame's locals, writes the names the
block binds back into the frame and skips the original body (a trace function raises at
the instruction after the tape's enter; the tape's `__exit__` swallows that). The block's
results are concrete values; inside the block values are traced, as in an xf.function.
"""

from __future__ import annotations

import ast
import copy
import ctypes
import dis
import inspect
import linecache
import sys
import threading
import time
import types

import jax

from xlaflow.autograph import conversion
from xlaflow.autograph.operators.variables import Undefined
from xlaflow.autograph.pyct import analysis, parsing

_TAPE = "__xf_tape"
_CACHE_SIZE = 256  # notebooks make a new code object per cell run: keep the newest only
_blocks = {}  # (code, instruction offset) -> _Block, or why it is refused (a str)
# One thread at a time parses, converts and caches blocks: once each, and CPython 3.11's
# ast.parse is not safe to run in two threads at once (SystemError "AST constructor
# recursion depth mismatch").
_converting = threading.RLock()
_pending = threading.local()  # .records: this thread's entered blocks, innermost last
_REARM_TRACE = sys.version_info >= (3, 12)  # see _skip_body
_SET_FAST = sys.version_info < (3, 13)  # from 3.13 frame.f_locals writes through (PEP 667)


class _SkipBody(BaseException):
    """Raised right after an eager block's tape is entered: the converted block already ran
    (the rest of the `with` statement's items and its body)."""


class CannotRecord(Exception):
    """Why an eager block cannot be converted; the tape's error says it."""


def _remember(cache, key, value):
    if len(cache) >= _CACHE_SIZE:
        del cache[next(iter(cache))]
    cache[key] = value
    return value


class _Block:
    """One eager `with` statement as its source says, item `index` being the tape."""

    def __init__(self, frame, index):
        code = frame.f_code
        lines = linecache.getlines(code.co_filename, frame.f_globals)
        if not lines:
            raise CannotRecord("its source cannot be read (code made by exec() or compile() "
                               "from a string, or typed at the interactive prompt)")
        tree = parsing._parse_file(code.co_filename, "".join(lines))
        position = _position(frame.f_code, frame.f_lasti)
        node = tree and next((n for n in ast.walk(tree) if isinstance(n, ast.With) and (
            n.lineno, n.end_lineno, n.col_offset, n.end_col_offset) == position), None)
        if node is None:
            raise CannotRecord("its `with` statement is not in the source file as loaded "
                               "(was the file edited since?)")
        index %= len(node.items)  # see _item_index
        item = node.items[index]
        if node.body[0].lineno <= (item.optional_vars or item.context_expr).end_lineno:
            raise CannotRecord("the block's body starts on the `with` line: put it on the "
                               "lines below")
        _refuse_exits(node.body)
        self.node, self.index = node, index
        self.body = body = _explicit_super(node.body, code)
        self.stores = _bound_names(node.items[index:], body)
        self.loads = {n.id for part in (*node.items[index + 1:], *body)
                      for n in ast.walk(part) if isinstance(n, ast.Name)}
        # `tape.watch(x)` rebinds a local x (converters/watches.py): a global x is passed in
        self.watched = {n.args[0].id for stmt in body for n in ast.walk(stmt)
                        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                        and n.func.attr == "watch" and len(n.args) == 1
                        and isinstance(n.args[0], ast.Name)}
        if code.co_flags & inspect.CO_OPTIMIZED:
            declared = self.stores & _global_writes(code)
            if declared:
                raise CannotRecord(f"it assigns {sorted(declared)}, declared `global` in "
                                   f"{code.co_name!r}")
            if _deletes(node.body):
                raise CannotRecord("it deletes a local name (`del`), which cannot be "
                                   "written back into a function's frame")
        # a function's local names: one the block only reads is that local, never a global
        self.frame_locals = set(code.co_varnames) | set(code.co_cellvars) | set(
            code.co_freevars) if code.co_flags & inspect.CO_OPTIMIZED else set()
        # a class body's names from the function around it, which its f_locals leaves out
        self.hidden = set() if code.co_flags & inspect.CO_OPTIMIZED else \
            (self.loads - self.stores) & set(code.co_freevars)
        self._compiled = {}

    def params(self, frame, namespace):
        """The names the converted block takes as arguments: those it reads or binds that
        the frame binds now (in a module's frame, the ones it only reads are globals)."""
        names = self.stores | (self.watched if namespace is frame.f_globals else self.loads)
        return tuple(sorted(n for n in names if n in namespace))

    def unbound(self, namespace):
        """The function's locals the block reads but neither binds nor finds bound now: in
        Python reading them raises, so the converted block must not read a global instead."""
        names = (self.loads & self.frame_locals) - self.stores
        return tuple(sorted(n for n in names if n not in namespace))

    def function(self, frame, params, unbound=()):
        """The converted block as `f(tape, *params) -> its locals`, for the frame's globals;
        the `unbound` names are its own locals, never bound."""
        key = (params, unbound)
        entry = self._compiled.get(key)
        if entry is None or not entry.fits(frame.f_globals):
            entry = _remember(self._compiled, key, self._convert(frame, params, unbound))
        return types.FunctionType(entry.code, frame.f_globals, entry.code.co_name, None,
                                  (conversion._AG_CELL,))

    def _convert(self, frame, params, unbound):
        start = time.perf_counter()
        items = [ast.withitem(context_expr=ast.Name(id=_TAPE, ctx=ast.Load()),
                              optional_vars=self.node.items[self.index].optional_vars),
                 *self.node.items[self.index + 1:]]
        with_ = ast.copy_location(ast.With(items=items, body=self.body), self.node)
        args = ast.arguments(posonlyargs=[], args=[ast.arg(arg=n) for n in (_TAPE, *params)],
                             vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None,
                             defaults=[])
        code = frame.f_code
        name = "tape_block" if code.co_name.startswith("<") else f"{code.co_name}.tape_block"
        # A read of every name the block binds, after it: the converters carry out of the
        # block's own ifs and loops only what is read later.
        reads = ast.copy_location(ast.Expr(ast.Tuple(
            [ast.Name(id=n, ctx=ast.Load()) for n in sorted(self.stores)], ast.Load())),
            self.node)
        # The converters rewrite the tree in place: they get a copy, so that the parsed
        # file (cached, and shared with lambdas' lookup) and a later conversion of this
        # block for other parameters read the source as written.
        node = ast.copy_location(ast.FunctionDef(
            name="tape_block", args=args, body=copy.deepcopy([with_, reads]),
            decorator_list=[], returns=None, type_params=[]), self.node)
        stand_in = types.SimpleNamespace(co_filename=code.co_filename, co_name="tape_block",
                                         co_qualname=name, co_freevars=())
        # After conversion, or locals() would be a converted call reading another frame's.
        epilogue = [ast.copy_location(ast.Return(ast.Call(
            ast.Name(id="locals", ctx=ast.Load()), args=[], keywords=[])), self.node)]
        if unbound:  # never run: a `del` makes them locals, so reading one raises as in Python
            epilogue.append(ast.copy_location(ast.Delete(
                [ast.Name(id=n, ctx=ast.Del()) for n in unbound]), self.node))
        return conversion.compile_def(node, stand_in, frame.f_globals, start, epilogue)


def _is_bare_super(node):
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
        node.func.id == "super" and not node.args and not node.keywords


def _explicit_super(body, code):
    """`body` with a method's `super()` spelled `super(__class__, self)`: the converted block
    is a function of its own, whose bare super() would look for its own first argument (the
    tape) and class cell (none). The copy leaves the parsed file's tree as it is."""
    if "__class__" not in code.co_freevars or not code.co_argcount or \
            not any(_is_bare_super(n) for n in _own_scope(body)):
        return body
    body = [copy.deepcopy(stmt) for stmt in body]
    for node in _own_scope(body):
        if _is_bare_super(node):
            node.args = [ast.copy_location(ast.Name(id=name, ctx=ast.Load()), node)
                         for name in ("__class__", code.co_varnames[0])]
    return body


def _position(code, offset):
    """(lineno, end_lineno, col, end_col) of the instruction at `offset`: for the one
    entering a context manager, the span of its whole `with` statement."""
    for index, position in enumerate(code.co_positions()):
        if 2 * index == offset:
            return position
    return None


def _item_index(code, offset):
    """How many enters of its `with` statement come before the instruction at `offset`, or
    None when it is not a `with` entering (an explicit `tape.__enter__()` call). Modulo the
    statement's items, the item it enters: the compiler emits a statement in a `finally:`
    once per way in (normally, and during an exception), each copy entering every item."""
    target, index = _position(code, offset), 0
    for ins in dis.get_instructions(code):
        if ins.offset == offset:
            return index if ins.opname == "BEFORE_WITH" else None
        if ins.opname == "BEFORE_WITH" and _position(code, ins.offset) == target:
            index += 1
    return None


def _own_scope(nodes):
    """The nodes run in the block's own scope (nested defs, lambdas, classes and
    comprehensions are entered only for the names they bind outside)."""
    for node in nodes:
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from _own_scope([d for d in (*getattr(node, "decorator_list", ()),
                                               *node.args.defaults, *node.args.kw_defaults)
                                   if d is not None])
        elif isinstance(node, ast.ClassDef):
            yield from _own_scope([*node.decorator_list, *node.bases,
                                   *(k.value for k in node.keywords)])
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            # only a walrus binds in the enclosing scope
            yield from (n for n in ast.walk(node) if isinstance(n, ast.NamedExpr))
        else:
            yield from _own_scope(ast.iter_child_nodes(node))


def _bound_names(items, body):
    """Every name the `with` items' targets and the block's statements bind or delete (the
    converters' own analysis.writes), and except handlers' names, which Python deletes."""
    statement = ast.With(items=list(items), body=list(body))
    names = set(analysis.writes([statement])[0])
    names.update(node.name for node in _own_scope(body)
                 if isinstance(node, ast.ExceptHandler) and node.name)
    return names


def _refuse_exits(body):
    """Statements that would leave the frame or its loop from inside the converted block."""
    def visit(nodes, in_loop):
        for node in nodes:
            line = f"line {getattr(node, 'lineno', '?')}"
            if isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom, ast.Await)):
                raise CannotRecord(f"the block has a `{_keyword(node)}` ({line}); it runs as "
                                   "a function of its own, which cannot leave yours")
            if isinstance(node, (ast.Break, ast.Continue)) and not in_loop:
                raise CannotRecord(f"the block has a `{_keyword(node)}` for a loop around "
                                   f"it ({line})")
            if isinstance(node, (ast.Global, ast.Nonlocal, ast.AsyncWith, ast.AsyncFor)):
                raise CannotRecord(f"the block has a `{_keyword(node)}` statement ({line})")
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                 ast.ClassDef)):
                continue
            loop = isinstance(node, (ast.For, ast.While))
            for field, value in ast.iter_fields(node):
                children = value if isinstance(value, list) else [value]
                children = [c for c in children if isinstance(c, ast.AST)]
                # a loop's `else:` belongs to the code around the loop
                visit(children, in_loop or (loop and field == "body"))
    visit(body, False)


def _keyword(node):
    return {ast.Return: "return", ast.Yield: "yield", ast.YieldFrom: "yield from",
            ast.Await: "await", ast.Break: "break", ast.Continue: "continue",
            ast.Global: "global", ast.Nonlocal: "nonlocal", ast.AsyncWith: "async with",
            ast.AsyncFor: "async for"}[type(node)]


def _deletes(body):
    return any(isinstance(n, ast.Name) and isinstance(n.ctx, ast.Del)
               for n in _own_scope(body))


def _global_writes(code):
    return {ins.argval for ins in dis.get_instructions(code)
            if ins.opname in ("STORE_GLOBAL", "DELETE_GLOBAL")}


# -- entering and leaving ------------------------------------------------------------------
def enter(tape, frame):
    """Record `tape`'s block entered eagerly in `frame`, or raise CannotRecord."""
    records = _records()
    if sys.version_info < (3, 11):
        raise CannotRecord("finding the block needs Python 3.11's instruction positions")
    code, offset = frame.f_code, frame.f_lasti
    index = _item_index(code, offset)
    if index is None:
        raise CannotRecord("it is entered by a call to __enter__(), not a `with` statement")
    namespace = frame.f_locals
    with _converting:
        block = _blocks.get((code, offset))
        if block is None:
            try:
                block = _Block(frame, index)
            except CannotRecord as exc:
                # its reason only: a kept exception would keep the frames of every raise of
                # it (its traceback grows each time), and with them their locals
                block = str(exc)
            _remember(_blocks, (code, offset), block)
        if isinstance(block, str):
            raise CannotRecord(block)
        hidden = sorted(n for n in block.hidden if n not in namespace)
        if hidden:
            raise CannotRecord(
                f"it reads {hidden} from the function around the class body, which the "
                "class body's frame does not show: bind them to names of the class body "
                f"first (`my_{hidden[0]} = {hidden[0]}`)")
        params = block.params(frame, namespace)
        function = block.function(frame, params, block.unbound(namespace))
    try:
        bound = function(tape, *(namespace[name] for name in params))
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError,
            AttributeError) as exc:
        if isinstance(exc, AttributeError) and "Tracer" not in str(exc):
            raise
        exc.add_note(
            f"xf.GradientTape: the eager block at {frame.f_code.co_filename}, line "
            f"{block.node.lineno} is recorded as a function, so its values are traced there "
            "as in an xf.function (TF's eager tape gives concrete ones): read them (.numpy(), "
            "float()) after the block, and print inside it with print or xf.print")
        raise
    bound = {k: v for k, v in bound.items() if type(v) is not Undefined}
    written = {name: bound[name] for name in block.stores if name in bound}
    gone = [name for name in block.stores if name not in bound and name in namespace]
    _skip_body(frame, written, gone, records)
    return tape


def exit_(tape, frame, exc_type):
    """Leave an eagerly entered block: True where the exception is the body's skip."""
    records = _records()
    record = next((r for r in reversed(records) if r["frame"] is frame), None)
    if record is None:
        return False
    records.remove(record)
    _restore_tracing(frame, record)
    if exc_type is None or exc_type is _SkipBody:
        _write_back(frame, record["written"], record["gone"])
    return exc_type is _SkipBody


def _records():
    records = getattr(_pending, "records", None)
    if records is None:
        records = _pending.records = []
    return records


def _skip_body(frame, written, gone, records):
    """Raise _SkipBody at the frame's next instruction, the one after entering the tape.

    Its first instruction, not its first line: the `with` statement's handler covers the
    instructions after the enter, but not a body line's own NOP (a leading `try:` or a
    lone `pass`), and a line event would come only after the later items of the statement
    were entered a second time (the converted block entered them) or, where a tracer turned
    the frame's line events off, never."""
    record = {"frame": frame, "written": written, "gone": gone, "global": sys.gettrace(),
              "local": frame.f_trace, "opcodes": frame.f_trace_opcodes}

    def at_next(traced, event, arg):
        if traced is frame and event == "opcode":
            raise _SkipBody
        return at_next

    records.append(record)
    frame.f_trace_opcodes = True
    frame.f_trace = at_next
    # A frame's f_trace is only called while a thread trace function is set, and from 3.12
    # (sys.monitoring underneath) opcode events only reach a frame asking for them since
    # the last sys.settrace: set one after the request, a debugger's own again if it has one.
    if record["global"] is None:
        sys.settrace(_no_tracing)
    elif _REARM_TRACE:
        sys.settrace(record["global"])


def _no_tracing(frame, event, arg):
    return None


def _restore_tracing(frame, record):
    """Put back the frame's and the thread's trace functions (Python clears both when a
    trace function raises, as at_next does: a debugger's are set again)."""
    frame.f_trace = record["local"]
    frame.f_trace_opcodes = record["opcodes"]
    if sys.gettrace() is not record["global"]:
        sys.settrace(record["global"])


def _write_back(frame, written, gone):
    """Bind the block's names in the frame: its namespace dict, or a function's fast
    locals (which a frame's f_locals dict is only a copy of before Python 3.13)."""
    namespace = frame.f_locals
    namespace.update(written)
    for name in gone:
        namespace.pop(name, None)
    if _SET_FAST and frame.f_code.co_flags & inspect.CO_OPTIMIZED:
        ctypes.pythonapi.PyFrame_LocalsToFast(ctypes.py_object(frame), ctypes.c_int(0))
