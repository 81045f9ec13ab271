"""Errors users can act on: unsupported constructs, generators, and where they point."""

import linecache
import traceback
import warnings

import jax
import jax.numpy as jnp
import pytest

import xlaflow as xf


def test_try_inside_tensor_block_is_refused_with_alternative():
    @xf.function
    def f(x):
        while x < 10:
            try:
                x = x * 2
            except ValueError:
                x = x + 1
        return x

    with pytest.raises(NotImplementedError, match=r"test_errors.py:\d+: `try` at line \d+ is "
                                                  r"inside a while loop that depends on a "
                                                  r"tensor.*jnp.where"):
        f(jnp.float32(1.0))


def test_try_inside_python_block_runs_as_python():
    @xf.function
    def f(x, scale_a):
        table = {"a": scale_a}
        for key in ("a", "b"):  # a Python loop: the `try` runs at trace time, as in Python
            try:
                x = x * table[key]
            except KeyError:
                x = x + 1
        return x

    assert float(f(jnp.float32(2.0), jnp.float32(3.0))) == 7.0


def test_generator_function_cannot_be_compiled():
    def gen(x):
        yield x

    with pytest.raises(xf.autograph.ConversionError, match="generator 'test_generator_function"
                                                           ".*`yield` has no XLA equivalent"):
        xf.function(gen)(jnp.ones(1))


def test_loop_carried_error_names_line_and_variable():
    @xf.function
    def f(n):
        state = jnp.zeros(2)
        for i in range(n):
            state = jnp.zeros(3)
        return state

    with pytest.raises(TypeError, match=r"test_errors.py:\d+: 'state' is float32\[2\] before"):
        f(jnp.int32(2))


def test_function_from_a_notebook_cell_converts():
    source = "def cell_fn(x):\n    if x > 0:\n        return x * 3\n    return -x\n"
    filename = "<ipython-input-7-abcdef>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - a notebook cell's code
    f = xf.function(namespace["cell_fn"])
    assert float(f(jnp.float32(2.0))) == 6.0 and float(f(jnp.float32(-2.0))) == 2.0
    assert "ag__.if_stmt" in xf.autograph.to_code(namespace["cell_fn"])


def test_a_function_without_source_is_traced_as_written_with_a_warning():
    namespace = {}
    exec(compile("def typed_at_a_repl(x):\n    if x > 0:\n        return x * 3\n    return -x\n",  # noqa: S102
                 "<stdin>", "exec"), namespace)
    f = xf.function(namespace["typed_at_a_repl"])
    with pytest.warns(UserWarning, match=r"cannot convert 'typed_at_a_repl'.*<stdin>.*do_not_convert"), \
            pytest.raises(jax.errors.TracerBoolConversionError):
        f(jnp.float32(2.0))
    quiet = xf.function(xf.autograph.do_not_convert(
        eval(compile("lambda x: x * 3", "<stdin>", "eval"))))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(quiet(jnp.float32(2.0))) == 6.0


def test_temporaries_are_not_loop_state():
    @xf.function
    def f(x, n):
        acc = jnp.zeros(3)
        i = 0
        while i < n:
            tmp = x * i  # written before read in each iteration, dead after the loop
            acc = acc + tmp
            i += 1
        return acc

    jaxpr = f.get_concrete_function(jnp.ones(3), jnp.int32(2)).jaxpr
    loop = next(e for e in jaxpr.eqns if e.primitive.name == "while")
    carried = [v.aval for v in loop.outvars]
    assert len(carried) == 2  # acc and i; `tmp` is not carried
    assert float(f(jnp.ones(3), jnp.int32(3))[0]) == 3.0


def test_undefined_python_path_names_the_variable():
    def f(flag):
        if flag:
            value = 1
        return value

    assert xf.autograph.to_graph(f)(True) == 1
    with pytest.raises(NameError, match="'value' is used before any assignment"):
        xf.autograph.to_graph(f)(False) + 1


def test_error_in_a_tensor_loop_points_at_the_loop_and_the_failing_line():
    def grow(x, n):
        i = 0
        while i < n:  # the outer frame
            x = x + jnp.ones((7, 7))  # the failing line
            i += 1
            x = x * 2
        return x

    with pytest.raises(ValueError) as info:
        xf.function(grow)(jnp.ones(3), jnp.int32(2))
    frames = [(f.name, linecache.getline(f.filename, f.lineno).strip())
              for f in traceback.extract_tb(info.value.__traceback__)]
    user = [text for name, text in frames if name in ("grow", "loop_body")]
    assert user[-2:] == ["while i < n:  # the outer frame",
                         "x = x + jnp.ones((7, 7))  # the failing line"], frames
    note = "\n".join(getattr(info.value, "__notes__", []))
    assert "while i < n:" in note and "x = x * 2" not in note


def test_raise_in_a_tensor_branch_explains_that_both_branches_are_traced():
    def positive_only(x):
        if x > 0:
            y = x
        else:
            raise ValueError("x must be positive")
        return y

    with pytest.raises(ValueError, match="x must be positive") as info:
        xf.function(positive_only)(jnp.float32(1.0))
    notes = "\n".join(info.value.__notes__)
    assert "tracing the false branch of the tensor-dependent `if`" in notes
    assert "with `assert`" in notes


def test_a_computed_key_write_in_a_tensor_block_is_refused_with_alternatives():
    def fill(x):
        d = {"a": 0, "b": 0}
        for k in ["a", "b"]:
            if x > 0:
                d[k] = 1
            else:
                d[k] = 2
        return d["a"], d["b"]

    with pytest.raises(NotImplementedError, match=r"`d\[k\] = \.\.\.` at line \d+ \(a "
                                                  r"subscript with a computed key\).* an `if`"
                                                  r".*constant key"):
        xf.function(fill)(jnp.int32(1))

    def local_table(x):
        if x > 0:  # a dict made inside the branch is the branch's own: fine
            table = {}
            for k in ["a", "b"]:
                table[k] = x * 2
            y = table["a"] + table["b"]
        else:
            y = x
        return y

    assert int(xf.function(local_table)(jnp.int32(3))) == 12


def test_a_variable_created_in_a_tensor_branch_is_refused_clearly():
    @xf.function
    def make_in_branch(x):
        if jnp.sum(x) > 0:
            v = xf.Variable(jnp.zeros(3))
            v.assign(x)
            return v.value
        return x

    with pytest.raises(ValueError, match="a Variable is created inside a block that a tensor "
                                         "decides"):
        make_in_branch(jnp.float32([1, 2, 3]))


def test_a_non_scalar_and_operand_error_names_the_users_line():
    @xf.function
    def f(x):
        return x and 1

    with pytest.raises(ValueError, match=r"test_errors.py:\d+: the condition of this `and`/`or` "
                                         r"operand is a tensor of shape \(2,\)"):
        f(jnp.float32([1, 2]))


def test_a_bool_carry_that_becomes_an_int_names_the_variable():
    @xf.function
    def f(x):
        s = False
        for _ in x:
            s = s + 1
        return s

    with pytest.raises(TypeError, match=r"'s' is bool\[\] before this tensor for loop but "
                                        r"int32\[\] after one iteration"):
        f(jnp.float32([1, 2]))


def test_recursion_with_a_tensor_base_case_says_why_it_does_not_stop():
    def fact(n):
        if n <= 1:
            return 1
        return n * fact(n - 1)

    with pytest.raises(RecursionError) as info:
        xf.function(fact)(jnp.int32(4))
    assert any("Write the recursion as a loop" in note for note in info.value.__notes__)


def test_returning_or_passing_an_unassigned_name_raises_as_python():
    import numpy as np

    def last_of(x):
        i = 0
        while i < x.shape[0]:
            last = x[i]
            i += 1
        return last

    def shown(x, seen):
        if x > 0:
            y = 1
        seen.append(y)  # a call's argument is read too
        return 0

    empty = np.zeros(0)
    with pytest.raises(UnboundLocalError):
        last_of(empty)  # the oracle: Python itself
    with pytest.raises(UnboundLocalError, match="'last'"):
        xf.autograph.to_graph(last_of)(empty)
    assert xf.autograph.to_graph(last_of)(np.arange(3.0)) == 2.0
    with pytest.raises(UnboundLocalError):
        shown(-1, [])
    seen = []
    with pytest.raises(UnboundLocalError, match="'y'"):
        xf.autograph.to_graph(shown)(-1, seen)
    assert seen == []


def test_a_returned_dict_with_mixed_key_types_is_returned_as_python_does():
    # jax's pytree flattening sorts dict keys; the check for an unassigned name must not.
    def keyed(c):
        if c > 0:
            return {1: c, "x": 2}
        return {1: c, "x": 3}

    assert xf.autograph.to_graph(keyed)(1) == keyed(1) == {1: 1, "x": 2}
    assert xf.autograph.to_graph(keyed)(0) == keyed(0) == {1: 0, "x": 3}


def test_an_unassigned_name_in_a_returned_container_raises_as_python():
    def packed(c):
        if c > 0:
            y = 1
        return {"k": [1, (2, y)]}

    with pytest.raises(UnboundLocalError):
        packed(0)  # the oracle: Python itself
    with pytest.raises(UnboundLocalError, match="'y'"):
        xf.autograph.to_graph(packed)(0)


def test_the_first_unassigned_argument_is_named_as_python_evaluates_them():
    # Positional arguments are evaluated before keyword ones: Python names `x`, not `y`.
    def call(c, seen):
        if c > 0:
            x = 1
            y = 2
        seen.extend(x, key=y)

    with pytest.raises(UnboundLocalError, match="'x'"):
        call(0, [])  # the oracle: Python itself
    with pytest.raises(UnboundLocalError, match="'x'"):
        xf.autograph.to_graph(call)(0, [])


def test_a_returned_list_that_holds_itself_is_returned():
    def looped(c):
        if c > 0:
            out = [c]
            out.append(out)
            return out
        return [c]

    out = xf.autograph.to_graph(looped)(1)
    assert out[0] == 1 and out[1] is out


def test_a_chained_comparison_on_a_non_scalar_names_the_users_line():
    def chained(x):
        return 0 < x + 1 < 5  # the line the error must name

    line = chained.__code__.co_firstlineno + 1
    with pytest.raises(ValueError, match=rf"test_errors\.py:{line}: .*shape \(3,\)"):
        xf.function(chained)(jnp.ones(3))
