"""xf.saved_model.load restores the saved object's xf.functions and Variables (TF's
restored functions): calls dispatch among the saved traces, Variables are Variables again,
and gradients flow to them through the exported programs."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras
from xlaflow.saving import export

HERE = [jax.devices()[0].platform]


class Scaled(xf.Module):
    def __init__(self):
        super().__init__()
        self.v = xf.Variable(1.5)
        self.child = Child()

    @xf.function
    def __call__(self, x):
        return x * self.v

    @xf.function(input_signature=[xf.TensorSpec([], xf.float32)])
    def mutate(self, new_v):
        self.v.assign(new_v)

    @xf.function
    def parts(self, x, scale=2):
        return {"sum": x + self.v, "pair": (x * scale, x - self.v)}


class Child(xf.Module):
    def __init__(self):
        super().__init__()
        self.w = xf.Variable(np.float32([1.0, -2.0, 3.0]))
        self.b = xf.Variable(0.25, trainable=False)

    @xf.function
    def f(self, x):
        return jnp.sin(x * self.w) + self.b


def _saved(tmp_path, module=None):
    module = module or Scaled()
    module(xf.constant(2.0))  # traced at two shapes
    module(xf.constant([1.0, 2.0, 3.0]))
    module.parts(xf.constant(1.0))
    module.parts(xf.constant(1.0), scale=3)
    module.child.f(xf.constant([0.5, 0.5, 0.5]))
    xf.saved_model.save(module, tmp_path / "m", platforms=HERE)
    return module, xf.saved_model.load(tmp_path / "m")


def test_both_traced_shapes_are_restored_and_an_untraced_one_names_them(tmp_path):
    module, imported = _saved(tmp_path)
    for x in (xf.constant(3.0), xf.constant([1.0, 2.0, 4.0])):  # as the original computes
        np.testing.assert_array_equal(imported(x), module(x))
    assert float(imported(xf.constant(3.0))) == 4.5
    assert imported.v.numpy() == 1.5 and imported.v.trainable
    with pytest.raises(ValueError, match=r"(?s)shape=\(2, 2\).*__call__\(x: float32 Tensor, "
                       r"shape=\(\)\).*__call__\(x: float32 Tensor, shape=\(3,\)\)"):
        imported(xf.constant([[1.0, 2.0], [3.0, 4.0]]))
    with pytest.raises(ValueError, match="int32 Tensor"):  # a dtype not traced
        imported(xf.constant(3))


def test_structured_outputs_and_python_arguments_by_value(tmp_path):
    _, imported = _saved(tmp_path)
    out = imported.parts(xf.constant(2.0))
    assert set(out) == {"sum", "pair"} and isinstance(out["pair"], tuple)
    assert float(out["sum"]) == 3.5
    assert [float(x) for x in out["pair"]] == [4.0, 0.5]  # scale=2, the default
    assert float(imported.parts(xf.constant(2.0), 3)["pair"][0]) == 6.0
    assert float(imported.parts(x=xf.constant(2.0), scale=3)["pair"][0]) == 6.0
    with pytest.raises(ValueError, match=r"scale=4"):
        imported.parts(xf.constant(2.0), scale=4)  # Python values match by equality
    with pytest.raises(ValueError, match="Could not find a matching"):
        imported.parts(xf.constant(2.0), scale=3.0)  # 3.0 is not the int 3


def test_a_child_modules_method_and_variables(tmp_path):
    module, imported = _saved(tmp_path)
    x = np.float32([0.5, 0.5, 0.5])
    want = np.sin(x * np.float32([1.0, -2.0, 3.0])) + 0.25
    np.testing.assert_allclose(imported.child.f(x), want, rtol=1e-6)
    assert not imported.child.b.trainable
    assert {v.name for v in imported.trainable_variables} == \
        {v.name for v in module.trainable_variables}
    assert len(imported.trainable_variables) == 2 and len(imported.non_trainable_variables) == 1


def test_assigning_a_restored_variable_changes_later_calls_and_signatures(tmp_path):
    _, imported = _saved(tmp_path)
    imported.mutate(xf.constant(2.0))  # the restored function assigns
    assert imported.v.numpy() == 2.0
    assert float(imported(xf.constant(3.0))) == 6.0
    imported.v.assign(4.0)  # so does the user
    assert float(imported(xf.constant(3.0))) == 12.0
    assert imported.mutate(5.0) is None  # an input_signature converts Python numbers
    assert float(imported.parts(xf.constant(1.0))["sum"]) == 6.0
    (signature,) = imported.signatures.values()  # mutate: the only input_signature
    signature(new_v=np.float32(7.0))  # a signature's assignment is not written back ...
    assert imported.v.numpy() == 5.0  # (a served program is stateless), as before


def test_gradient_tape_reaches_restored_variables_and_inputs(tmp_path):
    _, imported = _saved(tmp_path)
    x = xf.constant([0.3, -0.7, 1.1])
    with xf.GradientTape() as tape:
        tape.watch(x)
        loss = xf.reduce_sum(imported.child.f(x) ** 2) * imported(xf.constant(2.0))
    gw, gv, gb, gx = tape.gradient(loss, [imported.child.w, imported.v, imported.child.b, x])

    def oracle(w, v, x):
        return jnp.sum((jnp.sin(x * w) + 0.25) ** 2) * (2.0 * v)

    want = jax.grad(oracle, argnums=(0, 1, 2))(jnp.float32([1.0, -2.0, 3.0]),
                                               jnp.float32(1.5), x)
    np.testing.assert_allclose(gw, want[0], rtol=1e-5)
    np.testing.assert_allclose(gv, want[1], rtol=1e-5)
    np.testing.assert_allclose(gx, want[2], rtol=1e-5)
    assert gb is None  # not trainable, so not watched (TF's None)
    # a plain jax.grad through a restored function, with respect to its input
    np.testing.assert_allclose(
        jax.grad(lambda x: jnp.sum(imported.child.f(x)))(x),
        jax.grad(lambda x: jnp.sum(jnp.sin(x * jnp.float32([1.0, -2.0, 3.0]))))(x), rtol=1e-5)


def test_a_keras_sequential_is_called_after_load(tmp_path):
    xf.random.set_seed(1)
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3, activation="relu"),
                              keras.layers.Dense(2)])
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    xf.saved_model.save(model, tmp_path / "k", platforms=HERE)
    imported = xf.saved_model.load(tmp_path / "k")
    np.testing.assert_allclose(imported(x), model(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(imported(x[:1]), model(x[:1]), rtol=1e-5, atol=1e-6)
    assert len(imported.trainable_variables) == 4
    kernel = next(v for v in imported.trainable_variables if v.shape == (3, 2))
    kernel.assign(np.zeros((3, 2), np.float32))
    np.testing.assert_allclose(imported(x), np.broadcast_to(model.layers[-1].bias.numpy(),
                                                            (5, 2)), atol=1e-6)


def test_an_export_without_the_objects_section_still_loads(tmp_path):
    """Exports written before the objects section: signatures only, as they were."""
    @xf.function(input_signature=[xf.TensorSpec([None], xf.float32)])
    def double(x):
        return {"y": x * 2}

    lowered = export.lower_all({"serving_default": double}, HERE)
    export.write(tmp_path / "old", lowered)
    with open(tmp_path / "old" / "signatures.json") as f:
        assert "objects" not in json.load(f)
    loaded = xf.saved_model.load(tmp_path / "old")
    np.testing.assert_allclose(loaded.signatures["serving_default"](x=[1.0, 2.0])["y"], [2, 4])
    with pytest.raises(NotImplementedError, match="written before exports kept"):
        loaded(np.float32([1.0]))
    assert not hasattr(loaded, "double")


def test_nothing_to_export_is_refused_and_a_function_without_traces_names_it(tmp_path):
    class Bare(xf.Module):
        @xf.function
        def f(self, x):
            return x + 1

    with pytest.raises(ValueError, match="nothing to export"):
        xf.saved_model.save(Bare(), tmp_path / "n", platforms=HERE)
    bare = Bare()
    bare.v = xf.Variable(1.0)

    @xf.function(input_signature=[xf.TensorSpec([], xf.float32)])
    def g(x):
        return x * bare.v

    xf.saved_model.save(bare, tmp_path / "n", signatures=g, platforms=HERE)
    imported = xf.saved_model.load(tmp_path / "n")
    with pytest.raises(ValueError, match="none: it was never traced"):
        imported.f(xf.constant(1.0))
    imported.v.assign(3.0)  # the signature reads the restored Variable
    assert float(imported.signatures["serving_default"](x=np.float32(2.0))["output_0"]) == 6.0


def test_a_program_jax_cannot_differentiate_still_runs_and_its_gradient_raises(tmp_path):
    class Loop(xf.Module):
        def __init__(self):
            super().__init__()
            self.v = xf.Variable(2.0)

        @xf.function
        def __call__(self, x):
            return jax.lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * self.v),
                                      (0, x))[1]

    module = Loop()
    module(xf.constant(1.0))
    xf.saved_model.save(module, tmp_path / "w", platforms=HERE)
    imported = xf.saved_model.load(tmp_path / "w")
    assert float(imported(xf.constant(1.0))) == 8.0
    with xf.GradientTape() as tape:
        y = imported(xf.constant(1.0))
    with pytest.raises(ValueError, match="has no gradient"):
        tape.gradient(y, imported.v)


def test_relaxed_traces_serve_any_size_and_object_arguments_are_left_out(tmp_path, caplog):
    class Relaxed(xf.Module):
        def __init__(self):
            super().__init__()
            self.v = xf.Variable(2.0)

        @xf.function(reduce_retracing=True)
        def f(self, x):
            return x * self.v

        @xf.function
        def g(self, x, other, mode="add"):
            return x + other if mode == "add" else x - other

    module = Relaxed()
    for n in (2, 3, 5):  # the third trace has a None size
        module.f(np.ones(n, np.float32))
    module.g(np.float32(1.0), module.v)  # a Variable argument: JSON cannot name it
    module.g(np.float32(1.0), np.float32(2.0), mode="sub")
    with caplog.at_level("WARNING", logger="xlaflow.saving"):
        xf.saved_model.save(module, tmp_path / "r", platforms=HERE)
    assert "a trace of g is not saved" in caplog.text
    imported = xf.saved_model.load(tmp_path / "r")
    np.testing.assert_array_equal(imported.f(np.ones(7, np.float32)), np.full(7, 2.0))
    assert "shape=(None,)" in imported.f.pretty_printed_concrete_signatures()
    assert float(imported.g(np.float32(1.0), np.float32(2.0), "sub")) == -1.0
    assert len(imported.g.concrete_functions) == 1


def test_a_never_called_keras_model_saves_its_traced_functions_without_a_signature(
        tmp_path, caplog):
    # TF 2.12 logs "Skipping full serialization" for an unbuilt model and still saves the
    # functions it traced (the text-generation tutorial's OneStep model); this raised
    class Stepper(keras.Model):
        def __init__(self):
            super().__init__()
            self.scale = xf.Variable(3.0)

        @xf.function
        def step(self, x):
            return x * self.scale + 1.0

    stepper = Stepper()
    x = jnp.arange(3.0)
    expect = np.asarray(stepper.step(x))
    with caplog.at_level("WARNING", logger="xlaflow.saving"):
        xf.saved_model.save(stepper, str(tmp_path / "stepper"), platforms=HERE)
    assert "never built or called" in caplog.text
    loaded = xf.saved_model.load(str(tmp_path / "stepper"))
    assert loaded.signatures == {}
    np.testing.assert_allclose(loaded.step(x), expect)
    with pytest.raises(ValueError, match="input shape"):  # model.save still needs one
        stepper.save(str(tmp_path / "whole"))
