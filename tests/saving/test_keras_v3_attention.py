"""MultiHeadAttention in `.keras` files: TF 2.12 keeps its weights in four EinsumDense
sublayer groups (`_key_dense`, `_output_dense`, `_query_dense`, `_value_dense`, dir()'s
order, kernel then bias). A file laid out so by hand loads (NumPy attention as the
oracle); xlaflow writes that layout; its earlier layout (the eight weights in the layer's
own group) still loads."""

import io
import zipfile

import h5py
import numpy as np

import xlaflow as xf
from tests.saving import keras_v3_files as files

keras = xf.keras
RNG = np.random.default_rng(21)
X = RNG.normal(size=(2, 5, 8)).astype(np.float32)
GROUP = "_layer_checkpoint_dependencies/multi_head_attention"


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _attention(x, wq, bq, wk, bk, wv, bv, wo, bo, key_dim):
    q, k, v = (np.einsum("btd,dhk->bthk", x, w) + b for w, b in
               ((wq, bq), (wk, bk), (wv, bv)))
    weights = _softmax(np.einsum("bqhk,bthk->bhqt", q, k) / np.sqrt(key_dim))
    return np.einsum("bqhk,hkd->bqd", np.einsum("bhqt,bthk->bqhk", weights, v), wo) + bo


def _tf_file(path):
    """Input(5, 8) -> MultiHeadAttention(2 heads of 4)(x, x), as TF 2.12 saves it."""
    mha = files.obj("keras.layers", "MultiHeadAttention", {
        "name": "mha", "trainable": True, "dtype": "float32", "num_heads": 2, "key_dim": 4,
        "value_dim": 4, "dropout": 0.0, "use_bias": True, "output_shape": None,
        "attention_axes": [1], "kernel_initializer": files.initializer("GlorotUniform"),
        "bias_initializer": files.initializer("Zeros"), "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
        "bias_constraint": None, "query_shape": [None, 5, 8], "key_shape": [None, 5, 8],
        "value_shape": [None, 5, 8]})
    layers = [{**files.input_layer("x", (5, 8)), "name": "x", "inbound_nodes": []},
              {**mha, "name": "mha",
               "inbound_nodes": [[["x", 0, 0, {"value": ["x", 0, 0]}]]]}]
    config = files.obj("keras.engine.functional", "Functional", {
        "name": "model", "trainable": True, "layers": layers,
        "input_layers": [["x", 0, 0]], "output_layers": [["mha", 0, 0]]},
        registered_name="Functional", build_config={"input_shape": [None, 5, 8]})
    shapes = {"query": ((8, 2, 4), (2, 4)), "key": ((8, 2, 4), (2, 4)),
              "value": ((8, 2, 4), (2, 4)), "output": ((2, 4, 8), (8,))}
    weights = {name: [RNG.normal(size=s).astype(np.float32) * 0.5 for s in pair]
               for name, pair in shapes.items()}
    arrays = {f"{GROUP}/_{name}_dense/vars/{i}": w
              for name, pair in weights.items() for i, w in enumerate(pair)}
    files.write(path, config, arrays, [f"{GROUP}/vars", "_layer_checkpoint_dependencies/"
                                       "input_layer/vars", f"{GROUP}/_softmax/vars"])
    return [w for name in ("query", "key", "value", "output") for w in weights[name]]


def test_a_tf_written_attention_model_loads_its_sublayer_weights(tmp_path):
    weights = _tf_file(str(tmp_path / "a.keras"))
    model = keras.models.load_model(str(tmp_path / "a.keras"))
    expected = _attention(X.astype(np.float64), *weights, key_dim=4)
    np.testing.assert_allclose(np.asarray(model(X)), expected, rtol=1e-4, atol=1e-5)


def _saved_groups(path):
    with zipfile.ZipFile(path) as zf:
        data = zf.read("model.weights.h5")
    found = {}
    with h5py.File(io.BytesIO(data), "r") as f:
        f.visititems(lambda name, item: found.__setitem__(name, item.shape)
                     if isinstance(item, h5py.Dataset) else None)
    return found


def _model():
    x = keras.Input((5, 8))
    return keras.Model(x, keras.layers.MultiHeadAttention(2, 4)(x, x))


def test_xlaflow_writes_keras_sublayer_groups_and_reads_them_back(tmp_path):
    model = _model()
    model.save(tmp_path / "m.keras")
    groups = _saved_groups(tmp_path / "m.keras")
    assert {k: v for k, v in groups.items() if "multi_head_attention" in k} == {
        f"{GROUP}/_{name}_dense/vars/{i}": shape
        for name, pair in (("query", ((8, 2, 4), (2, 4))), ("key", ((8, 2, 4), (2, 4))),
                           ("value", ((8, 2, 4), (2, 4))), ("output", ((2, 4, 8), (8,))))
        for i, shape in enumerate(pair)}
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(np.asarray(loaded(X)), np.asarray(model(X)))


def test_the_earlier_flat_layout_still_loads(tmp_path):
    model = _model()
    model.save(tmp_path / "m.keras")
    # rewrite the weights file as xlaflow wrote it before: the eight weights in the
    # layer's own group, in creation order (query, key, value, output; kernel, bias)
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    buffer = io.BytesIO()
    with h5py.File(io.BytesIO(entries["model.weights.h5"]), "r") as old, \
            h5py.File(buffer, "w") as new:
        for name in old:
            if name != "_layer_checkpoint_dependencies":
                old.copy(name, new)
        new.create_group("_layer_checkpoint_dependencies/input_layer/vars")
        flat = new.create_group(f"{GROUP}/vars")
        for i, w in enumerate(model.get_layer(index=1).weights):
            flat.create_dataset(str(i), data=np.asarray(w.numpy()))
    entries["model.weights.h5"] = buffer.getvalue()
    with zipfile.ZipFile(tmp_path / "old.keras", "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    loaded = keras.models.load_model(tmp_path / "old.keras")
    np.testing.assert_array_equal(np.asarray(loaded(X)), np.asarray(model(X)))
