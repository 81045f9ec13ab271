"""Regressions found in review: variable order after load_model, layers removed from a
Sequential, and the dtype an Input gives a Sequential."""

import numpy as np

import xlaflow as xf
from tests.local_platform import HERE
from xlaflow.keras import layers, models
from xlaflow.keras.saving import register_serializable

X = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)


@register_serializable(package="review")
class EncoderDecoder(xf.keras.Model):
    """Two nested layers of the same shapes, passed as constructor arguments."""

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder

    def call(self, x, training=None):
        return self.decoder(self.encoder(x))


def test_keyword_arguments_in_another_order_do_not_swap_weights(tmp_path):
    # Constructor arguments were walked as variables, in call order: the rebuilt model
    # (arguments in signature order) took the decoder's weights for the encoder's.
    model = EncoderDecoder(decoder=layers.Dense(4, name="dec"),
                           encoder=layers.Dense(4, activation="tanh", name="enc"))
    expected = model.predict(X, verbose=0)
    assert model.variables[0].name.startswith("enc")  # attribute order, not call order
    model.save(tmp_path / "m", platforms=HERE)
    loaded = models.load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), expected)


def test_a_popped_layer_leaves_the_model(tmp_path):
    model = models.Sequential([layers.Dense(5, input_shape=(4,)), layers.Dense(2)])
    model.pop()
    model.add(layers.Dense(3))
    assert [w.shape for w in model.weights] == [(4, 5), (5,), (5, 3), (3,)]
    assert model.count_params() == 4 * 5 + 5 + 5 * 3 + 3
    model.save(tmp_path / "m", platforms=HERE)
    loaded = models.load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


def test_a_sequential_keeps_the_dtype_of_its_input(tmp_path):
    model = models.Sequential([xf.keras.Input((5,), dtype="int32"), layers.Embedding(50, 3),
                               layers.Flatten(), layers.Dense(2)])
    tokens = (np.arange(10, dtype=np.int32).reshape(2, 5) * 4)
    expected = model.predict(tokens, verbose=0)
    model.save(tmp_path / "m", platforms=HERE)
    signature = xf.saved_model.load(tmp_path / "m").signatures["serving_default"]
    assert [s["dtype"] for s in signature.inputs] == ["int32"]
    loaded = models.load_model(tmp_path / "m")
    assert loaded._build_input_dtype == "int32"
    np.testing.assert_array_equal(loaded.predict(tokens, verbose=0), expected)


# -- crafted directories: a clear error naming the file, never a stray exception --------------
def _resealed_copy(src, dst, rel=None, edit=None):
    """A copy of the export `src` with the JSON file `rel` edited and the manifest redone
    (what a tool or a person rewriting the directory by hand would produce)."""
    import json
    import shutil

    from xlaflow.saving import atomic
    shutil.copytree(src, dst)
    if rel is not None:
        with open(dst / rel) as f:
            doc = json.load(f)
        edit(doc)
        with open(dst / rel, "w") as f:
            json.dump(doc, f)
    with open(dst / "xlaflow_export.json") as f:
        manifest = json.load(f)
    for name in manifest["files"]:
        full = dst / name
        manifest["files"][name] = {"bytes": full.stat().st_size,
                                   "sha256": atomic.sha256_file(full)}
    with open(dst / "xlaflow_export.json", "w") as f:
        json.dump(manifest, f)
    return dst


def test_malformed_json_in_an_export_is_refused_by_name(tmp_path):
    import json

    import pytest

    from xlaflow.saved_model import CorruptSaveError
    model = models.Sequential([layers.Dense(2, input_shape=(4,))])
    model.save(tmp_path / "m", platforms=HERE)

    bad = _resealed_copy(tmp_path / "m", tmp_path / "entry")
    with open(bad / "xlaflow_export.json") as f:
        manifest = json.load(f)
    manifest["files"]["signatures.json"] = [1]
    with open(bad / "xlaflow_export.json", "w") as f:
        json.dump(manifest, f)
    for load in (xf.saved_model.load, models.load_model):
        with pytest.raises(CorruptSaveError, match="xlaflow_export.json.*signatures.json"):
            load(bad)

    cases = {
        "signatures": ("signatures.json", lambda d: d.update(signatures=[]), "signatures.json"),
        "sig_vars": ("signatures.json", lambda d: d["signatures"]["serving_default"].update(
            variables=["v9999"]), "signatures.json.*v9999"),
    }
    for name, (rel, edit, words) in cases.items():
        with pytest.raises(CorruptSaveError, match=words):
            xf.saved_model.load(_resealed_copy(tmp_path / "m", tmp_path / name, rel, edit))
    for name, edit, words in [
            ("model_vars", lambda d: d.update(variables=["v9999"]), "model.json.*v9999"),
            ("model_name", lambda d: d["model"].update(registered_name=5), "registered_name")]:
        with pytest.raises(ValueError, match=words):
            models.load_model(_resealed_copy(tmp_path / "m", tmp_path / name,
                                             "keras/model.json", edit))


def test_a_config_imports_only_xlaflow_modules_and_takes_only_their_classes():
    from xlaflow.saving.serialization import get_registered_object
    assert get_registered_object("Dense", module="xlaflow.layers.core") is layers.Dense
    # a dunder module would run xlaflow/__init__.py again as a second module
    for module in ("xlaflow.__init__", "xlaflow..layers", "xlaflow.layers.core "):
        assert get_registered_object("NoSuchClass", module=module) is None
    # a class that an xlaflow module merely imports is not an xlaflow class
    assert get_registered_object("Mesh", module="xlaflow.distribute.strategy") is None


def test_saving_through_a_symlink_writes_into_its_target_and_keeps_the_link(tmp_path):
    model = models.Sequential([layers.Dense(2, input_shape=(4,))])
    real = tmp_path / "storage" / "model"
    real.parent.mkdir()
    link = tmp_path / "current"
    link.symlink_to(real, target_is_directory=True)  # dangling until the first save
    for _ in range(2):  # the first save creates the target, the second replaces it
        model.save(link, platforms=HERE)
        assert link.is_symlink() and real.is_dir()
        np.testing.assert_allclose(models.load_model(link).predict(X, verbose=0),
                                   model.predict(X, verbose=0), rtol=1e-6)
        model.set_weights([w + 1.0 for w in model.get_weights()])
    weights_link = tmp_path / "weights"
    weights_link.symlink_to(tmp_path / "storage" / "w", target_is_directory=True)
    model.save_weights(weights_link)
    model.save_weights(weights_link)
    assert weights_link.is_symlink()
    assert sorted(p.name for p in (tmp_path / "storage").iterdir()) == ["model", "w"]


def test_a_model_without_weights_saves_and_loads(tmp_path):
    a, b = xf.keras.Input((4,), name="a"), xf.keras.Input((4,), name="b")
    model = models.Model([a, b], layers.Add()([a, b]))
    model.save(tmp_path / "m", platforms=HERE)
    loaded = models.load_model(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict([X, 2 * X], verbose=0), 3 * X, rtol=1e-6)
    signature = xf.saved_model.load(tmp_path / "m").signatures["serving_default"]
    [out] = signature(a=X, b=X).values()
    np.testing.assert_allclose(out, 2 * X, rtol=1e-6)
