"""xf.function tracing: retrace rules, input_signature, introspection, errors, warnings."""

import traceback

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def counting(**options):
    traces = []

    @xf.function(**options)
    def f(x, n=1):
        traces.append(1)  # Python side effects run at trace time only
        return x * n

    return f, traces


def test_same_shapes_trace_once_new_shapes_and_dtypes_retrace():
    f, traces = counting()
    f(jnp.ones(3))
    f(jnp.zeros(3))
    f(np.ones(3, np.float32))
    assert f.tracing_count == 1 and len(traces) == 1
    f(jnp.ones(4))
    assert f.tracing_count == 2
    f(jnp.ones(3, jnp.int32))
    assert f.tracing_count == 3 == f.experimental_get_tracing_count() == len(traces)
    f(jnp.ones(4))
    assert f.tracing_count == 3


def test_positional_only_parameters_get_their_arguments():
    def scaled(x, /, b=1.0, c=2.0):
        return x * b * c

    def keyed(s, /, k=1.0, *, m=3.0):
        return s * k + m

    f, g = xf.function(scaled), xf.function(keyed)
    np.testing.assert_allclose(f(jnp.ones(2), 2.0), scaled(np.ones(2), 2.0))
    np.testing.assert_allclose(f(jnp.ones(2), c=5.0), scaled(np.ones(2), c=5.0))
    assert float(g(1.0)) == keyed(1.0)
    assert float(g(jnp.float32(3.0), k=2.0, m=0.5)) == keyed(3.0, k=2.0, m=0.5)


def test_python_values_are_static_and_retrace_per_value():
    f, _ = counting()
    assert float(f(jnp.float32(2.0), 3)) == 6.0
    assert float(f(jnp.float32(2.0), 3)) == 6.0
    assert f.tracing_count == 1
    assert float(f(jnp.float32(2.0), 4)) == 8.0
    assert float(f(jnp.float32(2.0), n=4)) == 8.0
    assert f.tracing_count == 2  # by keyword or position: one call (bound to the signature)
    f(jnp.float32(2.0), 4.0)
    assert f.tracing_count == 3  # 4.0 is not 4: types are part of the key
    f(jnp.float32(2.0), True)
    assert f.tracing_count == 4
    f(jnp.float32(2.0))
    f(jnp.float32(2.0), 1)  # the default, given: the same call as leaving it out
    f(x=jnp.float32(2.0), n=1)
    assert f.tracing_count == 5


def test_strings_tuples_and_none_are_static():
    @xf.function
    def f(x, mode, shape, extra=None):
        out = x.reshape(shape)
        return out * 2 if mode == "double" else out

    x = jnp.arange(6.0)
    np.testing.assert_array_equal(f(x, "double", (2, 3)), np.arange(6.0).reshape(2, 3) * 2)
    np.testing.assert_array_equal(f(x, "same", (3, 2)), np.arange(6.0).reshape(3, 2))
    f(x, "same", (3, 2))
    assert f.tracing_count == 2


def test_reduce_retracing_traces_python_numbers():
    f, _ = counting(reduce_retracing=True)
    for n in range(5):
        assert float(f(jnp.float32(2.0), n)) == 2.0 * n
    assert f.tracing_count == 1


def test_static_argnames_forces_static():
    @xf.function(static_argnames="n", reduce_retracing=True)
    def f(x, n):
        return x * n if n > 1 else x  # Python `if` on n needs a static value

    assert float(f(jnp.float32(3.0), 2)) == 6.0
    assert float(f(jnp.float32(3.0), n=1)) == 3.0
    assert f.tracing_count == 2


def test_unhashable_static_argument_names_the_argument():
    @xf.function
    def f(x, options):
        return x

    with pytest.raises(TypeError, match="argument 'options' of type set is not hashable"):
        f(jnp.ones(1), {1, 2})


def test_input_signature_accepts_matching_and_converts_python_values():
    @xf.function(input_signature=[xf.TensorSpec([None, 2], xf.float32),
                                  xf.TensorSpec([], xf.int32)])
    def f(x, k):
        return x * k.astype(x.dtype)

    np.testing.assert_array_equal(f(jnp.ones((3, 2)), 2), np.full((3, 2), 2.0))
    np.testing.assert_array_equal(f(jnp.ones((5, 2)), k=3), np.full((5, 2), 3.0))
    np.testing.assert_array_equal(f([[1.0, 1.0]], jnp.int32(4)), [[4.0, 4.0]])
    assert f.tracing_count == 1  # one symbolic trace; XLA compiles each batch size


def test_input_signature_errors_name_the_argument():
    @xf.function(input_signature=[xf.TensorSpec([None, 2], xf.float32)])
    def f(images):
        return images

    with pytest.raises(ValueError, match=r"argument 'images' expected shape \(None, 2\).*"
                                         r"received \(3, 3\)"):
        f(jnp.ones((3, 3)))
    with pytest.raises(TypeError, match="argument 'images' expected dtype float32.*received "
                                        "int32"):
        f(jnp.ones((3, 2), jnp.int32))
    with pytest.raises(TypeError, match="input_signature of 1 inputs; received 2 arguments"):
        f(jnp.ones((3, 2)), jnp.ones(1))
    with pytest.raises(TypeError, match="unexpected keyword argument 'other'"):
        f(other=jnp.ones((3, 2)))
    with pytest.raises(TypeError, match="must contain xf.TensorSpec"):
        xf.function(lambda x: x, input_signature=[(2, 3)])
    assert f.tracing_count == 0


def test_input_signature_nested_structure():
    @xf.function(input_signature=[{"a": xf.TensorSpec([2]), "b": xf.TensorSpec([2])}])
    def f(d):
        return d["a"] + d["b"]

    np.testing.assert_array_equal(f({"a": jnp.ones(2), "b": jnp.ones(2)}), [2.0, 2.0])
    with pytest.raises(TypeError, match="does not match the input_signature structure"):
        f({"a": jnp.ones(2)})


def test_retrace_warning_names_the_changed_argument():
    xf.config.update("retrace_warning_threshold", 2)

    @xf.function
    def f(x, scale):
        return x * scale

    f(jnp.ones(2), 1.0)
    f(jnp.ones(2), 2.0)
    with pytest.warns(xf.RetracingWarning, match=r"traced 3 times.*argument 'scale': "
                                                 r"Python value 2.0 -> Python value 3.0"):
        f(jnp.ones(2), 3.0)
    with pytest.warns(xf.RetracingWarning, match=r"argument 'x': float32\[2\] -> float32\[5\]"):
        f(jnp.ones(5), 3.0)


def test_no_retrace_warning_below_threshold():
    f, _ = counting()
    for n in range(5):  # default threshold 5: five traces are fine (filterwarnings=error)
        f(jnp.ones(2), n)
    assert f.tracing_count == 5


def test_get_concrete_function_exposes_jaxpr_and_stablehlo():
    v = xf.Variable(2.0, name="scale")

    @xf.function
    def scaled_sin(x):
        return jnp.sin(x) * v

    cf = scaled_sin.get_concrete_function(jnp.ones(3))
    eqns = [str(e.primitive) for e in cf.jaxpr.jaxpr.eqns]
    assert "sin" in eqns and "mul" in eqns
    text = cf.as_text()
    assert "module @jit_scaled_sin" in text and "stablehlo.sine" in text
    assert "HloModule" in cf.as_text(dialect="hlo")
    assert [var.name for var in cf.variables] == ["scale"]
    np.testing.assert_allclose(cf(jnp.ones(3)), np.sin(np.ones(3)) * 2, rtol=1e-6)
    assert scaled_sin.tracing_count == 1
    scaled_sin(jnp.ones(3))
    assert scaled_sin.tracing_count == 1  # the concrete function's trace is reused
    assert "stablehlo.sine" in scaled_sin.lower(jnp.ones(3)).as_text()


def test_get_concrete_function_takes_tensor_specs_as_tf_does():
    v = xf.Variable(np.float32(3.0))

    @xf.function
    def affine(x, w, shift=None):
        return x @ w * v + (0.0 if shift is None else shift["b"])

    cf = affine.get_concrete_function(xf.TensorSpec([2, 3]), xf.TensorSpec([3, 4]),
                                      shift={"b": jax.ShapeDtypeStruct((4,), jnp.float32)})
    [aval] = cf.jaxpr.out_avals
    assert aval.shape == (2, 4) and aval.dtype == jnp.float32
    x, w, b = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32), np.arange(4.0)
    np.testing.assert_allclose(affine(x, w, shift={"b": np.float32(b)}), x @ w * 3.0 + b)
    assert affine.tracing_count == 1  # the call reused the spec's trace
    assert affine.get_concrete_function(xf.TensorSpec([5, 3]), xf.TensorSpec([3, 4]),
                                        ).jaxpr.out_avals[0].shape == (5, 4)

    # None sizes are symbolic, as in TF; a leading one is the batch, shared by the inputs
    some = affine.get_concrete_function(xf.TensorSpec([None, 3]), xf.TensorSpec([3, 4]),
                                        shift={"b": xf.TensorSpec([None, 4])})
    [aval] = some.jaxpr.out_avals
    assert str(aval.shape[0]) == "batch" and aval.shape[1] == 4
    assert "tensor<?x4xf32>" in some.as_text()
    with pytest.raises(ValueError, match=r"affine: this concrete function has symbolic sizes "
                       r"\(\(batch, 3\).*sized TensorSpecs or arrays"):
        some.compile()
    with pytest.raises(ValueError, match=r"argument \"shift\['b'\]\" is TensorSpec\(shape="
                       r"None.*unknown rank"):
        affine.get_concrete_function(xf.TensorSpec([2, 3]), xf.TensorSpec([3, 4]),
                                     shift={"b": xf.TensorSpec(None)})
    # an abstract value cannot be called with: a clear error, not JAX's about `leaves[0]`
    with pytest.raises(TypeError, match=r"affine\(\) argument 'x' is a jax.ShapeDtypeStruct"):
        affine(jax.ShapeDtypeStruct((2, 3), jnp.float32), w)

    signed = xf.function(input_signature=[xf.TensorSpec([None], xf.int32)])(lambda n: n * 2)
    [aval] = signed.get_concrete_function().jaxpr.out_avals  # no arguments: the signature
    assert str(aval.shape[0]) == "batch" and aval.dtype == jnp.int32

    # a static parameter's TensorSpec is a value, as in a call
    zeros = xf.function(lambda x, spec: jnp.zeros(spec.shape[1:]) + x, static_argnames="spec")
    zeros.get_concrete_function(xf.TensorSpec([2]), spec=xf.TensorSpec([None, 2]))
    np.testing.assert_array_equal(zeros(np.ones(2, np.float32), spec=xf.TensorSpec([None, 2])),
                                  [1.0, 1.0])
    assert zeros.tracing_count == 1


def test_python_function_is_the_original():
    def g(x):
        return x

    f = xf.function(g)
    assert f.python_function is g and f.__name__ == "g" and f.__wrapped__ is g


def test_trace_error_points_at_user_line():
    @xf.function
    def broken(x):
        y = x + 1
        return y @ jnp.ones((7, 7))  # shape mismatch: the user's line

    with pytest.raises(TypeError) as info:
        broken(jnp.ones(3))
    frames = traceback.extract_tb(info.value.__traceback__)
    assert frames[-1].name == "broken" and "jnp.ones((7, 7))" in frames[-1].line
    # Only the call boundary itself remains of xlaflow's (and none of JAX's) frames.
    assert [f.name for f in frames if "/xlaflow/" in f.filename] == ["__call__"]
    assert not any("/jax/" in f.filename for f in frames)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "in user code" in notes and "y @ jnp.ones((7, 7))" in notes


def test_traceback_filtering_can_be_turned_off():
    xf.config.update("traceback_filtering", False)

    @xf.function
    def broken(x):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom") as info:
        broken(jnp.ones(1))
    frames = traceback.extract_tb(info.value.__traceback__)
    assert any(f.filename.endswith("xlaflow/function.py") for f in frames)


def test_print_runs_at_trace_time_xf_print_at_run_time(capsys):
    @xf.function
    def f(x):
        print("tracing")
        xf.print("running", x)
        return x

    for i in range(3):
        f(jnp.int32(i))
    jax.effects_barrier()
    out = capsys.readouterr()
    assert out.out.count("tracing") == 1  # Python's print: stdout; xf.print: stderr
    assert [line for line in out.err.splitlines() if line.startswith("running")] == [
        "running 0", "running 1", "running 2"]


def test_first_call_traces_once_when_variables_are_reachable(capsys):
    v = xf.Variable(1.0)

    @xf.function
    def f(x):
        print("tracing")
        return x + v

    f(jnp.float32(1.0))
    assert capsys.readouterr().out.count("tracing") == 1


def test_an_assert_inside_a_users_jax_jit_raises_there_and_not_later():
    @xf.function
    def checked(x):
        assert x > 0, "x must be positive"
        return x + 1

    with pytest.raises(Exception, match="x must be positive"):
        jax.block_until_ready(jax.jit(checked)(jnp.float32(-1.0)))
    assert float(checked(jnp.float32(3.0))) == 4.0  # nothing recorded is left over
    with pytest.raises(AssertionError, match="x must be positive"):
        checked(jnp.float32(-2.0))


def test_python_floats_are_static_by_their_bits():
    @xf.function
    def divide(x, y):
        return x / y

    one = jnp.float32(1.0)
    assert float(divide(one, 0.0)) == float("inf")
    assert float(divide(one, -0.0)) == float("-inf")  # not the program traced for 0.0
    nan = float("nan")
    for _ in range(3):
        divide(one, nan)
    assert divide.tracing_count == 3  # 0.0, -0.0 and nan once


def test_the_retracing_warning_points_at_the_users_call():
    @xf.function
    def scaled(x, factor):
        return x * factor

    # the warning comes from the loop's retraces together, not from one call
    with xf.config.override(retrace_warning_threshold=2), \
            pytest.warns(xf.RetracingWarning) as caught:  # noqa: PT031
        for factor in range(4):
            scaled(jnp.ones(2), factor)  # a new Python value each time: retraces
    assert all(w.filename == __file__ for w in caught), [w.filename for w in caught]


def test_an_unhashable_static_argument_is_named_with_its_own_type():
    @xf.function(static_argnames="cfg")
    def configured(x, cfg):
        return x * cfg["a"]

    with pytest.raises(TypeError, match=r"argument 'cfg' of type dict is not hashable.*"
                                        r"static_argnames"):
        configured(jnp.ones(2), cfg={"a": 2})


def test_input_signature_converts_python_values_only_without_loss():
    @xf.function(input_signature=[xf.TensorSpec([None], xf.int32)])
    def ints(a):
        return a

    assert ints([1, 2]).tolist() == [1, 2]
    with pytest.raises(TypeError, match=r"argument 'a'.*float64 values do not fit"):
        ints([1.5, 2.5])

    @xf.function(input_signature=[xf.TensorSpec([], xf.bool)])
    def flag(f):
        return f

    with pytest.raises(TypeError, match=r"argument 'f'.*numbers are not booleans"):
        flag(2)

    @xf.function(input_signature=[xf.TensorSpec([], xf.int8)])
    def small(count):
        return count

    with pytest.raises(TypeError, match=r"argument 'count'.*outside int8's range"):
        small(300)

    @xf.function(reduce_retracing=True)
    def add(x, n):
        return x + n

    with pytest.raises(OverflowError, match="argument 'n' is the Python int"):
        add(jnp.ones(2, jnp.int32), 2 ** 40)


def test_input_signature_does_not_fill_positional_only_parameters_from_keywords():
    @xf.function(input_signature=[xf.TensorSpec([], xf.float32)])
    def f(x, /):
        return x * 2

    assert float(f(1.5)) == 3.0
    with pytest.raises(TypeError, match="unexpected keyword argument 'x'"):
        f(x=1.5)


def test_a_concrete_function_refuses_arguments_outside_its_specs():
    @xf.function
    def double(x, scale=1.0):
        return x * 2 * scale

    cf = double.get_concrete_function(xf.TensorSpec([None], xf.float32))
    np.testing.assert_allclose(cf(np.ones(3, np.float32)), [2.0, 2.0, 2.0])
    with pytest.raises(TypeError, match=r"argument 'x' expected TensorSpec\(shape=\(None,\), "
                       r"dtype=float32.*received shape \(2, 2\) dtype float32"):
        cf(np.ones((2, 2), np.float32))
    with pytest.raises(TypeError, match=r"argument 'x' .*received shape \(2,\) dtype int32"):
        cf(np.ones(2, np.int32))
    with pytest.raises(TypeError, match=r"argument 'scale' was traced with the Python value "
                       r"1.0; received 3.0"):
        cf(np.ones(2, np.float32), 3.0)
    np.testing.assert_allclose(cf(x=np.ones(2, np.float32)), [2.0, 2.0])  # by keyword, as TF
    with pytest.raises(TypeError, match=r"expected arguments .*received 3 positional"):
        cf(np.ones(2, np.float32), 1.0, 5)
