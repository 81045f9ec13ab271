"""xf.saved_model.save / load: jax.export programs with a symbolic batch, sealed directories,
loading in a fresh interpreter that never imports the model's code, and the CLI."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from tests.local_platform import HERE, WITH_CPU
from xlaflow.saved_model import CorruptSaveError, InputError


class Affine(xf.Module):
    """y = relu-or-negated(x @ w + b): AutoGraph turns the `if` on a tensor into lax.cond."""

    def __init__(self):
        super().__init__()
        self.w = xf.Variable(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))
        self.b = xf.Variable(np.float32([0.5, -0.5, 0.0]))
        self.unused = xf.Variable(np.zeros(1000, np.float32))

    @xf.function(input_signature=[xf.TensorSpec([None, 4], xf.float32, name="x")])
    def serve(self, x):
        y = x @ self.w + self.b
        if xf.reduce_sum(x) > 0:
            y = jnp.maximum(y, 0.0)
        else:
            y = -y
        return {"y": y, "total": xf.reduce_sum(y, axis=1)}


def oracle(module, x):
    y = x @ module.w.numpy() + module.b.numpy()
    y = np.maximum(y, 0) if x.sum() > 0 else -y
    return {"y": y, "total": y.sum(1)}


def test_symbolic_batch_runs_for_1_7_and_64(tmp_path):
    module = Affine()
    xf.saved_model.save(module, tmp_path / "e")  # default platforms: cpu, cuda and tpu
    loaded = xf.saved_model.load(tmp_path / "e")
    signature = loaded.signatures["serving_default"]
    assert signature.platforms == ("cpu", "cuda", "tpu")
    assert signature.inputs == [{"name": "x", "dtype": "float32", "shape": [None, 4]}]
    assert sorted(signature.output_names) == ["total", "y"]
    for n in (1, 7, 64):
        for sign in (1, -1):
            x = sign * np.abs(np.random.default_rng(n).normal(size=(n, 4))).astype(np.float32)
            out = signature(x=x)
            want = oracle(module, x)
            for key in want:
                np.testing.assert_allclose(out[key], want[key], rtol=1e-5, atol=1e-6)
    # the program takes only the Variables it reads, not the unused 1000 floats; as in
    # TF, the saved object's tree keeps that one too (a restored `loaded.unused`)
    with open(tmp_path / "e" / "signatures.json") as f:
        description = json.load(f)
    shapes = {v["key"]: v["shape"] for v in description["variables"]}
    # (in tf.Module order: attributes sorted by name, b before w)
    assert [shapes[k] for k in description["signatures"]["serving_default"]["variables"]] \
        == [[3], [4, 3]]
    assert sorted(map(tuple, shapes.values())) == [(3,), (4, 3), (1000,)]
    np.testing.assert_array_equal(loaded.unused.numpy(), np.zeros(1000, np.float32))


def test_an_export_for_another_platform_is_refused_naming_both(tmp_path):
    other = "tpu" if HERE != ["tpu"] else "cpu"
    xf.saved_model.save(Affine(), tmp_path / "e", platforms=[other])
    with pytest.raises(ValueError, match=rf"exported for \['{other}'\], not for this "
                       rf"device's platform '{HERE[0]}'; export again with "
                       rf"platforms=\['{HERE[0]}'\]"):
        xf.saved_model.load(tmp_path / "e")


def test_a_concrete_function_is_a_signature_as_in_tf(tmp_path):
    class Scaler(xf.Module):
        def __init__(self):
            super().__init__()
            self.w = xf.Variable(np.float32([1.0, 2.0, 3.0]))

        @xf.function
        def serve(self, x, k=2.0):
            return {"y": x * self.w * k}

    module = Scaler()
    concrete = module.serve.get_concrete_function(xf.TensorSpec([None, 3], name="x"))
    assert concrete.structured_input_signature == ((xf.TensorSpec([None, 3], name="x"),), {})
    xf.saved_model.save(module, tmp_path / "e", signatures=concrete, platforms=HERE)
    signature = xf.saved_model.load(tmp_path / "e").signatures["serving_default"]
    assert signature.inputs[0]["shape"] == [None, 3]
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(signature(x=x)["y"], x * [1.0, 2.0, 3.0] * 2.0)

    python_value = module.serve.get_concrete_function(xf.TensorSpec([2, 3]), k=3.0)
    with pytest.raises(TypeError, match=r"a signature to export takes tensors only, "
                       r"positionally; this concrete function was traced for "):
        xf.saved_model.save(module, tmp_path / "f", signatures=python_value, platforms=HERE)
    assert not (tmp_path / "f").exists()


def test_bad_inputs_are_named(tmp_path):
    xf.saved_model.save(Affine(), tmp_path / "e", platforms=HERE)
    signature = xf.saved_model.load(tmp_path / "e").signatures["serving_default"]
    with pytest.raises(InputError, match=r"input 'x' .* shape \[None, 4\]; received \[2, 5\]"):
        signature(x=np.zeros((2, 5), np.float32))
    with pytest.raises(InputError, match="input 'x' must be float32; received complex64"):
        signature(x=np.zeros((2, 4), np.complex64))
    with pytest.raises(InputError, match=r"missing \['x'\], unknown \['z'\]"):
        signature(z=np.zeros((2, 4), np.float32))
    np.testing.assert_allclose(signature(np.ones((2, 4)))["total"].shape, (2,))  # f64 cast


def test_integers_that_do_not_fit_the_input_type_are_refused_not_wrapped(tmp_path):
    @xf.function(input_signature=[xf.TensorSpec([None], xf.int32, name="k")])
    def double(k):
        return {"y": k * 2}

    xf.saved_model.save(xf.Module(), tmp_path / "e", signatures=double, platforms=HERE)
    signature = xf.saved_model.load(tmp_path / "e").signatures["serving_default"]
    np.testing.assert_array_equal(signature(k=np.int64([3, -4]))["y"], [6, -8])  # they fit
    with pytest.raises(InputError, match=r"input 'k' is int32 \(from -2147483648 to "
                       r"2147483647\); received int64 values from 1 to 1099511627776"):
        signature(k=np.int64([1, 2 ** 40]))
    with pytest.raises(InputError, match=r"received uint32 values from 0 to 4294967295"):
        signature(k=np.uint32([0, 2 ** 32 - 1]))


def test_signature_errors_at_save(tmp_path):
    with pytest.raises(TypeError, match="must be an xf.function with an input_signature"):
        xf.saved_model.save(xf.Module(), tmp_path / "e", signatures=xf.function(lambda x: x))

    @xf.function(input_signature=[xf.TensorSpec([None, 3], xf.float32)])
    def needs_static_batch(x):
        return jnp.reshape(x, (int(x.shape[0]) * 3,))

    with pytest.raises(ValueError, match="could not be exported .* symbolic None dimensions"):
        xf.saved_model.save(xf.Module(), tmp_path / "e", signatures=needs_static_batch,
                            platforms=HERE)
    assert not os.path.exists(tmp_path / "e")
    assert os.listdir(tmp_path) == []  # no partial sibling left behind


def _tamper(path, mode):
    if mode == "flip":
        with open(path, "r+b") as f:
            data = bytearray(f.read())
            data[len(data) // 2] ^= 0x01
            f.seek(0)
            f.write(data)
    else:
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)


@pytest.mark.parametrize("target", ["signatures/0.jaxexport", "signatures.json", "variables"])
@pytest.mark.parametrize("mode", ["flip", "truncate"])
def test_tampered_or_truncated_exports_are_refused(tmp_path, target, mode):
    xf.saved_model.save(Affine(), tmp_path / "e", platforms=HERE)
    path = tmp_path / "e" / target
    if target == "variables":
        path = next(os.path.join(p, n) for p, _, ns in os.walk(path) for n in ns
                    if os.sep + "d" + os.sep in os.path.join(p, n))
    _tamper(path, mode)
    rel = os.path.relpath(path, tmp_path / "e")
    with pytest.raises(CorruptSaveError, match=rel.replace(".", r"\.")):
        xf.saved_model.load(tmp_path / "e")


def test_a_failed_save_keeps_the_previous_export(tmp_path, monkeypatch):
    module = Affine()
    xf.saved_model.save(module, tmp_path / "e", platforms=HERE)
    from xlaflow.saving import arrays

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(arrays, "save_arrays", crash)
    module.w.assign(module.w * 2)
    with pytest.raises(OSError, match="disk full"):
        xf.saved_model.save(module, tmp_path / "e", platforms=HERE)
    assert os.listdir(tmp_path) == ["e"]
    monkeypatch.undo()
    x = np.ones((2, 4), np.float32)
    old = xf.saved_model.load(tmp_path / "e").signatures["serving_default"](x=x)["y"]
    np.testing.assert_allclose(old * 2 - 2 * module.b.numpy() * (old > 0) + module.b.numpy()
                               * (old > 0) * 1, old * 2 - module.b.numpy() * (old > 0),
                               rtol=1e-6)  # the stored weights are the old ones
    np.testing.assert_allclose(old, oracle(Affine(), x)["y"], rtol=1e-6)


FRESH = """
import sys, numpy as np
import xlaflow as xf
loaded = xf.saved_model.load(sys.argv[1])
x = np.load(sys.argv[2])
out = loaded.signatures["serving_default"](x)
np.save(sys.argv[3], np.asarray(out[sorted(out)[0]]))
imported = sorted(m for m in sys.modules if m.startswith(("xlaflow.keras", "xlaflow.layers",
                  "xlaflow.models", "xlaflow.training", "optax", "tests")))
print("IMPORTED", imported)
"""


def test_loads_in_a_fresh_interpreter_without_the_model_code(tmp_path):
    model = xf.keras.Sequential([xf.keras.layers.Dense(5, activation="relu", input_shape=(4,)),
                                 xf.keras.layers.Dense(3)])
    model.save(tmp_path / "m", platforms=WITH_CPU)  # the fresh interpreter runs on cpu
    x = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "fresh.py").write_text(FRESH)
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLAFLOW_COMPILATION_CACHE_DIR": "off"}
    done = subprocess.run([sys.executable, str(tmp_path / "fresh.py"), str(tmp_path / "m"),
                           str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                          check=False, capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "IMPORTED []" in done.stdout
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model.predict(x, verbose=0),
                               rtol=1e-6)


def test_cli_show_and_run(tmp_path):
    xf.saved_model.save(Affine(), tmp_path / "e", platforms=WITH_CPU)  # the CLI runs on cpu
    cli = [sys.executable, "-m", "xlaflow.cli", "saved_model"]
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLAFLOW_COMPILATION_CACHE_DIR": "off"}
    show = subprocess.run([*cli, "show", "--dir", str(tmp_path / "e"), "--signature_def",
                           "serving_default"], check=False, capture_output=True, text=True, env=env)
    assert show.returncode == 0, show.stderr
    assert "inputs['x'] tensor_info:\n      dtype: DT_FLOAT\n      shape: (-1, 4)" in show.stdout
    assert "outputs['total'] tensor_info:\n      dtype: DT_FLOAT\n      shape: (-1,)" in \
        show.stdout
    x = np.full((2, 4), 0.5, np.float32)
    np.save(tmp_path / "x.npy", x)
    run = subprocess.run([*cli, "run", "--dir", str(tmp_path / "e"), "--inputs",
                          f"x={tmp_path / 'x.npy'}", "--outdir", str(tmp_path / "out")],
                         check=False, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    np.testing.assert_allclose(np.load(tmp_path / "out" / "y.npy"), oracle(Affine(), x)["y"],
                               rtol=1e-6)
    bad = subprocess.run([*cli, "run", "--dir", str(tmp_path / "e"), "--inputs",
                          f"q={tmp_path / 'x.npy'}"], check=False, capture_output=True, text=True,
                         env=env)
    assert bad.returncode != 0 and "unknown ['q']" in bad.stderr

    @xf.function(input_signature=[xf.TensorSpec([None], xf.int64, name="ids")])
    def wide(ids):
        return {"y": ids * 2}

    with jax.enable_x64(True):
        xf.saved_model.save(xf.Module(), tmp_path / "w", signatures=wide, platforms=WITH_CPU)
    show = subprocess.run([*cli, "show", "--dir", str(tmp_path / "w"), "--all"],
                          check=False, capture_output=True, text=True, env=env)
    assert show.returncode == 0, show.stderr
    assert "inputs['ids'] tensor_info:\n      dtype: DT_INT64" in show.stdout


def test_empty_signatures_are_refused_and_output_names_are_unique(tmp_path):
    with pytest.raises(ValueError, match="signatures is empty"):
        xf.saved_model.save(xf.Module(), tmp_path / "e", signatures={})

    @xf.function(input_signature=[xf.TensorSpec([None], xf.float32)])
    def clash(x):
        return {"output_1": x + 1, "z": [x, x * 2]}  # dict key and list leaves

    xf.saved_model.save(xf.Module(), tmp_path / "e", signatures=clash, platforms=HERE)
    signature = xf.saved_model.load(tmp_path / "e").signatures["serving_default"]
    assert len(set(signature.output_names)) == 3
    out = signature(np.float32([1.0, 2.0]))
    assert sorted(np.asarray(v).tolist() for v in out.values()) == [[1.0, 2.0], [2.0, 3.0],
                                                                    [2.0, 4.0]]


def test_inputs_are_described_with_the_dtypes_the_program_takes(tmp_path):
    @xf.function(input_signature=[xf.TensorSpec([None], xf.int64, name="ids")])
    def double(ids):
        return {"y": ids * 2}

    xf.saved_model.save(xf.Module(), tmp_path / "e", signatures=double, platforms=HERE)
    signature = xf.saved_model.load(tmp_path / "e").signatures["serving_default"]
    taken = np.dtype(signature.exported.in_avals[0].dtype).name
    assert signature.inputs[0]["dtype"] == taken  # int32 without jax_enable_x64
    np.testing.assert_array_equal(signature(ids=np.arange(3))["y"], [0, 2, 4])


@pytest.mark.parametrize("save", ["save_weights", "save", "checkpoint"])
def test_overwrite_never_deletes_a_folder_that_is_not_a_save(tmp_path, save):
    from xlaflow.keras import layers, models
    model = models.Sequential([layers.Dense(2, input_shape=(3,))])
    model.compile(optimizer="sgd", loss="mse")
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "train.py").write_text("important")
    write = {"save_weights": lambda p: model.save_weights(p),
             "save": lambda p: model.save(p, platforms=HERE),
             "checkpoint": lambda p: xf.train.Checkpoint(model=model).write(p)}[save]
    with pytest.raises(FileExistsError, match=r"is not an xlaflow save \(it holds 2 entries, "
                       r"e\.g\. 'data'\); refusing to replace it"):
        write(str(project))
    assert sorted(os.listdir(project)) == ["data", "train.py"]
    assert (project / "train.py").read_text() == "important"
    (tmp_path / "empty").mkdir()
    write(str(tmp_path / "empty"))  # an empty folder, or an earlier save, is replaced
    write(str(tmp_path / "empty"))
