"""`x[i:i+k]` -> `ag__.get_window(x, ag__.Span(i, i+k, k), text)`: a slice whose bounds differ
by an expression free of its start, so that a traced start still gives a fixed-size window.

TF slices with tensor bounds at run time (a strided slice of dynamic size); a jax.Array
needs static bounds, so `predictions[:, i:i+1]` in a `tf.range` loop failed. Here the
bounds are read as polynomials over the pure sub-expressions they are made of: where a
term of the start cancels in `stop - start` (`i:i+1`, `t-w:t`, `i*k:(i+1)*k`), the
difference is the window's size, and the operator slices at the traced start with
lax.dynamic_slice (operators/windows.py). Other subscripts stay as written.

The Span keeps both bounds as written, so untraced starts slice with the user's own key;
a size with names is a thunk, as `p+'z'` minus `p+'a'` (pandas labels) is no value at all.
"""

from __future__ import annotations

import ast
import copy

from xlaflow.autograph.pyct import beside_loops, templates


def _pure(node):
    """Whether evaluating `node` again gives the same value and has no effect: names,
    constants, attribute chains, constant subscripts and arithmetic of those."""
    if isinstance(node, (ast.Name, ast.Constant)):
        return True
    if isinstance(node, ast.Attribute):
        return _pure(node.value)
    if isinstance(node, ast.Subscript):
        return _pure(node.value) and not isinstance(node.slice, ast.Slice) and \
            _pure(node.slice)
    if isinstance(node, ast.Tuple):
        return all(_pure(e) for e in node.elts)
    if isinstance(node, ast.BinOp):
        return _pure(node.left) and _pure(node.right)
    if isinstance(node, ast.UnaryOp):
        return _pure(node.operand)
    return False


def _product(a, b):
    out = {}
    for ma, ca in a.items():
        for mb, cb in b.items():
            key = tuple(sorted(ma + mb))
            out[key] = out.get(key, 0) + ca * cb
    return out


def _sum(a, b, sign=1):
    out = dict(a)
    for mono, coeff in b.items():
        out[mono] = out.get(mono, 0) + sign * coeff
    return {mono: coeff for mono, coeff in out.items() if coeff}


def _polynomial(node, atoms):
    """`node` as {monomial (sorted atom keys): integer coefficient}, or None when it is not
    pure. Atoms are the pure parts other than +, -, * and integer literals."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return {(): node.value} if node.value else {}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _polynomial(node.operand, atoms)
        if inner is None or isinstance(node.op, ast.UAdd):
            return inner
        return {mono: -coeff for mono, coeff in inner.items()}
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
        left, right = _polynomial(node.left, atoms), _polynomial(node.right, atoms)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Mult):
            return {m: c for m, c in _product(left, right).items() if c}
        return _sum(left, right, 1 if isinstance(node.op, ast.Add) else -1)
    if not _pure(node):
        return None
    key = ast.dump(node)
    atoms[key] = node
    return {(key,): 1}


def _expression(poly, atoms, origin):
    """The AST of `poly` (what `stop - start` leaves: the window's size)."""
    total = None
    for mono, coeff in sorted(poly.items()):
        term = ast.Constant(value=abs(coeff)) if not mono or abs(coeff) != 1 else None
        for key in mono:
            atom = copy.deepcopy(atoms[key])
            term = atom if term is None else ast.BinOp(left=term, op=ast.Mult(), right=atom)
        if total is None:
            total = term if coeff > 0 else ast.UnaryOp(op=ast.USub(), operand=term)
        else:
            total = ast.BinOp(left=total, op=ast.Add() if coeff > 0 else ast.Sub(),
                              right=term)
    total = ast.Constant(value=0) if total is None else total
    return ast.fix_missing_locations(ast.copy_location(total, origin))


def _size(part):
    """The size expression of a slice `part` whose start cancels in `stop - start`, or None."""
    if not isinstance(part, ast.Slice) or part.lower is None or part.upper is None or \
            part.step is not None:
        return None
    atoms = {}
    start, stop = _polynomial(part.lower, atoms), _polynomial(part.upper, atoms)
    if start is None or stop is None:
        return None
    shared = [m for m, c in start.items() if m and stop.get(m) == c]
    if not shared:
        return None
    return _expression(_sum(stop, start, -1), atoms, part)


def _as_value(part):
    """A key element as an expression of its own (a Slice is only valid inside [...])."""
    if not isinstance(part, ast.Slice):
        return part
    none = ast.Constant(value=None)
    return templates.replace_expr("ag__.py_slice(lower, upper, step)", part,
                                  lower=part.lower or none, upper=part.upper or none,
                                  step=part.step or none)


def _span(part, size):
    """`ag__.Span(start, stop, size)`: the size a thunk unless it is an int literal, so that
    it is computed only for a traced start (the bounds may be floats or strings eagerly)."""
    if not (isinstance(size, ast.Constant) or isinstance(size, ast.UnaryOp) and
            isinstance(size.operand, ast.Constant)):
        size = templates.replace_expr("lambda: size", part, size=size)
    return templates.replace_expr("ag__.Span(start, stop, size)", part, start=part.lower,
                                  stop=part.upper, size=size)


class _Windows(beside_loops.Transformer):
    def visit_Subscript(self, node):
        self.generic_visit(node)
        if not isinstance(node.ctx, ast.Load):
            return node
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if any(isinstance(p, ast.Starred) for p in parts):
            return node
        sizes = [_size(p) for p in parts]
        if all(s is None for s in sizes):
            return node
        elements = [_as_value(p) if s is None else _span(p, s) for p, s in zip(parts, sizes)]
        key = ast.Tuple(elts=elements, ctx=ast.Load()) \
            if isinstance(node.slice, ast.Tuple) else elements[0]
        return templates.replace_expr("ag__.get_window(target, key, text)", node,
                                      target=node.value, key=key,
                                      text=ast.Constant(value=ast.unparse(node)))


def transform(node):
    node.body = [_Windows().visit(s) for s in node.body]
    return node
