"""xf.function with None sizes: one symbolic trace serves every size (TF's input_signature
semantics), reduce_retracing generalises a retrace's differing sizes, and code that cannot
run on symbolic sizes falls back to per-shape traces with one warning.

Oracles: the plain Python function on NumPy arrays, and counters of Python side effects.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def ones(*shape, dtype=np.float32):
    return np.ones(shape, dtype)


def rows(n, cols=3):
    return np.arange(n * cols, dtype=np.float32).reshape(n, cols)


def test_a_none_size_traces_the_python_function_once_for_every_size():
    runs = []

    def scaled_sums(x):
        runs.append(x.shape)  # a Python side effect: runs at trace time only
        return jnp.sum(x * 2.0, axis=1) + x.shape[0], x.mean(axis=0)

    f = xf.function(scaled_sums, input_signature=[xf.TensorSpec([None, 3], xf.float32)])
    for n in (2, 5, 7, 2, 11):
        total, mean = f(rows(n))
        np.testing.assert_allclose(total, rows(n).sum(axis=1) * 2.0 + n, rtol=1e-6)
        np.testing.assert_allclose(mean, rows(n).mean(axis=0), rtol=1e-6)
    assert len(runs) == 1 == f.tracing_count
    assert str(runs[0][0]) == "x_0" and runs[0][1] == 3  # a symbolic size, as TF's None


def test_sizes_several_arguments_share_trace_once_and_may_differ_when_not_combined():
    runs = []

    @xf.function(input_signature=[xf.TensorSpec([None, 3]), xf.TensorSpec([None, 3])])
    def add(x, y):
        runs.append("add")
        return x + y

    for n in (2, 4, 9):
        np.testing.assert_array_equal(add(rows(n), rows(n)), rows(n) * 2)
    assert runs == ["add"]
    # x + y needs equal sizes: a call where they differ fails as it does in TF
    with pytest.raises(TypeError, match="incompatible shapes"):
        add(rows(2), rows(4))

    @xf.function(input_signature=[xf.TensorSpec([None], xf.int32),
                                  xf.TensorSpec([None, 2], xf.float32)])
    def apart(a, b):
        runs.append("apart")
        return a * 2, b.sum(axis=1)

    for la, lb in ((3, 3), (3, 1), (5, 2), (1, 7)):
        a, b = np.arange(la, dtype=np.int32), rows(lb, 2)
        out_a, out_b = apart(a, b)
        np.testing.assert_array_equal(out_a, a * 2)
        np.testing.assert_allclose(out_b, b.sum(axis=1))
    # equal at the first call they were traced tied; the first call where they differ
    # traced once more with independent sizes, which serves every later pair
    assert runs.count("apart") == 2 == apart.tracing_count


def test_nested_signature_and_several_none_sizes():
    runs = []

    @xf.function(input_signature=[{"ids": xf.TensorSpec([None, None], xf.int32),
                                   "scale": xf.TensorSpec([None], xf.float32)}])
    def weighted(batch):
        runs.append(1)
        return batch["ids"].astype(jnp.float32).sum(axis=1) * batch["scale"]

    for n, length in ((2, 3), (4, 5), (1, 8)):
        ids = np.arange(n * length, dtype=np.int32).reshape(n, length)
        scale = np.linspace(0.5, 2.0, n).astype(np.float32)
        np.testing.assert_allclose(weighted({"ids": ids, "scale": scale}),
                                   ids.sum(axis=1) * scale, rtol=1e-6)
    assert len(runs) == 1


def test_variables_are_read_and_assigned_by_the_symbolic_program():
    total = xf.Variable(np.zeros(3, np.float32), name="total")
    seen = xf.Variable(0, name="seen")
    runs = []

    @xf.function(input_signature=[xf.TensorSpec([None, 3])])
    def accumulate(x):
        runs.append(1)
        total.assign_add(jnp.sum(x, axis=0))
        seen.assign_add(xf.shape(x)[0])  # as tf.shape(x)[0]: the size as a tensor
        return total.value / seen.value.astype(jnp.float32)

    expected, count = np.zeros(3, np.float32), 0
    for n in (2, 3, 6):
        expected, count = expected + rows(n).sum(axis=0), count + n
        np.testing.assert_allclose(accumulate(rows(n)), expected / count, rtol=1e-6)
    np.testing.assert_allclose(total.numpy(), expected, rtol=1e-6)
    assert int(seen.numpy()) == count == 11 and len(runs) == 1


def test_a_method_creating_its_variable_on_the_first_call():
    class Scaler(xf.Module):
        def __init__(self):
            super().__init__()
            self.runs = 0
            self.w = None

        @xf.function(input_signature=[xf.TensorSpec([None, 2])])
        def __call__(self, x):
            self.runs += 1
            if self.w is None:
                self.w = xf.Variable(np.array([2.0, 3.0], np.float32))
            return x * self.w

    scaler = Scaler()
    for n in (1, 4, 6):
        np.testing.assert_allclose(scaler(rows(n, 2)), rows(n, 2) * [2.0, 3.0])
    runs_first = scaler.runs
    for n in (2, 9):
        scaler(rows(n, 2))
    assert scaler.runs == runs_first  # later sizes never run Python again


def test_donated_arguments_and_variables_keep_working():
    v = xf.Variable(np.zeros(2, np.float32))
    runs = []

    @xf.function(input_signature=[xf.TensorSpec([None, 2])], donate_argnums=0,
                 donate_variables=True)
    def step(x):
        runs.append(1)
        v.assign_add(x.sum(axis=0))
        return x * 2

    for n in (2, 3):
        np.testing.assert_allclose(step(jnp.asarray(rows(n, 2))), rows(n, 2) * 2)
    np.testing.assert_allclose(v.numpy(), rows(2, 2).sum(0) + rows(3, 2).sum(0))
    assert len(runs) == 1


def test_a_size_zero_runs_its_own_program():
    @xf.function(input_signature=[xf.TensorSpec([None, 3])])
    def column_sums(x):
        return x.sum(axis=0)

    np.testing.assert_array_equal(column_sums(rows(2)), rows(2).sum(axis=0))
    np.testing.assert_array_equal(column_sums(np.zeros((0, 3), np.float32)), [0, 0, 0])
    # JAX's symbolic sizes are at least 1: size 0 is traced as it is
    assert column_sums.tracing_count == 2


def test_unknown_rank_traces_once_per_rank():
    runs = []

    @xf.function(input_signature=[xf.TensorSpec(None, xf.float32)])
    def double(x):
        runs.append(x.ndim)
        return x * 2

    for shape in ((2,), (5,), (2, 3), (4, 7), (6, 1)):
        np.testing.assert_array_equal(double(ones(*shape)), ones(*shape) * 2)
    assert runs == [1, 2]


def test_get_concrete_function_is_the_program_calls_run():
    runs = []

    @xf.function(input_signature=[xf.TensorSpec([None, 3])])
    def f(x):
        runs.append(1)
        return x * 3

    cf = f.get_concrete_function()
    assert str(cf.jaxpr.in_avals[0].shape[0]) != "3"  # a symbolic size
    for n in (1, 4):
        np.testing.assert_array_equal(f(rows(n)), rows(n) * 3)
    assert len(runs) == 1 and f.tracing_count == 1
    assert f.get_concrete_function(rows(8)).jaxpr is cf.jaxpr


def test_code_needing_a_fixed_size_falls_back_to_per_shape_traces_with_one_warning():
    runs = []

    @xf.function(input_signature=[xf.TensorSpec([None, 3])])
    def row_loop(x):
        runs.append(1)
        total = jnp.zeros(3)
        for i in range(x.shape[0]):  # a Python loop over the size needs it fixed
            total = total + x[i] * (i + 1)
        return total

    def oracle(x):
        return sum(x[i] * (i + 1) for i in range(x.shape[0]))

    with pytest.warns(xf.RelaxedShapeWarning, match=r"row_loop.*argument 'x' axis 0 \(x_0\)"
                      r".*TypeError.*give that dimension a size") as caught:
        np.testing.assert_allclose(row_loop(rows(2)), oracle(rows(2)))
    assert caught[0].filename == __file__  # the warning points at the user's call
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per function
        for n in (3, 4):
            np.testing.assert_allclose(row_loop(rows(n)), oracle(rows(n)))
    assert issubclass(xf.RelaxedShapeWarning, xf.RetracingWarning)
    assert row_loop.tracing_count == 3  # per shape, as with fixed sizes
    assert len(runs) == 4  # the failed symbolic attempt, then once per shape


def test_a_python_branch_on_a_size_names_the_inconclusive_comparison():
    @xf.function(input_signature=[xf.TensorSpec([None])])
    def clipped(x):
        return x[:2] if x.shape[0] > 2 else x

    with pytest.warns(xf.RelaxedShapeWarning, match=r"InconclusiveDimensionOperation.*"
                                                    r"'x_0' > '2'"):
        np.testing.assert_array_equal(clipped(ones(5)), ones(2))
    np.testing.assert_array_equal(clipped(ones(1)), ones(1))


def test_callbacks_cannot_be_symbolic_and_fall_back():
    runs = []

    @xf.function(input_signature=[xf.TensorSpec([None])])
    def printed(x):
        runs.append(1)
        xf.print("sum", jnp.sum(x))
        return x + 1

    with pytest.warns(xf.RelaxedShapeWarning, match="calls back into Python"):
        np.testing.assert_array_equal(printed(ones(2)), ones(2) + 1)
    np.testing.assert_array_equal(printed(ones(3)), ones(3) + 1)
    jax.effects_barrier()
    assert printed.tracing_count == 3  # the symbolic trace, then one per shape


def test_a_plain_error_in_the_code_raises_alone():
    @xf.function(input_signature=[xf.TensorSpec([None, 3])])
    def broken(x):
        return x @ jnp.ones((7, 7))

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RelaxedShapeWarning before the error
        with pytest.raises(TypeError, match="dot_general"):
            broken(rows(2))


def test_a_size_the_program_fixed_fails_at_the_call_with_the_users_error():
    @xf.function(input_signature=[xf.TensorSpec([None, 3])])
    def flat6(x):
        return x.reshape(6)  # holds for two rows only, as tf.reshape would

    np.testing.assert_array_equal(flat6(rows(2)), rows(2).reshape(6))
    with pytest.raises(TypeError, match=r"cannot reshape array of shape \(3, 3\)"):
        flat6(rows(3))


def test_reduce_retracing_generalises_the_sizes_that_differ():
    runs = []

    @xf.function(reduce_retracing=True)
    def f(x):
        runs.append(tuple(str(d) for d in x.shape))
        return jnp.cumsum(x, axis=-1) * 2

    def check(*shape):
        x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
        np.testing.assert_allclose(f(x), np.cumsum(x, axis=-1) * 2)

    check(3)
    check(4)  # differs from (3,): traced once more, with the size None
    check(5)
    check(9)
    check(3)  # the first trace still serves its own shape
    assert runs == [("3",), ("x_0",)]
    check(2, 3)  # another rank has no common type with (3,): traced as it is
    check(2, 4)  # only the size that differs is generalised
    check(2, 7)
    check(3, 4)  # differs in both from (2, 3): both generalised
    check(6, 1)
    assert runs[2:] == [("2", "3"), ("2", "x_1"), ("x_0", "x_1")]
    assert f.tracing_count == len(runs) == 5


def test_reduce_retracing_keeps_dtypes_apart_and_updates_variables():
    count = xf.Variable(0.0)
    runs = []

    @xf.function(reduce_retracing=True)
    def total(x, scale):
        runs.append(1)
        count.assign_add(jnp.sum(x).astype(jnp.float32) * scale)
        return count.value

    expected = 0.0
    for n, scale in ((2, 1.0), (3, 2.0), (7, 0.5), (4, 3.0)):
        expected += np.arange(n, dtype=np.float32).sum() * scale
        np.testing.assert_allclose(total(np.arange(n, dtype=np.float32), scale), expected)
    assert len(runs) == 2  # Python numbers are traced, sizes generalised once
    total(np.arange(3, dtype=np.int32), 1.0)  # a new dtype: a trace of its own
    total(np.arange(5, dtype=np.int32), 1.0)  # and then its sizes generalised
    assert len(runs) == 4
    expected += 3.0 + 10.0
    np.testing.assert_allclose(count.numpy(), expected)


def test_reduce_retracing_without_variables_uses_the_fast_path_entry():
    @xf.function(reduce_retracing=True)
    def square(x):
        return x * x

    for n in (2, 3, 4, 5):
        x = np.arange(n, dtype=np.float32)
        np.testing.assert_array_equal(square(jnp.asarray(x)), x * x)
    assert square.tracing_count == 2
    cf = square.get_concrete_function(jnp.ones(6))
    assert str(cf.jaxpr.in_avals[0].shape[0]) == "x_0"


def test_reduce_retracing_get_concrete_function_of_specs_is_symbolic():
    @xf.function(reduce_retracing=True)
    def halve(x):
        return x / 2

    np.testing.assert_array_equal(halve(np.full(3, 4.0, np.float32)), [2.0, 2.0, 2.0])
    cf = halve.get_concrete_function(xf.TensorSpec([None], xf.float32))
    assert str(cf.jaxpr.in_avals[0].shape[0]) == "batch"
    assert halve.tracing_count == 2


def test_a_concrete_functions_structured_outputs_keep_the_none_sizes():
    scale = xf.Variable(2.0)

    @xf.function
    def outputs(x):
        return {"scaled": scale * x, "pair": (x[0], xf.reduce_sum(x))}

    specs = outputs.get_concrete_function(xf.TensorSpec([None], xf.float32)).structured_outputs
    assert specs == {"scaled": xf.TensorSpec([None], xf.float32),
                     "pair": (xf.TensorSpec([], xf.float32), xf.TensorSpec([], xf.float32))}

    @xf.function
    def plain(x):  # lifts no Variables: a program of another form
        return xf.cast(x, xf.int32)

    assert plain.get_concrete_function(np.ones((2, 3), np.float32)).structured_outputs == \
        xf.TensorSpec([2, 3], xf.int32)
