"""The state of a traced branch or loop body: values that may cross into XLA control flow.

Names become arrays (Python numbers are converted, weakly typed); anything else is an error
that names the variable. Variables assigned inside the block are tracked through the
lifting context so their new values leave the block as outputs instead of leaking tracers.
"""

from __future__ import annotations

import collections
import contextlib
import operator
import threading

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _lifting
from xlaflow.autograph.operators.lists import Accumulator
from xlaflow.autograph.operators.variables import Undefined, UndefinedReturnValue
from xlaflow.variables import Variable

_NUMBERS = (bool, int, float, complex, np.number, np.bool_)
_VALUES = (jax.Array, np.ndarray, *_NUMBERS)  # what to_lax keeps as an array


class MoreVariables(BaseException):
    """Internal: a traced block assigned Variables it was not carrying; run it again."""

    def __init__(self, variables):
        super().__init__("xlaflow internal: carry more Variables")
        self.variables = variables


def is_variable(x):
    return isinstance(x, Variable)


def display(name):
    return name.split(":", 1)[-1]


def is_return_name(name):
    return name.startswith("return:")


def is_flag_name(name):
    """The function's return flag, in a block that runs only while it has not returned."""
    return name.startswith("flag:")


def is_plain_local(name):
    """A local name nothing reads once the function has returned (not read by a closure or
    `finally`, not an attribute, not the return machinery): labels carry no prefix."""
    return name.isidentifier()


def zeros_like_spec(spec):
    """A placeholder value of the structure, shapes and dtypes in `spec`."""
    return jax.tree_util.tree_map(lambda s: jnp.zeros(jnp.shape(s), s.dtype), spec)


def check_globals(names, what, where):
    for name in names:
        if name.startswith("global:"):
            _raise_global(f"{where}: global '{display(name)}' is rebound", what)


def _raise_global(subject, what):
    article = "an" if what.strip("`")[0] in "aeiou" else "a"
    raise SyntaxError(
        f"{subject} inside {article} {what} that depends on a tensor; XLA control flow cannot "
        "assign Python globals. Keep the value in an xf.Variable and call .assign() on it, "
        "or return it from the function.")


_tracing = threading.local()  # the tensor blocks whose branches or bodies are being traced


@contextlib.contextmanager
def traced_block(what, where):
    """Marks the tracing of a tensor `if` branch or loop body, for global_value."""
    stack = _tracing.__dict__.setdefault("blocks", [])
    stack.append((what, where))
    try:
        yield
    finally:
        stack.pop()


def global_value(name, value, function):
    """`value`, about to become (or just made) the global `name` in converted code: refused
    while a tensor block is traced if it holds a tensor, which would leak out of the block.
    Python values (a trace counter, a flag) are stored as Python would, once per trace."""
    stack = getattr(_tracing, "blocks", None)
    if stack and _holds_tracer(value):
        what, where = stack[-1]
        _raise_global(f"{where}: global '{name}' is rebound to a tensor by {function}(), "
                      "called", what)
    return value


def global_aug(name, op, current, value, function):
    """`G op= value` for a global G in converted code: the in-place operator (list +=
    extends), checked like global_value before anything changes."""
    global_value(name, value, function)
    return global_value(name, getattr(operator, op)(current, value), function)


def _holds_tracer(value, depth=4):
    """Whether `value` holds a tracer: in containers (walked directly), pytrees, or the
    attributes of a plain object, a few levels deep."""
    if isinstance(value, jax.core.Tracer):
        return True
    if depth == 0 or isinstance(value, Variable):  # a Variable's value is lifted, not leaked
        return False
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_holds_tracer(v, depth - 1) for v in value)
    if isinstance(value, dict):
        return any(_holds_tracer(v, depth - 1) for v in value.values())
    try:
        leaves = jax.tree_util.tree_leaves(value)
    except Exception:  # noqa: BLE001 - not a pytree JAX can walk
        leaves = [value]
    if len(leaves) != 1 or leaves[0] is not value:
        return any(_holds_tracer(leaf, depth - 1) for leaf in leaves)
    attributes = getattr(value, "__dict__", None)
    return isinstance(attributes, dict) and any(
        _holds_tracer(v, depth - 1) for v in attributes.values())


_CONTAINERS = (list, dict, set, collections.deque, bytearray)


def in_place_changes(static, candidates):
    """`static` plus the description of each (receiver getter, description) candidate whose
    receiver is a built-in container: its changing method (converters/in_place.py) cannot
    happen once per iteration, or on the taken branch only, in a traced block."""
    found = []
    for receiver, text in candidates:
        try:
            value = receiver()
        except (NameError, AttributeError, LookupError, TypeError):
            continue  # not there yet: the block itself raises if it reads it
        if isinstance(value, _CONTAINERS):
            found.append(text)
    return (*static, *found)


def check_supported(unsupported, what, where):
    if not unsupported:
        return
    advice = []
    if any(u.startswith("`try`") for u in unsupported):
        advice.append("XLA control flow cannot catch errors raised while the program runs; "
                      "move the `try` outside the tensor-dependent block, and check values "
                      "with `assert` or select them with jnp.where instead.")
    if any("computed key" in u for u in unsupported):
        advice.append("Every branch and iteration of it is traced once, so a write to a "
                      "computed key would just keep the last traced value; use a constant "
                      "key (d['a']) or keep the values in an array and update it with "
                      "x.at[i].set(v).")
    if any("in place)" in u for u in unsupported):
        advice.append("Each branch and loop body is traced once, so an in-place change of a "
                      "Python container would happen once, not once per iteration, and "
                      "for both branches of an `if`; assign a new value instead (items = items[:-1], d = {**d, "
                      "'k': v}), append only to a list created in this function (a loop "
                      "over a tensor stacks those), or keep the values in an array and "
                      "update it with x.at[i].set(v).")
    if any("`:=` in the loop condition" in u for u in unsupported):
        advice.append("Assign the name before the loop and again at the end of its body, "
                      "and test it: `y = f(n)` / `while y > 2: ...; y = f(n)`.")
    if any("shadowed here" in u for u in unsupported):
        advice.append("Give the local another name, so that the block can carry the "
                      "enclosing function's variable the helper changes.")
    article = "an" if what.strip("`")[0] in "aeiou" else "a"
    raise NotImplementedError(
        f"{where}: {', '.join(unsupported)} is inside {article} {what} that depends on a "
        "tensor. " + " ".join(advice))


def to_lax(value, name, what, where):
    """`value` as a pytree of arrays, or an error naming the variable."""

    def leaf(x):
        if isinstance(x, Variable):  # TF's cond and while_loop read a Variable they output
            return x.value
        if isinstance(x, _VALUES):
            return x if isinstance(x, jax.Array) else jnp.asarray(x)
        if isinstance(x, Undefined):
            raise NameError(  # noqa: TRY004 - an unbound name: Python's NameError
                f"{where}: '{display(name)}' has no value on one path through this {what}")
        if isinstance(x, Accumulator):
            raise TypeError(
                f"{where}: list '{display(name)}' is appended to inside this {what}, within "
                "a loop over a tensor. Such a loop stacks one item per append per iteration, "
                "so every iteration must append the same items: append unconditionally, "
                "choosing the value with jnp.where (or `a if c else b`).")
        raise TypeError(
            f"{where}: '{display(name)}' holds a {type(x).__name__} ({_short(x)}) when it "
            f"leaves this {what}, which depends on a tensor. Only tensors, numbers and "
            "tuples/lists/dicts of them can flow through XLA control flow; compute the Python "
            "value outside the tensor-dependent block.")

    return jax.tree_util.tree_map(leaf, value, is_leaf=lambda x: isinstance(x, (
        Undefined, Variable, Accumulator)))


def _short(x):
    code = getattr(x, "__code__", None)
    if code is not None:  # a converted function's repr names AutoGraph's factory
        return f"{getattr(x, '__name__', 'function')} from line {code.co_firstlineno}"
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "..."


def describe(value):
    leaves, tree = jax.tree_util.tree_flatten(value)
    parts = [f"{jnp.dtype(x.dtype).name}{list(jnp.shape(x))}" if hasattr(x, "dtype")
             else type(x).__name__ for x in leaves]
    if tree == jax.tree_util.tree_structure(0):
        return parts[0]
    return f"{tree} of {', '.join(parts)}" if parts else str(tree)


class Mismatch(Exception):
    """Two values that no dtype promotion can make agree."""


def promoted(a, b):
    """Per-leaf common dtypes (None where already equal) that make `a` and `b` agree.

    Raises Mismatch when structure or shapes differ, or dtypes differ with neither weakly
    typed (a Python number).
    """
    la, ta = jax.tree_util.tree_flatten(a)
    lb, tb = jax.tree_util.tree_flatten(b)
    if ta != tb:
        raise Mismatch()
    out = []
    for x, y in zip(la, lb):
        if jnp.shape(x) != jnp.shape(y):
            raise Mismatch()
        if jnp.dtype(x.dtype) == jnp.dtype(y.dtype):
            out.append(None)
        elif getattr(x, "weak_type", False) or getattr(y, "weak_type", False):
            out.append(jnp.result_type(x, y))
        else:
            raise Mismatch()
    return out


def cast_to(values, dtypes):
    """Cast each value's leaves to the per-leaf dtypes `promoted` gave (None: unchanged)."""
    if dtypes is None:
        return values
    out = []
    for value, leaf_dtypes in zip(values, dtypes):
        if leaf_dtypes:
            leaves, tree = jax.tree_util.tree_flatten(value)
            value = jax.tree_util.tree_unflatten(tree, [
                x if d is None else jax.lax.convert_element_type(x, d)
                for x, d in zip(leaves, leaf_dtypes)])
        out.append(value)
    return tuple(out)


class Variables:
    """Variables a traced block assigns, carried as extra state of the lax construct."""

    def __init__(self):
        self.ctx = _lifting.current()
        self.carried = []
        # The block created Variables on a trace (once is fine: an optimizer's first step
        # inside a loop makes its slots; every trace making new ones is the error).
        self.made_variables = False

    def add(self, variables):
        known = {id(v) for v in self.carried}
        self.carried += [v for v in variables if id(v) not in known]

    def values(self):
        return tuple(self.ctx.read(v) for v in self.carried) if self.ctx else ()

    def mark(self):
        if self.ctx is None:
            return None
        return len(self.ctx.write_log), dict(self.ctx.values), len(self.ctx.created_log)

    def install(self, values):
        """Make the carried Variables read as `values` (the block's inputs)."""
        for var, value in zip(self.carried, values):
            self.ctx.values[id(var)] = value

    def finish(self, mark):
        """After tracing the block once: its carried values out, and the context restored.

        Raises MoreVariables when the block assigned a Variable that is not carried yet.
        """
        if self.ctx is None:
            return ()
        start, _, made = mark
        written = list({id(v): v for v in self.ctx.write_log[start:]}.values())
        out = tuple(self.ctx.read(v) for v in self.carried)
        self.restore(mark)
        known = {id(v) for v in self.carried}
        new = [v for v in written if id(v) not in known]
        created = {id(v) for v in self.ctx.created_log[made:]}
        fresh = any(id(v) in created for v in new)
        if fresh and self.made_variables:  # made again on the retrace: not guarded
            raise ValueError(
                "a Variable is created inside a block that a tensor decides (a tensor `if` "
                "or loop): each trace of the block would make another one. Create it "
                "before the block, e.g. on the first call with `if self.v is None:` "
                "outside the tensor-dependent code.")
        if new:
            self.made_variables = self.made_variables or fresh
            raise MoreVariables(new)
        return out

    def restore(self, mark):
        """Undo what the block did to the context since `mark`. A Variable the context did
        not hold then is forgotten again, so reads fall through to the enclosing context."""
        if self.ctx is not None:
            start, before, _ = mark
            for var in self.ctx.write_log[start:] + self.carried:
                if id(var) in before:
                    self.ctx.values[id(var)] = before[id(var)]
                else:
                    self.ctx.values.pop(id(var), None)
            del self.ctx.write_log[start:]

    def commit(self, values):
        """Assign the construct's outputs to the carried Variables."""
        for var, value in zip(self.carried, values):
            self.ctx.write(var, value)


def is_return_value(value):
    return isinstance(value, UndefinedReturnValue)
