"""save_weights / load_weights to a path ending in .h5 or .hdf5: one HDF5 file in Keras 2's
layout (a group per layer with weights, its `weight_names`, one dataset per weight).

As Keras 2, weights load layer by layer in order: a freshly built copy of the model (new
layer names) loads them, and a file Keras 2 wrote for the same architecture does too. The
file is written under a temporary name and renamed, and everything is checked before any
weight is assigned. Needs h5py (`pip install xlaflow[h5]`).
"""

from __future__ import annotations

import os

import numpy as np

from xlaflow.layers import weight_order
from xlaflow.saving import atomic

SUFFIXES = (".h5", ".hdf5")


def is_hdf5_path(filepath):
    return str(filepath).lower().endswith(SUFFIXES)


def require_h5py(what="save_weights/load_weights to an .h5 file"):
    try:
        import h5py
    except ImportError:
        raise ImportError(f"{what} needs h5py: pip install 'xlaflow[h5]' (or save to a "
                          "directory path, which needs nothing more)") from None
    return h5py



def groups_of(model):
    """(group name, weights) of the model's own weights, then of each layer with weights, in
    `model.layers` order, each weight once. A layer's group is its `trainable_weights +
    non_trainable_weights` as Keras 2's HDF5 writer and reader (_legacy_weights) take them:
    so the order of a nested model with a sublayer unfrozen inside a frozen parent follows
    the freezing, as in a file TF wrote for the same model in the same state."""
    seen, groups = set(), []
    for owner in (model, *model.layers):
        own = weight_order.own_weights(model) if owner is model else \
            owner.trainable_weights + owner.non_trainable_weights
        weights = [w for w in weight_order.dedup(own) if id(w) not in seen]
        seen.update(id(w) for w in weights)
        if weights:
            groups.append((owner.name, weights))
    if len(seen) != len(model.weights):  # weights of layers held outside `layers`
        raise ValueError(f"save_weights/load_weights (.h5): {model.name} has weights that "
                         "belong to none of its `layers`; save to a directory path instead")
    return groups


def _storable(value):
    """h5py has no bfloat16 (nor other ml_dtypes): those are stored as float32, exactly,
    and cast back on load to the weight's dtype."""
    value = np.asarray(value)
    return value.astype(np.float32) if value.dtype.kind == "V" or \
        value.dtype.type.__module__.startswith("ml_dtypes") else value


def save_weights(model, filepath, overwrite=True):
    """Write every weight of `model` to the HDF5 file `filepath`."""
    require_h5py()
    path = target_path(model, filepath, overwrite, "save_weights")
    groups = groups_of(model)
    write_atomically(path, lambda f: write_group(f, groups))


def target_path(model, filepath, overwrite, what):
    """The real path an HDF5 save of `model` writes, once the model is built (a built one
    with no weights saves too, as Keras 2's), the path names no directory, and `overwrite`
    allows it (checked before anything is written)."""
    if not model.weights and not model.built:
        raise ValueError(f"{what}: {model.name} has no weights yet; build it first (call it "
                         "on data, or give the first layer input_shape=)")
    path = os.path.realpath(os.fspath(filepath))
    if os.path.isdir(path):
        raise ValueError(f"{what}: {filepath} is a directory; an .h5 path names a file")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{what}: {filepath} exists and overwrite=False")
    return path


def write_atomically(path, fill):
    """Create the HDF5 file `path` through `fill(file)` under a temporary name, then rename
    it into place: a reader never sees a half-written file."""
    h5py = require_h5py()
    # as Keras 2's HDF5 writer and ModelCheckpoint (and the directory format here): a
    # missing parent folder ("ckpt/{epoch:02d}.h5") is created
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with atomic.replacing(path) as tmp, h5py.File(tmp, "w") as f:
        fill(f)


def write_group(group, groups):
    """Keras 2's weights layout in `group`: its layer_names, then a group per layer with
    its weight_names and a dataset per weight (fixed-length byte strings, as Keras 2's)."""
    names = [name for name, _ in groups]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:  # h5py's own error would be "name already exists", naming no layer
        raise ValueError(f"an HDF5 file keeps weights by layer name, and several layers with "
                         f"weights are named {twice}: give them distinct names (name=...), "
                         "or save to a directory path")
    write_names(group, "layer_names", names)
    group.attrs["backend"] = b"jax"
    group.attrs["keras_version"] = b"xlaflow"
    for name, weights in groups:
        layer = group.create_group(name)
        names = _unique([w.name for w in weights])
        write_names(layer, "weight_names", names)
        for weight_name, weight in zip(names, weights):
            layer.create_dataset(weight_name, data=_storable(weight.value))


def _unique(names):
    """Dataset names `<name>:0`, a repeated name suffixed `_1`, `_2`... as TF uniquifies a
    graph's (h5py refuses a name twice; weights load by order, so names only label)."""
    taken, out = set(), []
    for name in names:
        candidate, k = name, 0
        while candidate in taken:
            k += 1
            candidate = f"{name}_{k}"
        taken.add(candidate)
        out.append(f"{candidate}:0")
    return out


# HDF5 keeps an object's attributes in its header (64 KiB): Keras 2 splits a longer list of
# names over attributes `<name>0`, `<name>1`, ... (save_attributes_to_hdf5_group)
HEADER_LIMIT = 64512


def write_names(group, attribute, names):
    """The list `names` as the attribute `attribute` of `group`, in chunks as Keras 2
    writes one too long for the object header."""
    data = _names(names)
    chunks = 1
    while any(c.nbytes > HEADER_LIMIT for c in np.array_split(data, chunks)):
        chunks += 1
    if chunks == 1:
        group.attrs[attribute] = data
        return
    for i, chunk in enumerate(np.array_split(data, chunks)):
        group.attrs[f"{attribute}{i}"] = chunk


def read_names(group, attribute):
    """The names Keras 2 wrote as `attribute`, whole or in chunks; [] without any."""
    if attribute in group.attrs:
        return _decode(group.attrs[attribute])
    names, i = [], 0
    while f"{attribute}{i}" in group.attrs:
        names += _decode(group.attrs[f"{attribute}{i}"])
        i += 1
    return names


def _names(names):
    return np.array([n.encode("utf8") for n in names], dtype="S")


def _decode(names):
    return [n.decode("utf8") if isinstance(n, bytes) else str(n) for n in names]


def load_weights(model, filepath):
    """Assign the weights in the HDF5 file `filepath`, layer by layer in order (Keras 2)."""
    h5py = require_h5py()
    if not model.weights and not model.built:
        raise ValueError(f"load_weights: build {model.name} before loading weights into it")
    groups = groups_of(model)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"load_weights: {filepath} does not exist")
    if not h5py.is_hdf5(os.fspath(filepath)):
        raise ValueError(f"load_weights: {filepath} is not an HDF5 file")

    def read(f):
        # a whole Keras 2 model file keeps the same layout under "model_weights"
        whole = "model_weights" in f and not read_names(f, "layer_names")
        return read_group(f["model_weights"] if whole else f)

    saved = read_file(filepath, read, "load_weights")
    assign(model, groups, saved, filepath)


def read_file(filepath, read, what):
    """`read(file)` of the HDF5 file `filepath`; a truncated or damaged one (h5py's OSError,
    or a group its names promise missing: KeyError) raises CorruptSaveError naming it."""
    h5py = require_h5py(f"{what} of an HDF5 file")
    try:
        with h5py.File(os.fspath(filepath), "r") as f:
            return read(f)
    except (OSError, KeyError) as exc:
        from xlaflow.saving.atomic import CorruptSaveError
        raise CorruptSaveError(f"{what}: {filepath} cannot be read as an HDF5 file: it is "
                               f"truncated or damaged ({exc}). Save it again, or restore it "
                               "from a copy") from exc


def read_group(root):
    """[(layer name, [weight values], [weight names])] of the layers with weights in Keras
    2's layout."""
    saved = []
    for name in read_names(root, "layer_names"):
        names = read_names(root[name], "weight_names")
        if names:
            saved.append((name, [np.asarray(root[name][n]) for n in names], names))
    return saved


def _short(name):
    return name.rsplit("/", 1)[-1].split(":")[0]


def without_counts(weights, values, names):
    """Keras 2's adapted Normalization also keeps `count` (an integer scalar: the samples
    adapt saw), which xlaflow's has no use for: such saved values are left out when that
    alone makes a layer's counts agree (and no weight here is such a count)."""
    counts = {i for i, (n, v) in enumerate(zip(names, values))
              if _short(n) == "count" and v.ndim == 0 and v.dtype.kind in "iu"}
    if not counts or len(values) - len(counts) != len(weights) or any(
            _short(w.name) == "count" and not tuple(w.shape) for w in weights):
        return values
    return [v for i, v in enumerate(values) if i not in counts]


def by_name(weights, values, names):
    """A layer's saved values in its weights' order when both name the same weights, each
    once (Keras 2 zips them by position: a layer frozen when saved and not when loaded,
    whose trainable weights then come first, got its moving statistics in gamma and beta);
    by position otherwise (a name twice, or files that name weights their own way)."""
    want = [w.name.split(":")[0] for w in weights]
    have = [n.split(":")[0] for n in names]
    if want == have or sorted(want) != sorted(have) or len(set(want)) != len(want):
        return values
    at = {n: i for i, n in enumerate(have)}
    return [values[at[n]] for n in want]


def assign(model, groups, saved, filepath, what="load_weights"):
    """Check every layer's count and shapes against `saved`, then assign them all."""
    if len(saved) != len(groups):
        raise ValueError(f"{what}: {filepath} holds weights of {len(saved)} layers "
                         f"({[entry[0] for entry in saved]}); {model.name} has {len(groups)} "
                         f"layers with weights ({[n for n, _ in groups]})")
    saved = [(saved_name, without_counts(weights, by_name(weights, values, names), names))
             for (_, weights), (saved_name, values, names) in zip(groups, saved)]
    for (name, weights), (saved_name, values) in zip(groups, saved):
        if len(weights) != len(values):
            raise ValueError(f"{what}: layer {name!r} has {len(weights)} weights; the "
                             f"file's layer {saved_name!r} has {len(values)}")
        for weight, value in zip(weights, values):
            if tuple(value.shape) != tuple(weight.shape):
                raise ValueError(f"{what}: {weight.name} has shape {weight.shape}; the "
                                 f"file's layer {saved_name!r} holds {tuple(value.shape)}")
    for (_, weights), (_, values) in zip(groups, saved):
        for weight, value in zip(weights, values):
            weight.assign(value.astype(weight.dtype))
