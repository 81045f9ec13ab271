"""Source of a function as an AST whose line numbers are the original file's.

Functions (and methods, nested functions, decorated functions) are parsed from
`inspect.getsource`; a lambda is rebuilt as a `def` from its code object's signature and the
exact source span of its body (Python 3.11 code positions), so several lambdas on one line
are told apart; one that only returns a constant is rebuilt from its code alone.
"""

from __future__ import annotations

import ast
import dis
import functools
import inspect
import linecache


class ConversionError(Exception):
    """AutoGraph could not convert a function; the message says why and what to do."""


class UnsupportedConstructError(ConversionError, NotImplementedError):
    """The function uses a construct that has no compiled form (a generator). Also a
    NotImplementedError, which TF raises for these, so TF code that catches it still does."""


_NO_SOURCE = (
    "AutoGraph cannot convert {name!r}: {why}. Define it in a file or notebook cell, or opt "
    "out with xf.function(..., autograph=False) or @xf.autograph.do_not_convert."
)


def parse_function(fn):
    """The `ast.FunctionDef` of `fn`, with line numbers of `fn`'s own source file."""
    code = fn.__code__
    if code.co_name == "<lambda>":
        return _parse_lambda(fn)
    try:
        # From the code object: inspect would follow __wrapped__ to a decorated original.
        lines, first = inspect.getsourcelines(code)
    except (OSError, TypeError) as e:
        raise ConversionError(_NO_SOURCE.format(name=fn.__qualname__,
                                                why="its source code is not available")) from e
    # An indented def (a method, a nested function) is parsed as the body of an `if`, not
    # dedented: its columns stay the file's, which a lambda inside it is found by once the
    # converted code runs (see _parse_lambda), and a string's continuation lines at column
    # 0 do not stop a dedent.
    indented = lines[0][:1].isspace()
    source = "".join(lines)
    try:
        tree = ast.parse("if 1:\n" + source if indented else source)
    except SyntaxError as e:
        raise ConversionError(_NO_SOURCE.format(name=fn.__qualname__,
                                                why=f"its source does not parse ({e.msg})")) from e
    if indented:
        first -= 1  # the added `if 1:` line
        tree.body = tree.body[0].body
    node = tree.body[0]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name != code.co_name:
        raise ConversionError(_NO_SOURCE.format(
            name=fn.__qualname__, why="its source does not start with its `def`"))
    if isinstance(node, ast.AsyncFunctionDef):
        raise ConversionError(_NO_SOURCE.format(name=fn.__qualname__,
                                                why="async functions cannot be compiled"))
    ast.increment_lineno(tree, first - 1)
    node.decorator_list = []  # already applied to the function we were given
    return node


def _parse_lambda(fn):
    code = fn.__code__
    constant = _returned_constant(code)
    if constant is not None:
        line = code.co_firstlineno
        body = ast.Constant(value=constant[0], lineno=line, col_offset=0, end_lineno=line,
                            end_col_offset=0)
        return _lambda_def(code, body)
    # Zero-width positions belong to the lambda's entry/exit instructions, not its body.
    positions = [p for p in code.co_positions() if None not in p and (p[1], p[3]) > (p[0], p[2])]
    if not positions:
        raise ConversionError(_NO_SOURCE.format(name="<lambda>",
                                                why="its source positions are not available"))
    start = min((p[0], p[2]) for p in positions)
    end = max((p[1], p[3]) for p in positions)
    lines = [linecache.getline(code.co_filename, n) for n in range(start[0], end[0] + 1)]
    if not all(lines):
        raise ConversionError(_NO_SOURCE.format(name="<lambda>",
                                                why="its source code is not available"))
    body = _lambda_body_in_file(code.co_filename, start, end)
    if body is None:  # the file no longer parses as it did: cut the body out by position
        lines[-1] = lines[-1][:end[1]]
        lines[0] = lines[0][start[1]:]
        text = "".join(lines)
        try:
            body = ast.parse("(" + text + ")", mode="eval").body
        except SyntaxError as e:
            raise ConversionError(_NO_SOURCE.format(
                name="<lambda>", why=f"its body could not be isolated ({e.msg})")) from e
        ast.increment_lineno(body, start[0] - 1)
    return _lambda_def(code, body)


def _returned_constant(code):
    """(value,) when the lambda's code only returns a constant (`lambda row: 0`), else None.
    Python 3.12 compiles such a body to one RETURN_CONST without a source position, so it
    cannot be found by position; it has nothing to convert either."""
    ops = [i for i in dis.get_instructions(code) if i.opname not in ("RESUME", "NOP")]
    if len(ops) == 1 and ops[0].opname == "RETURN_CONST":
        return (ops[0].argval,)
    if len(ops) == 2 and ops[0].opname == "LOAD_CONST" and ops[1].opname == "RETURN_VALUE":
        return (ops[0].argval,)
    return None


def _lambda_def(code, body):
    node = ast.FunctionDef(name="<lambda>", args=_arguments(code), body=[ast.Return(value=body)],
                           decorator_list=[], returns=None, type_comment=None, type_params=[])
    ast.copy_location(node, body)
    ast.copy_location(node.body[0], body)
    ast.fix_missing_locations(node)
    return node


def _lambda_body_in_file(filename, start, end):
    """The body of the innermost lambda in the file whose source span holds the positions
    `start`..`end` of its code. Parsing the whole source keeps parentheses that the code's
    positions leave out (`lambda v: -v if v > 0 else (v)`)."""
    tree = _parse_file(filename, "".join(linecache.getlines(filename)))
    if tree is None:
        return None
    best = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Lambda):
            body = node.body
            if (body.lineno, body.col_offset) <= start and \
                    (body.end_lineno, body.end_col_offset) >= end and (
                    best is None or (body.lineno, body.col_offset) >= (
                        best.lineno, best.col_offset)):
                best = body
    return best


@functools.lru_cache(maxsize=8)  # a file's lambdas are usually converted one after another
def _parse_file(filename, text):
    try:
        return ast.parse(text, filename)
    except (SyntaxError, ValueError):
        return None


def _arguments(code):
    names = code.co_varnames
    flags = code.co_flags
    n_pos, n_posonly, n_kw = code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount
    args = [ast.arg(arg=n) for n in names[:n_pos]]
    kwonly = [ast.arg(arg=n) for n in names[n_pos:n_pos + n_kw]]
    index = n_pos + n_kw
    vararg = kwarg = None
    if flags & inspect.CO_VARARGS:
        vararg, index = ast.arg(arg=names[index]), index + 1
    if flags & inspect.CO_VARKEYWORDS:
        kwarg = ast.arg(arg=names[index])
    return ast.arguments(posonlyargs=args[:n_posonly], args=args[n_posonly:], vararg=vararg,
                         kwonlyargs=kwonly, kw_defaults=[None] * n_kw, kwarg=kwarg, defaults=[])
