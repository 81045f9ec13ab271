"""Loop state as TF's AutoGraph reference programs exercise it (loop_control_flow_illegal_
cases, loop_created_variables, loop_scoping, loop_with_function_call, loop_with_variable_
type*): equal to Python where XLA can run it, else an error naming the variable and line.
"""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from tests.autograph.conftest import _compare
from tests.autograph.loop_reference import as_tensor as _tensor
from tests.autograph.loop_reference import matches_python

# -- a tensor `break`/`return` inside a Python loop (loop_control_flow_illegal_cases) ----

def tensor_break_in_python_for(seq):
    s = 0
    for c in seq:
        if jnp.greater(c % 2, 0):
            break
        s += c
    return s


def tensor_return_in_python_for(seq):
    s = 0
    for c in seq:
        if jnp.greater(c % 2, 0):
            return s
        else:
            return s + 1
    return s


def tensor_break_in_python_while(x):
    s = 0
    while x > 0:
        x -= 1
        if jnp.greater(x % 2, 0):
            break
        s += x
    return s


def tensor_return_in_python_while(x):
    s = 0
    while x > 0:
        x -= 1
        if jnp.greater(x % 2, 0):
            return s
        else:
            return s + 1
    return s


@pytest.mark.parametrize("seq", [[1], [2, 1], [2, 4, 3]])
def test_a_tensor_exit_inside_a_python_for_loop_runs(seq):
    # TF: NotImplementedError ("not supported in Python for"); the remaining Python
    # iterations each run under the tensor decision
    for fn in (tensor_break_in_python_for, tensor_return_in_python_for):
        _compare(xf.function(fn)(seq), fn(seq))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_a_tensor_exit_inside_a_python_while_loop_runs(n):
    # TF: "condition of while loop started as non-Tensor, then changed to Tensor"
    for fn in (tensor_break_in_python_while, tensor_return_in_python_while):
        _compare(xf.function(fn)(n), fn(n))


def python_flag_becomes_tensor(x):
    n = jnp.int32(0)
    going = True
    while going:  # a Python test, then a tensor one: the loop becomes a lax loop
        going = n > x
        n = n - 1
    return n


@pytest.mark.parametrize("x", [-3, 0, 4])
def test_a_while_test_that_starts_python_and_turns_tensor(x):
    _compare(xf.function(python_flag_becomes_tensor)(_tensor(x)),
             python_flag_becomes_tensor(x))


# -- names created by a loop body (loop_created_variables, loop_scoping) -----------------

def creates_array(n):
    i = 0
    while i < n:
        v = jnp.zeros([1, 2, 3]) + i
        i += 1
    return v


def creates_dict(n):
    i = 0
    while i < n:
        v = {"a": jnp.zeros([1, 2]) + i, "b": jnp.ones([2, 1])}
        i += 1
    return v["a"], v["b"]


def creates_by_range(n):
    i = 0
    while i < n:
        v = jnp.arange(i)  # its shape depends on the counter
        i += 1
    return v


@pytest.mark.parametrize("fn", [creates_array, creates_dict])
def test_a_while_loop_creates_an_array_or_a_dict(fn):
    for n in (1, 2):
        expect = fn(n)
        _compare(xf.function(fn)(_tensor(n)), expect)
        _compare(xf.function(fn)(n), expect)
    with pytest.raises(UnboundLocalError):
        xf.function(fn)(0)
    with pytest.raises(ValueError, match=r"'v' is first assigned inside this loop, which ran "
                                         r"zero times"):
        xf.function(fn)(_tensor(0))


def test_a_loop_created_array_whose_shape_follows_a_tensor_counter():
    np.testing.assert_array_equal(xf.function(creates_by_range)(3), [0, 1])
    # XLA shapes are static: TF's dynamic shape here has no counterpart; JAX says so
    with pytest.raises(jax.errors.ConcretizationTypeError, match="arange"):
        xf.function(creates_by_range)(_tensor(3))


def local_temporary_for(seq):
    s = 0
    for i in seq:
        x = i + 2
        s = s * 10 + x
    return s


def local_temporary_while(x):
    s = 0
    while x > 0:
        y = x + 2
        s = s * 10 + y
        x -= 1
    return s


def first_iteration_initializes(seq):
    s = 0
    for i in seq:
        if i == seq[0]:
            x = 0
        else:
            x += 1
        s = s * 10 + x
    return s


def iterate_reused(n, fn):
    i = 7
    s = 0
    for i in fn(n):
        s = s * 10 + i
    return i, s


def iterate_altered(n, fn):
    i = 7
    s = 0
    for i in fn(n):
        i = 3 * i + 1
        s = s * 10 + i
    return i, s


@pytest.mark.parametrize("n", [0, 1, 2])
def test_loop_scoping_of_temporaries_and_the_target(n):
    matches_python(local_temporary_for, list(range(1, n + 1)))
    matches_python(local_temporary_while, n)
    for fn in (iterate_reused, iterate_altered):
        matches_python(fn, n, range)
        matches_python(fn, [4] * n, list)  # Python's list(): the tensor itself when traced


def test_a_name_first_assigned_on_the_first_iteration():
    for seq in ([], [1], [1, 2]):
        _compare(xf.function(first_iteration_initializes)(seq),
                 first_iteration_initializes(seq))
    # a tensor loop carries `x` from before the loop, where it has no value (TF raises too)
    with pytest.raises(UnboundLocalError, match=r"'x' is used before any assignment"):
        xf.function(first_iteration_initializes)(_tensor([1, 2]))


def lambdas_of_the_target(seq):
    late, bound = [], []
    for i in seq:
        late.append(lambda: i + i)  # noqa: B023 - each sees the last `i`, as in Python
        bound.append(lambda i=i: i + i)
    return [f() for f in late], [f() for f in bound]


@pytest.mark.parametrize("seq", [[1], [1, 2]])
def test_lambdas_made_in_a_python_loop_bind_as_python_does(seq):
    _compare(xf.function(lambdas_of_the_target)(seq), lambdas_of_the_target(seq))


def test_appending_a_function_in_a_tensor_loop_names_the_list():
    with pytest.raises(TypeError, match=r"list 'late' is given a function \(<lambda> from "
                                        r"line \d+\) by .append\(\) inside this tensor for "
                                        r"loop"):
        xf.function(lambdas_of_the_target)(_tensor([1, 2]))


# -- calls in a loop's test, iterable and body (loop_with_function_call) -----------------

def doubled(x):
    return x * 2


class Scaler:
    def times_four(self, x):
        return x * 4


CALLABLES = [doubled, lambda x: x * 1, Scaler().times_four, abs]


def call_in_test(n, fn):
    i, s = 0, 0
    while i < fn(n):
        s = s * 10 + i
        i += 1
    return s


def call_in_body_while(n, fn):
    i, s = 0, 0
    while i < n:
        s = s * 10 + fn(i)
        i += 1
    return s


def call_in_body_for(seq, fn):
    s = 0
    for i in seq:
        s = s * 10 + fn(i)
    return s


def call_in_iterable(n, fn):
    s = 0
    for i in fn(n):
        s = s * 10 + i
    return s


@pytest.mark.parametrize("fn", CALLABLES)
@pytest.mark.parametrize("n", [0, 1, 2])
def test_calls_in_the_test_and_body_of_a_loop(fn, n):
    matches_python(call_in_test, n, fn)
    matches_python(call_in_body_while, n, fn)
    matches_python(call_in_body_for, list(range(n)), fn)


@pytest.mark.parametrize("n", [0, 1, 3])
def test_a_range_call_as_the_iterable(n):
    expect = call_in_iterable(n, range)
    for fn in (range, xf.range):
        _compare(xf.function(call_in_iterable)(_tensor(n), fn), expect)
        _compare(xf.function(call_in_iterable)(n, fn), expect)


def closures_over_the_counter(n):
    i = 0

    def plus_two():
        return i + 2

    add = lambda: i + 3

    class Reader:
        def __call__(self):
            return i

    read = Reader()
    s = 0
    while i < n:
        s = s * 1000 + plus_two() * 100 + add() * 10 + read()
        i += 1
    return s


def closures_over_the_target(seq):
    i = 0

    def plus_two():
        return i + 2

    class Reader:
        def __call__(self):
            return i

    read = Reader()
    s = 0
    for i in seq:
        s = s * 100 + plus_two() * 10 + read()
    return s, i


def local_helpers(n, seq):
    def triple(x):
        return x * 3

    def same(seq):
        return seq * 1

    i, s = 0, 0
    while i < triple(n):
        s = s * 10 + triple(i) % 10
        i += 1
    for v in same(seq):  # a list repeated once, or a tensor times one: the same items
        s = s + v
    return s


@pytest.mark.parametrize("n", [0, 1, 2])
def test_closures_that_read_the_loop_counter_see_its_current_value(n):
    # TF skips the class-closure cases ("fix static analysis for nested classes")
    matches_python(closures_over_the_counter, n)
    matches_python(closures_over_the_target, list(range(1, n + 1)))
    matches_python(local_helpers, n, list(range(n)))


# -- loop state that changes type (loop_with_variable_type[_illegal_cases]) --------------

def grows_by_concat(n):
    v = jnp.asarray([0, 0])
    i = 0
    while i < n:
        v = jnp.concatenate([v, jnp.asarray([i])])
        i += 1
    return v


def grows_by_padding(seq):
    m = jnp.zeros((2, 2), jnp.int32)
    for i in seq:
        m = jnp.pad(m, 1, constant_values=i)
    return m


def grows_inside_an_if(n):
    v = jnp.asarray([0, 0])
    if n > 1:
        for i in range(n):
            v = jnp.concatenate([v, jnp.asarray([i])])
            if i > 2:
                break
    else:
        v = jnp.asarray([1, 2, 3])
    return v


@pytest.mark.parametrize("n", [0, 1, 2, 5])
def test_state_that_grows_unrolls_on_python_values(n):
    # TF needs shape_invariants here; with Python bounds the loop unrolls instead
    for fn, arg in ((grows_by_concat, n), (grows_by_padding, list(range(n))),
                    (grows_inside_an_if, n)):
        _compare(xf.function(fn)(arg), fn(arg))


def test_state_that_grows_in_a_tensor_loop_names_the_variable():
    with pytest.raises(TypeError, match=r"'v' is int32\[2\] before this tensor while loop "
                                        r"but int32\[3\] after one iteration"):
        xf.function(grows_by_concat)(_tensor(2))
    with pytest.raises(TypeError, match=r"'m' is int32\[2, 2\] before this tensor for loop "
                                        r"but int32\[4, 4\] after one iteration"):
        xf.function(grows_by_padding)(_tensor([1, 2]))
    with pytest.raises(TypeError, match=r"'v' is int32\[2\] before this tensor for loop"):
        xf.function(grows_inside_an_if)(_tensor(3))


def dtype_changes_then_breaks(seq):
    n = jnp.int32(0)
    for _ in seq:
        n = jnp.float32(0)
        break
    return n


def dtype_changes_in_while_then_breaks(x):
    n = jnp.int32(0)
    while x > 0:
        n = jnp.float32(0)
        break
    return n


def structure_changes(x):
    s = {"a": jnp.int32(0)}
    while x > 0:
        s = jnp.float32(7)
        x -= 1
    return s


def list_grows(seq):
    s = [jnp.int32(0)]
    for _ in seq:
        s = s + [jnp.int32(0)]
    return s


def test_dtype_and_structure_changes_name_the_variable():
    for fn in (dtype_changes_then_breaks, dtype_changes_in_while_then_breaks):
        with pytest.raises(TypeError, match=r"'n' is int32\[\] before this tensor (for|while) "
                                            r"loop but float32\[\] after one iteration"):
            fn_arg = _tensor([1, 2, 3]) if fn is dtype_changes_then_breaks else _tensor(2)
            xf.function(fn)(fn_arg)
    with pytest.raises(TypeError, match=r"'s' is PyTreeDef\(\{'a': \*\}\) of int32\[\] before "
                                        r"this tensor while loop but float32\[\] after"):
        xf.function(structure_changes)(_tensor(2))
    for seq in (_tensor([1, 2, 3]), xf.range(3)):
        with pytest.raises(TypeError, match=r"'s' is PyTreeDef\(\[\*\]\) of int32\[\] before "
                                            r"this tensor for loop but PyTreeDef\(\[\*, \*\]\)"):
            xf.function(list_grows)(seq)
    # on Python values each of them is plain Python
    for fn, arg in ((dtype_changes_then_breaks, [1]), (structure_changes, 2),
                    (list_grows, [1, 2])):
        _compare(xf.function(fn)(arg), fn(arg))


def typed_range(a, b):
    t = jnp.float32(0)
    for i in xf.range(a, b, 2, dtype=xf.float32):
        t = t + i / 4  # float items: i / 4 is exact, not a rounded integer division
    return t


def test_xf_range_with_a_tensor_bound_drives_a_lax_loop_of_its_dtype():
    got = xf.function(typed_range)(_tensor(1), _tensor(8))
    assert got.dtype == jnp.float32 and float(got) == sum(i / 4 for i in range(1, 8, 2))
    with pytest.raises(TypeError, match=r"xf\.range\(\) with a tensor bound can only drive"):
        xf.function(lambda n: xf.range(n) * 2)(_tensor(3))
