"""TF's AutoGraph reference programs for early returns, generators and type annotations.

Each program runs as plain Python (the oracle), then under xf.function on tensors and on the
Python values (tests/autograph/reference_programs.py); refused constructs must raise an
error naming the line, or agree with Python where xlaflow supports more than TF.
"""

import jax.numpy as jnp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

import xlaflow as xf
from tests.autograph.reference_programs import line_of, same, three_ways

# -- early returns (early_return_test.py) ------------------------------------------------

def _fails():
    raise ValueError("from the helper")


def caught_while_returning():
    try:
        return _fails()  # raises before returning: the function goes on
    except ValueError:
        pass
    return 7


def test_a_return_whose_value_raises_has_not_returned():
    three_ways(caught_while_returning)


def caught_after_a_tensor_return(c):
    if c:
        return 2
    try:
        return _fails()
    except ValueError:
        pass
    return 1


def test_a_try_after_a_tensor_return_catches_like_python():
    # returns.py folds the `try` into the `if`'s other branch; as written it is not inside
    # the `if`, so it catches the helper's trace-time error as TF's AutoGraph does
    for c in (True, False):
        three_ways(caught_after_a_tensor_return, c)


def caught_after_a_nested_tensor_return(c, d):
    if c:  # noqa: SIM102 -- the nested `if` is what returns on one path
        if d:
            return 2
    try:  # written at the top: it runs under the return guard, not inside the `if`
        return _fails()
    except ValueError:
        pass
    return 1


def test_a_try_after_an_if_whose_nested_if_returns_catches_like_python():
    for c in (True, False):
        for d in (True, False):
            three_ways(caught_after_a_nested_tensor_return, c, d)


def try_after_a_return_inside_a_tensor_if(c, d):
    if c:
        if d:
            return 2
        try:  # written inside the outer `if`: refused, whatever the inner one folds
            return _fails()
        except ValueError:
            pass
    return 1


def try_after_a_return_inside_a_tensor_loop(n):
    i = 0
    while i < n:
        i += 1
        if i > 5:
            return i
        try:  # written inside the loop
            _fails()
        except ValueError:
            pass
    return i


def test_a_try_written_inside_tensor_control_flow_is_still_refused_naming_its_line():
    with pytest.raises(NotImplementedError, match=line_of(
            try_after_a_return_inside_a_tensor_if, "if c:") + r": `try` at line \d+ is "
            "inside an `if` that depends on a tensor.*move the `try` outside"):
        xf.function(try_after_a_return_inside_a_tensor_if)(jnp.asarray(True), True)
    with pytest.raises(NotImplementedError, match=r"`try` at line \d+ is inside a "
                                                  r"while loop that depends on a tensor"):
        xf.function(try_after_a_return_inside_a_tensor_loop)(jnp.asarray(3))
    # with Python conditions it runs as Python does
    assert xf.function(try_after_a_return_inside_a_tensor_if)(True, False) == 1
    assert xf.function(try_after_a_return_inside_a_tensor_loop)(3) == 3


def returns_early_or_squares(x):
    if x > 0:
        xf.print("early", x)
        return x
    return x * x


def returns_a_local_reshaped_later(c):
    t = jnp.int32(3)
    if c:
        return t
    t = jnp.stack([t, t])  # another shape: only on the path that did not return
    return t.sum()


def returns_in_every_branch(x):
    if x > 0:
        if x < 5:
            return x
        else:
            return x * x
    else:
        return x * x * x


@settings(max_examples=15, deadline=None)
@given(hs.integers(-7, 7))
def test_returns_in_branches_agree_with_python(x):
    three_ways(returns_early_or_squares, x, drawn=True)
    three_ways(returns_in_every_branch, x, drawn=True)
    three_ways(returns_a_local_reshaped_later, x > 0, drawn=True)


def returns_on_some_paths(x):
    if x > 0:
        if x < 5:
            return x
    else:
        return x * x * x


@pytest.mark.parametrize("x", [-2, 3, 5])
def test_falling_off_the_end_on_a_python_path_returns_none(x):
    assert xf.function(returns_on_some_paths)(x) == returns_on_some_paths(x)


@pytest.mark.parametrize("x", [-2, 3, 5])
def test_falling_off_the_end_on_a_tensor_path_names_the_function_and_line(x):
    # TF: "else branch must also have a return"
    with pytest.raises(TypeError, match=line_of(returns_on_some_paths, "if x > 0:") +
                       r": returns_on_some_paths\(\) returns a value on some tensor-"):
        xf.function(returns_on_some_paths)(jnp.int32(x))


class Scope:
    """A context manager that records how often it was entered and left."""

    def __init__(self):
        self.events = []

    def __enter__(self):
        self.events.append("enter")
        return self

    def __exit__(self, *exc):
        self.events.append("exit")
        return False


def returns_inside_with(x, scope):
    with scope:
        if x > 0:
            if x < 5:
                with scope:
                    return x
            else:
                return x * x
        else:
            return x * x * x
    return x * x * x * x  # unreachable: every path returned


def default_return_inside_with(x, scope):
    with scope:
        if x > 0:
            return 1
        return 0


def returns_in_try_and_finally(x):
    y = 0
    try:
        if x > 0:
            y = 1
            return y
        return -1
    finally:
        x = x + 1  # runs after the return, changes nothing returned


def finally_return_wins(x):
    try:
        if x > 0:
            return 10
        return 20
    finally:
        if x > 2:
            return 30  # noqa: B012 - overrides the try's return, as Python says
        if x < -2:
            return 40  # noqa: B012


def possibly_returns_before_a_loop(c1, c2, n):
    if c1:  # noqa: SIM102 - nested on purpose: a return two ifs deep
        if c2:
            return 1
    total = 0
    for i in range(n):
        total += i
    return total + 2


# fn: its xf.function on a tensor x and the Scope it is given, made once: the one trace
# (x traced) enters and leaves that Scope, its program is checked on every drawn x
_on_tensors = {}


@settings(max_examples=15, deadline=None)
@given(hs.integers(-8, 8))
def test_returns_in_with_and_try_agree_with_python(x):
    for fn in (returns_inside_with, default_return_inside_with):
        oracle, static = Scope(), Scope()
        expect = fn(x, oracle)
        same(xf.function(fn)(x, static), expect)
        assert static.events == oracle.events  # a Python condition: Python's path
        compiled, traced = _on_tensors.setdefault(fn, (xf.function(fn), Scope()))
        same(compiled(jnp.int32(x), traced), expect)
        # both branches are traced, so inner scopes may run too, but each one is left
        depth = 0
        for event in traced.events:
            depth += 1 if event == "enter" else -1
            assert depth >= 0
        assert depth == 0
    three_ways(returns_in_try_and_finally, x, drawn=True)
    three_ways(finally_return_wins, x, drawn=True)


@pytest.mark.parametrize("c1", [True, False])
@pytest.mark.parametrize("c2", [True, False])
def test_a_return_nested_in_ifs_before_a_loop(c1, c2):
    for n in (0, 1, 3):
        three_ways(possibly_returns_before_a_loop, c1, c2, n)


# -- type annotations (type_annotations_test.py) ------------------------------------------

def declared_only():
    count: int  # noqa: F842 - a declaration that binds nothing is the case
    return 1


def annotated_in_branches(x):
    y: float = x + 1
    if x > 0:
        y: float = y * 2  # an annotated assignment inside a converted block
    else:
        z: int  # a bare declaration inside one
        z = 3
        y = y - z
    return y


def declared_in_a_branch_only(c):
    if c:
        k: int  # makes k local to the function without binding it
    return k  # noqa: F821 - unbound on every path: Python raises UnboundLocalError


def test_annotations_bind_like_plain_assignments():
    three_ways(declared_only)
    for x in (-2.0, 0.5):
        three_ways(annotated_in_branches, x)


def test_a_bare_declaration_keeps_the_name_local():
    for c in (True, False):
        with pytest.raises(UnboundLocalError):
            declared_in_a_branch_only(c)
        with pytest.raises(UnboundLocalError, match="'k'"):
            xf.function(declared_in_a_branch_only)(c)


# -- generators (generator_test.py) -------------------------------------------------------

def yields_once():
    yield 1


def yields_in_a_for(n):
    for i in range(n):
        yield i * 3


def yields_in_a_while(n):
    i = 0
    while i < n:
        i += 1
        yield i


@pytest.mark.parametrize(("fn", "args"), [(yields_once, ()), (yields_in_a_for, ([],)),
                                          (yields_in_a_while, (jnp.int32(0),))])
def test_compiling_a_generator_is_not_implemented(fn, args):
    # TF raises NotImplementedError; xlaflow's error is also a ConversionError
    with pytest.raises(NotImplementedError, match=rf"the generator '{fn.__name__}'.*`yield` "
                                                  "has no XLA equivalent") as info:
        xf.function(fn)(*args)
    assert isinstance(info.value, xf.autograph.ConversionError)


def drains_a_generator(x):
    return sum(yields_in_a_for(4)) + x, list(yields_in_a_while(0))


def test_a_generator_called_from_compiled_code_runs_as_python():
    three_ways(drains_a_generator, 2)
