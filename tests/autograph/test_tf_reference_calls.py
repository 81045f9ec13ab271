"""TF's AutoGraph reference programs for calls: builtins (also aliased or returned by a
function), lambdas, namedtuples, NumPy, print, and user functions held in variables.

Each program runs as plain Python on Python/NumPy values (the oracle), then under xf.function
on jax arrays and on the Python values (tests/autograph/reference_programs.py).
"""

import collections
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from tests.autograph.reference_programs import three_ways

# -- builtins (call_to_builtin_function_test.py) ------------------------------------------

def makes_a_dict(x):
    return dict(value=x)


def dict_shadowed_by_a_local(x):
    def not_a_dict(v):
        return v * 3

    dict = not_a_dict  # the shadowed builtin is the case
    return dict(x)


def dict_from_a_factory(x):
    def pick():
        return dict

    make = pick()
    return make(value=x)


def length(x):
    return len(x)


def len_shadowed_by_a_local(x):
    def not_len(v):
        return v

    len = not_len  # the shadowed builtin is the case
    return len(x)


def len_from_a_factory(x):
    def pick():
        return len

    size = pick()
    return size(x)


def indices(x):
    return list(range(len(x)))


def truncated(x):
    return float(int(x))


@pytest.mark.parametrize("fn", [makes_a_dict, dict_shadowed_by_a_local, dict_from_a_factory])
def test_dict_calls(fn):
    three_ways(fn, 4)


@pytest.mark.parametrize("fn", [length, len_shadowed_by_a_local, len_from_a_factory,
                                indices])
@pytest.mark.parametrize("x", [[], [5], [5, 6, 7]])
def test_len_calls(fn, x):
    three_ways(fn, x)


@pytest.mark.parametrize("x", [2.7, -2.7, 0.5])
def test_nested_casts_truncate_toward_zero(x):
    three_ways(truncated, x)


# -- lambdas (call_to_lambda_function_test.py) --------------------------------------------

def lambda_with_a_choice(x):
    square_or_negate = lambda v: v * v if v > 0 else -v  # a lambda is the case
    return square_or_negate(x)


def calls_what_it_is_given(x, f):
    return f(x)


@pytest.mark.parametrize("x", [-3, 0, 2])
def test_lambdas_defined_inside_and_passed_in(x):
    three_ways(lambda_with_a_choice, x)
    three_ways(calls_what_it_is_given, x, lambda v: v == 0)


# -- namedtuples (call_to_named_tuple_test.py) --------------------------------------------

def makes_a_namedtuple(x):
    pair = collections.namedtuple("Pair", ("first", "second"))
    return pair(first=1, second=x)


def fills_a_given_namedtuple(x, kind):
    return kind(first=1, second=x)


class Counted(collections.namedtuple("Counted", ("count",))):
    def next(self):
        return self.count + 1


def uses_a_namedtuple_subclass(x):
    return Counted(x).next()


def test_namedtuples_made_passed_and_subclassed():
    pair = collections.namedtuple("Pair", ("first", "second"))
    for x in (-2, 5):
        made = xf.function(makes_a_namedtuple)(jnp.int32(x))
        assert made._fields == ("first", "second") and tuple(made) == (1, x)
        three_ways(fills_a_given_namedtuple, x, pair)
        three_ways(uses_a_namedtuple_subclass, x)


# -- NumPy (call_to_numpy_function_test.py) -----------------------------------------------

def seeded_coin_flips():
    np.random.seed(3)
    return 2 * np.random.binomial(1, 0.5, size=(8,)) - 1


def test_numpy_calls_run_as_python_while_tracing():
    # a constant of the program: the NumPy code runs once, while tracing (as TF's py_func)
    np.testing.assert_array_equal(xf.function(seeded_coin_flips)(), seeded_coin_flips())


# -- print (call_to_print_function_test.py) -----------------------------------------------

def prints_alone(x):
    print(x)


def prints_with_a_label(x, y):
    print("x is", x, {"key": "text"})
    xf.print("y is", y)


def prints_if_zero(x):
    if x == 0:
        print("zero:", x)


@pytest.mark.parametrize(("fn", "args"), [
    (prints_alone, (7,)), (prints_alone, (np.int32([1, 2, 3]),)),
    (prints_with_a_label, (1, 2)), (prints_with_a_label, (np.int32([1, 2]), np.int32(4))),
    (prints_if_zero, (0,)), (prints_if_zero, (1,))])
def test_print_writes_what_python_writes(capsys, fn, args):
    # print() writes to stdout as Python does; xf.print to stderr as tf.print does
    assert fn(*args) is None
    expect = capsys.readouterr()
    for call_args in ([jnp.asarray(a) for a in args], args):  # tensors, then Python values
        assert xf.function(fn)(*call_args) is None
        jax.effects_barrier()
        assert capsys.readouterr() == expect


# -- user functions held in variables (call_to_user_function_test.py) ---------------------

def cube(x):
    return x * x * x


def line(x):
    return -2 * x + 9


def choose(n):
    return cube if n == 1 else line


def both_directly(x):
    return cube(x) + line(x)


def both_from_a_factory(x):
    f = choose(1)
    a = f(x)
    f = choose(2)
    return a + f(x)


def both_from_a_variable(x):
    f = cube
    a = f(x)
    f = line
    return a + f(x)


def library_function_in_a_variable(x):
    f = jnp.abs
    return f(x)


def call_a_parameter(f, x):
    return f(x)


def call_a_parameter_by_keyword(f, x):
    return f(x=x)


@pytest.mark.parametrize("x", [-3, 2])
def test_calls_through_names_factories_and_parameters(x):
    for fn in (both_directly, both_from_a_factory, both_from_a_variable,
               library_function_in_a_variable):
        three_ways(fn, x)
    three_ways(call_a_parameter, cube, x)
    three_ways(call_a_parameter_by_keyword, cube, x)


def prints_a_tensor_then_a_constant(x, y):
    print("x is", x, {"key": "text"})
    xf.print("y is", y, output_stream=sys.stdout)


def test_a_print_of_constants_after_a_print_of_a_tensor_keeps_program_order(capsys):
    # a print without tensor operands is an ordered callback as the others (ops.py), so
    # XLA cannot run it before an earlier print of a tensor
    prints_a_tensor_then_a_constant(jnp.int32(1), 4)
    expect = capsys.readouterr().out
    xf.function(prints_a_tensor_then_a_constant)(jnp.int32(1), 4)
    jax.effects_barrier()
    assert capsys.readouterr().out == expect
