"""Review of xf.saved_model.load's restored functions against the original object (TF 2.12's
restored-function dispatch as the oracle): Python values, defaults, conversions, shared
Variables and the names a LoadedModel keeps for itself."""

import hashlib
import json
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.saving import atomic, export

HERE = [jax.devices()[0].platform]


def _round_trip(obj, tmp_path):
    xf.saved_model.save(obj, tmp_path / "m", platforms=HERE)
    return xf.saved_model.load(tmp_path / "m")


class Flags(xf.Module):
    def __init__(self):
        super().__init__()
        self.v = xf.Variable(2.0)

    @xf.function
    def by_value(self, x, flag):
        if flag is True:
            return x * self.v + 10.0
        if isinstance(flag, float):
            return x * self.v + (5.0 if str(flag) == "-0.0" else 7.0)
        return x * self.v + 100.0 * flag

    @xf.function
    def keyword_only(self, x, y=3.0, *, z=1):
        return x * self.v + y * z

    @xf.function
    def ints(self, x):
        return x + 1


def test_python_values_dispatch_by_type_and_bits_as_the_original(tmp_path):
    module, x = Flags(), xf.constant(1.0)
    calls = [True, 1, 0.0, -0.0]
    want = [float(module.by_value(x, flag)) for flag in calls]
    assert want == [12.0, 102.0, 9.0, 7.0]  # four traces: True != 1, -0.0 != 0.0
    loaded = _round_trip(module, tmp_path)
    assert [float(loaded.by_value(x, flag)) for flag in calls] == want


def test_a_keyword_only_default_given_explicitly_matches_the_trace_that_omitted_it(tmp_path):
    # TF canonicalizes a call's keyword-only defaults into the trace's inputs, so f(x, 3.0,
    # z=1) and f(x) are one trace; only positional defaults were recorded before
    module, x = Flags(), xf.constant(1.0)
    module.keyword_only(x)
    module.keyword_only(x, 5.0, z=2)
    loaded = _round_trip(module, tmp_path)
    assert float(loaded.keyword_only(x, 3.0, z=1)) == float(module.keyword_only(x, 3.0, z=1))
    assert float(loaded.keyword_only(x, z=1)) == 5.0
    assert float(loaded.keyword_only(x, 5.0, z=2)) == 12.0
    with pytest.raises(ValueError, match="Could not find a matching concrete function"):
        loaded.keyword_only(x, z=3)


def test_python_numbers_and_lists_fit_a_trace_made_on_tensors(tmp_path):
    # TF's second pass converts Python arguments to each trace's dtype before giving up
    module = Flags()
    module.ints(xf.constant([1, 2], dtype=xf.int32))
    module.by_value(xf.constant(1.0), True)
    loaded = _round_trip(module, tmp_path)
    np.testing.assert_array_equal(loaded.ints([1, 2]), np.int32([2, 3]))
    assert loaded.ints([1, 2]).dtype == jnp.int32
    assert float(loaded.by_value(1.5, True)) == 13.0  # a Python float for the tensor x
    # an exact fit still wins, and a flag is never converted into a tensor
    with pytest.raises(ValueError, match="Could not find a matching"):
        loaded.by_value(1.5, 1)
    with pytest.raises(ValueError, match="Could not find a matching"):
        loaded.ints([1, 2, 3])  # the trace's shape still applies


def test_integers_out_of_the_traces_range_are_not_wrapped(tmp_path):
    fn = xf.function(lambda x: x * 2, input_signature=[xf.TensorSpec([2], xf.int32)])
    holder = xf.Module()
    holder.double = fn
    loaded = _round_trip(holder, tmp_path)
    np.testing.assert_array_equal(loaded.double([3, -4]), np.int32([6, -8]))
    # 2**40 as int32 would wrap to 0 and return [0, 2]: no trace fits it instead
    with pytest.raises(ValueError, match="Could not find a matching"):
        loaded.double([2 ** 40, 1])


class Private(xf.Module):
    def __init__(self):
        super().__init__()
        self.v = xf.Variable(2.0)
        self._methods = [xf.Variable(1.0)]  # LoadedModel's own attribute names
        self.signatures = [xf.Variable(4.0)]

    @xf.function
    def __call__(self, x):
        return x * self.v


def test_saved_attributes_never_replace_the_loaded_models_own_state(tmp_path, caplog):
    module = Private()
    module(xf.constant(3.0))
    with caplog.at_level(logging.WARNING, logger="xlaflow.saving"):
        loaded = _round_trip(module, tmp_path)
    assert float(loaded(xf.constant(3.0))) == 6.0  # was: AttributeError on a list
    assert isinstance(loaded.signatures, dict)
    assert "['_methods', 'signatures']" in caplog.text
    assert "__call__" not in caplog.text


class Holder(xf.Module):
    def __init__(self, v):
        super().__init__()
        self.v = v

    @xf.function
    def set(self, a):
        self.v.assign(a)
        return self.v

    @xf.function
    def get(self):
        return self.v * 1.0


def test_a_shared_variable_is_one_object_after_load_and_loads_are_independent(tmp_path):
    shared = xf.Variable(1.0)
    root = xf.Module()
    root.a, root.b = Holder(shared), Holder(shared)
    root.a.set(xf.constant(1.0))
    root.b.get()
    loaded = _round_trip(root, tmp_path)
    again = xf.saved_model.load(tmp_path / "m")
    assert loaded.a.v is loaded.b.v
    assert float(loaded.a.set(xf.constant(7.0))) == 7.0  # assigns and returns it
    assert float(loaded.b.get()) == 7.0
    assert float(again.b.get()) == 1.0


class Scaled(xf.Module):
    def __init__(self):
        super().__init__()
        self.v = xf.Variable(1.5)
        self.child = Holder(xf.Variable(np.float32([1.0, 2.0, 3.0])))
        self.child.b = xf.Variable(0.5, trainable=False)

    @xf.function
    def __call__(self, x):
        return jnp.sin(x * self.child.v) * self.v + self.child.b

    @xf.function(input_signature=[xf.TensorSpec([], xf.float32)])
    def mutate(self, a):
        self.v.assign(a)
        return self.v * 2.0


def test_a_loaded_object_saves_again_with_its_functions_signatures_and_variables(tmp_path):
    # TF: tf.saved_model.save(loaded, path) keeps the restored functions and signatures
    module, x = Scaled(), xf.constant([0.3, 0.4, 0.5])
    module(x)
    module.child.get()
    loaded = _round_trip(module, tmp_path)
    loaded.v.assign(2.0)  # saved again with the loaded object's current values
    xf.saved_model.save(loaded, tmp_path / "again", platforms=HERE)
    again = xf.saved_model.load(tmp_path / "again")
    module.v.assign(2.0)
    np.testing.assert_allclose(again(x), module(x), rtol=1e-6)
    np.testing.assert_allclose(again.child.get(), module.child.get())
    assert again.child.b.trainable is False and again.child.v.trainable is True
    assert sorted(again.signatures) == ["serving_default"]
    assert float(again.signatures["serving_default"](a=xf.constant(4.0))["output_0"]) == 8.0
    assert float(again.mutate(xf.constant(5.0))) == 10.0
    assert float(again.v.numpy()) == 5.0 and float(loaded.v.numpy()) == 2.0
    w = jnp.asarray(module.child.v.numpy())

    def math(x, w):  # the original's computation, for jax.grad
        return jnp.sum(jnp.sin(x * w) * 5.0 + 0.5)

    with xf.GradientTape() as tape:
        y = jnp.sum(again(x))
    np.testing.assert_allclose(tape.gradient(y, again.child.v),
                               jax.grad(math, argnums=1)(jnp.asarray(x), w), rtol=1e-5)


def _reseal(path, mutate):
    """Edit signatures.json and record its new size and hash in the manifest, as a crafted
    directory would (the manifest alone cannot vouch for what the JSON says)."""
    description = json.loads((path / "signatures.json").read_text())
    mutate(description)
    data = json.dumps(description).encode()
    (path / "signatures.json").write_bytes(data)
    manifest = json.loads((path / export.MANIFEST).read_text())
    manifest["files"]["signatures.json"] = {"bytes": len(data),
                                            "sha256": hashlib.sha256(data).hexdigest()}
    (path / export.MANIFEST).write_text(json.dumps(manifest))


def _deep(description):
    nodes = description["objects"]["nodes"]
    first = len(nodes)
    nodes.extend({"kind": "list", "items": [first + i + 1]} for i in range(5000))
    nodes.append({"kind": "variable", "variable": "v0000"})
    nodes[0]["attributes"]["deep"] = first


def _traced(description):
    return next(f for f in description["objects"]["functions"] if f["concrete"])["concrete"][0]


def _past_the_results(description):
    _traced(description)["outputs"] = {
        "kind": "tensor", "index": 7, "dtype": "float32", "shape": []}


def _outside(description):
    _traced(description)["file"] = "../../etc/passwd"


@pytest.mark.parametrize("mutate, message", [
    (_deep, "RecursionError"),
    (_past_the_results, r"tensors \[0\] -> \[7\] do not fit its program's 1 arguments"),
    (_outside, "names '../../etc/passwd', which the manifest does not list")])
def test_a_crafted_objects_section_is_refused_as_corrupt_at_load(tmp_path, mutate, message):
    # was: a RecursionError, an IndexError at the first call, and a plain ValueError
    module = Flags()
    module.ints(xf.constant([1, 2], dtype=xf.int32))
    xf.saved_model.save(module, tmp_path / "m", platforms=HERE)
    _reseal(tmp_path / "m", mutate)
    with pytest.raises(atomic.CorruptSaveError, match=message):
        xf.saved_model.load(tmp_path / "m")
