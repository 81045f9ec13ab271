"""Where the `.keras` zip's `model.weights.h5` keeps each variable, as TF 2.12 writes it.

TF 2.12's saver walks the model's attributes in `dir()` order; the first it meets holding
the layers of a Sequential or Functional model is `_layer_checkpoint_dependencies`, a dict
with each weighted layer twice ("layer_with_weights-i", "layer-j") and the others once.
Each entry is named by its class in snake case, a repeat suffixed `_1`, `_2`..., and only
an object's first visit writes a group: so two Dense layers are `dense` and `dense_2`. A
layer's own weights (trainable, then the others) are `<group>/vars/0`, `/1`...; its
sublayers' under `<group>/<attribute>/` (an LSTM's at `lstm/cell/vars`); the optimizer's
(`iteration`, then its slots in TF's build order) `optimizer/vars/<i>`.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from xlaflow.layers import weight_order

LAYERS = "_layer_checkpoint_dependencies"  # TF 2.12/2.13's group of a model's layers
LATER_LAYERS = "layers"  # tf-keras 2.14+ and Keras 3 (which skip the one above)
OPTIMIZER = "optimizer"
XLAFLOW_OPTIMIZER = "xlaflow_optimizer"  # an optimizer TF's layout has no order for

# TF 2.12's slots by optimizer class, in its build order: each inner tuple is one loop
# over the trainable variables creating those slots per variable (Adam: m0 v0 m1 v1...,
# then vhat0 vhat1...). Names are xlaflow's (slot_names); TF's SGD builds "m" even
# without momentum (zeros here, written and skipped as such).
TF_SLOTS = {
    "SGD": (("m",),),
    "Adam": (("m", "v"), ("v_hat",)),
    "AdamW": (("m", "v"), ("v_hat",)),
    "RMSprop": (("velocity",), ("momentum",), ("average_gradient",)),
    "Adagrad": (("accumulator",),),
    "Adamax": (("m", "u"),),
    "Adadelta": (("accumulated_grad", "accumulated_delta_var"),),
    "Ftrl": (("accumulator", "linear"),),
    "Lion": (("m",),),
    "Adafactor": (("r", "c", "v"),),
}
# Slots TF builds only for variables of 2+ axes (Adafactor's factored r and c; a smaller
# variable's placeholders are not among TF's optimizer variables)
_FACTORED = {"Adafactor": ("r", "c")}
# Read only: TF keeps Nadam's momentum product outside the saved variables, so xlaflow
# writes its own layout for it (a resumed run continues exactly); reading TF's file, the
# product follows from the iteration count (Nadam.globals_after)
TF_READ_SLOTS = {"Nadam": (("m", "v"),)}
_ALWAYS = {"SGD": ("m",)}  # slots TF builds whatever the configuration


def snake_case(name):
    """Keras' to_snake_case of a class name (Dense -> dense, Conv2D -> conv2d)."""
    name = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return name if not name.startswith("_") else "private" + name


def own_weights(layer):
    """What TF saves in a layer's (or a model's) own `vars`: its weights (a model's own,
    not its layers'), trainable first, then the others."""
    from xlaflow.models import Model
    if isinstance(layer, Model):  # Keras' _trainable_weights + _non_trainable_weights:
        return weight_order.own_weights(layer)  # by creation, frozen or not
    weights = list(layer.weights)
    trainable = {id(w) for w in layer.trainable_weights}
    return [w for w in weights if id(w) in trainable] + \
        [w for w in weights if id(w) not in trainable]


def weight_groups(model, scheme="tf2.12", prefix="", seen=None, keras_sublayers=True):
    """[(group path, its weights)] of `model` itself ("vars" at the root) and each of its
    layers (layer_paths), an inner model's layers under its own path, as TF walks them;
    each layer once (`seen`: TF's visited set), its sublayers under it (layer_groups).
    `keras_sublayers=False`: the layout xlaflow wrote before it placed MultiHeadAttention's
    weights in Keras' sublayer groups (all in the layer's own)."""
    seen = set() if seen is None else seen
    seen.add(id(model))
    groups = [(f"{prefix}vars", own_weights(model))]
    for path, layer in layer_paths(model, scheme):
        if id(layer) not in seen:
            groups += layer_groups(layer, f"{prefix}{path}/", scheme, seen, keras_sublayers)
    return groups


def _keras_sublayer_weights(layer):
    """[(attribute, weights)] of the sublayers Keras holds weights in where xlaflow's layer
    holds them itself (MultiHeadAttention's four EinsumDense layers, kernel then bias,
    in dir() order), or None."""
    from xlaflow.layers.attention import MultiHeadAttention
    if not isinstance(layer, MultiHeadAttention) or layer.projections is None:
        return None
    dense = {f"_{name}_dense": pair for name, pair in layer.projections.items()}
    dense["_output_dense"] = (layer.output_kernel, layer.output_bias)
    return [(attr, [w for w in dense[attr] if w is not None]) for attr in sorted(dense)]


def layer_groups(layer, prefix, scheme, seen, keras_sublayers=True):
    """A layer's groups as TF 2.12's walk writes them: its own weights at `<prefix>vars`,
    then each sublayer in a public attribute (RNN's `cell`, Bidirectional's
    `backward_layer`/`forward_layer`, TimeDistributed's `layer`, StackedRNNCells'
    `cells/<class>[_k]`) at its attribute's path, in dir() order. xlaflow's LSTM, GRU and
    SimpleRNN hold their cell's weights themselves, which Keras keeps at `<prefix>cell/vars`;
    MultiHeadAttention's go to Keras' `_query_dense`... groups (_keras_sublayer_weights).
    A sublayer in a private attribute keeps its weights in the layer's group (xlaflow's
    private names are not Keras')."""
    from xlaflow.layers.recurrent import _Recurrent
    from xlaflow.models import Model
    if isinstance(layer, Model):
        return weight_groups(layer, scheme, prefix, seen, keras_sublayers)
    seen.add(id(layer))
    split = _keras_sublayer_weights(layer) if keras_sublayers else None
    if split is not None:
        return [(f"{prefix}vars", [])] + [(f"{prefix}{attr}/vars", weights)
                                          for attr, weights in split]
    subs = [(path, sub) for path, sub in _sublayers(layer) if id(sub) not in seen]
    nested = {id(w) for _, sub in subs for w in sub.weights}
    own = [w for w in own_weights(layer) if id(w) not in nested]
    if isinstance(layer, _Recurrent) and not subs:
        groups = [(f"{prefix}vars", []), (f"{prefix}cell/vars", own)]
    else:
        groups = [(f"{prefix}vars", own)]
    for path, sub in subs:
        if id(sub) not in seen:  # a sibling's walk may have taken it
            groups += layer_groups(sub, f"{prefix}{path}/", scheme, seen, keras_sublayers)
    return groups


def _sublayers(layer):
    """[(path, sublayer)] of the layers `layer` holds in public attributes, sorted by
    name (dir()'s order), a list's or dict's named by class as TF's containers."""
    from xlaflow.layers.base import Layer
    paths = []
    for attr, value in sorted(vars(layer).items()):
        if attr.startswith("_"):
            continue
        if isinstance(value, Layer):
            paths.append((attr, value))
        elif isinstance(value, (list, tuple, dict)):
            values = value.values() if isinstance(value, dict) else value
            paths += _container(attr, [(v, 1) for v in values if isinstance(v, Layer)],
                                False)
    return paths


def _is_network(model):
    from xlaflow.models import Sequential
    return isinstance(model, Sequential) or getattr(model, "_graph", None) is not None


def layer_paths(model, scheme="tf2.12"):
    """[(group path, layer)] for each of `model.layers`, under `scheme`: "tf2.12" (a
    weighted layer's second entry takes a name of its own), "tf2.13" (it does not) or
    "later" (the `layers` group). A subclassed model's layers go by the attribute that
    holds them, as TF's walk finds them, else under `layers/`."""
    layers = list(model.layers)
    if not _is_network(model):
        from xlaflow.layers.base import Layer
        placed, paths = set(), []
        for attr, value in sorted(vars(model).items()):  # dir()'s order: first one wins
            if attr.startswith("_"):
                continue
            if isinstance(value, Layer) and id(value) not in placed:
                paths.append((attr, value))
            elif isinstance(value, (list, tuple)):  # named by class, as TF's containers
                paths += _container(attr, [(v, 1) for v in value if isinstance(v, Layer)
                                           and id(v) not in placed], False)
            placed |= {id(layer) for _, layer in paths}
        rest = [layer for layer in layers if id(layer) not in placed]
        return paths + _container(LATER_LAYERS, [(layer, 1) for layer in rest], False)
    if scheme == "later":
        return _container(LATER_LAYERS, [(layer, 1) for layer in layers], False)
    entries = [(layer, 2 if layer.weights else 1) for layer in layers]
    return _container(LAYERS, entries, scheme == "tf2.12")


def _container(prefix, entries, repeats_take_names):
    used, seen, paths = {}, set(), []
    for layer, times in entries:
        for _ in range(times if repeats_take_names else 1):
            name = snake_case(type(layer).__name__)
            if name in used:
                used[name] += 1
                name = f"{name}_{used[name]}"
            else:
                used[name] = 0
            if id(layer) not in seen:
                seen.add(id(layer))
                paths.append((f"{prefix}/{name}", layer))
    return paths


def write_model(f, model):
    """The model's weights into the open h5 file `f` at TF 2.12's paths; every weight of
    the model must sit in one of them (checked before anything is written)."""
    groups = check_placed(model)
    for path, weights in groups:
        group = f.require_group(path)
        for i, weight in enumerate(weights):
            group.create_dataset(str(i), data=_storable(weight.value))


def check_placed(model, what="save"):
    """The model's weight groups, once every weight of the model is in one of them."""
    groups = weight_groups(model)
    placed = {id(w) for _, weights in groups for w in weights}
    stray = [w.name for w in model.weights if id(w) not in placed]
    if stray:
        raise ValueError(f"{what}: {model.name} has weights in no layer of its `layers` "
                         f"({stray[:3]}); the Keras v3 layout keeps weights by layer. Save "
                         "to a directory path instead")
    return groups


def _storable(value):
    from xlaflow.saving.hdf5_weights import _storable as storable
    return storable(value)


def read_model(f, model, filepath, what="load_model", skip_mismatch=False):
    """[(weight, value)] for every weight of `model` from the open h5 file `f`, each
    shape checked (nothing assigned here); the first naming scheme that finds every
    weighted layer's group wins. With `skip_mismatch` (Keras 2.12's load_weights), the
    scheme finding the most groups is read and a layer whose group is missing or whose
    counts or shapes differ is skipped with a warning, as saving_lib's _load_state."""
    failures, best = [], None
    for scheme, keras_sublayers in (("tf2.12", True), ("tf2.13", True), ("later", True),
                                    ("tf2.12", False)):
        found, missing, skipped = [], None, []
        for path, weights in weight_groups(model, scheme, keras_sublayers=keras_sublayers):
            group = f.get(path)
            if not weights:
                continue
            why = _mismatch(group, weights, filepath)
            if why is not None:
                missing = missing or (path, weights, 0 if group is None else len(group))
                skipped.append((path, why))
                continue
            found += [(w, np.asarray(group[str(i)])) for i, w in enumerate(weights)]
        if missing is None:
            return found
        failures.append(missing)
        if best is None or len(found) > len(best[0]):
            best = (found, skipped)
    if skip_mismatch:
        for path, why in best[1]:
            warnings.warn(f"{what}: could not load the weights at {path} of {filepath}; "
                          f"skipping them ({why})", UserWarning, stacklevel=4)
        return best[0]
    path, weights, have = failures[0]
    group = f.get(path)
    if group is not None and len(group) == len(weights):  # present, but a shape differs
        raise ValueError(_mismatch(group, weights, filepath, what))
    raise ValueError(
        f"{what}: {filepath}'s weights file has no {len(weights)} weights "
        f"({weights[0].name}, ...) at {path} (it holds {have}). The file is of another "
        "architecture, or TF keeps this layer's weights in groups of sublayers that "
        "xlaflow's layer does not have (it follows public sublayer attributes and RNN "
        "cells): in TensorFlow, save the model as one HDF5 file (model.save('model.h5')) "
        "and load that")


def _mismatch(group, weights, filepath, what="load_model"):
    """Why the h5 `group` cannot fill `weights` (None when it can)."""
    if group is None or len(group) != len(weights):
        return (f"{len(weights)} weights expected, "
                f"{0 if group is None else len(group)} found")
    for i, weight in enumerate(weights):
        shape = tuple(group[str(i)].shape)
        if shape != tuple(weight.shape):
            return (f"{what}: {weight.name} has shape {tuple(weight.shape)}; {filepath} "
                    f"holds {shape} for it")
    return None


def tf_order(optimizer, weights, reading=False):
    """[(Variable or None, the weight it is a slot of or None)] of the optimizer in TF
    2.12's order: `iteration`, then the slots (None for one TF builds and xlaflow does
    not: zeros in the file). None for an optimizer whose TF order is not known here (or,
    unless `reading`, whose state TF's layout cannot hold whole)."""
    name = type(optimizer).__name__
    groups = TF_SLOTS.get(name) or (TF_READ_SLOTS.get(name) if reading else None)
    if groups is None or getattr(optimizer, "_keras_form", False) or \
            type(optimizer).__module__ != "xlaflow.optimizers":
        return None
    by_id = {id(v): v for v in optimizer.variables}
    slots = {(id(weight), slot): by_id[key]
             for key, (weight, slot) in optimizer.slot_owners().items()}
    order = [(optimizer.iterations, None)]
    for group in groups:
        built = [s for s in group if s in optimizer.slot_names or s in _ALWAYS.get(name, ())]
        for weight in weights:
            order += [(slots.get((id(weight), s)), weight) for s in built
                      if len(weight.shape) >= 2 or s not in _FACTORED.get(name, ())]
    return order


def write_optimizer(f, optimizer, weights, keys):
    """The optimizer's state under `optimizer/vars` in TF's order (returns None); for an
    optimizer whose TF order is unknown, under `xlaflow_optimizer/vars` in xlaflow's
    order, returning the specs that pair those slots with their weights (`keys`:
    {id(weight): key})."""
    order = tf_order(optimizer, weights)
    if order is None:
        from xlaflow.saving import keras_model
        group = f.create_group(XLAFLOW_OPTIMIZER).create_group("vars")
        owners = keras_model._slot_owners(optimizer)
        specs = []
        for i, variable in enumerate(optimizer.variables):
            group.create_dataset(str(i), data=_storable(variable.value))
            specs.append({"key": str(i), "name": variable.name, "shape": list(variable.shape),
                          "dtype": np.dtype(variable.dtype).name,
                          **keras_model._slot_of(variable, owners, keys)})
        return specs
    group = f.create_group(OPTIMIZER).create_group("vars")
    for i, (variable, weight) in enumerate(order):
        if variable is None:  # TF's SGD momentum, unused without momentum: zeros
            value = np.zeros(tuple(weight.shape), np.dtype(weight.dtype))
        elif weight is None:  # the iteration count: int64 in TF
            value = np.asarray(variable.value).astype(np.int64)
        else:
            value = _storable(variable.value)
        group.create_dataset(str(i), data=value)
    return None


def read_optimizer(f, optimizer, weights, filepath, what="load_model"):
    """[(Variable, value)] of the optimizer state in TF's `optimizer/vars`, the optimizer
    built for `weights` first; [] when there is none, or (with a warning, as Keras 2 when
    its counts differ) when it cannot be paired with this optimizer's variables."""
    group = f.get(f"{OPTIMIZER}/vars")
    if group is None or not len(group):
        return []
    optimizer.build(weights)
    order = tf_order(optimizer, weights, reading=True)
    if order is None or len(order) != len(group):
        why = (f"TF's order of {type(optimizer).__name__}'s variables is not known here"
               if order is None else f"it holds {len(group)} variables where TF 2.12's "
               f"{type(optimizer).__name__} has {len(order)} for this model")
        warnings.warn(f"{what}: {filepath}'s optimizer state is not restored ({why}); "
                      "the model is compiled with a fresh optimizer", UserWarning,
                      stacklevel=4)
        return []
    pairs = []
    for i, (variable, _) in enumerate(order):
        value = np.asarray(group[str(i)])
        if variable is None:
            continue
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"load_model: {filepath}'s optimizer variable {i} has shape "
                             f"{tuple(value.shape)}; {variable.name} has "
                             f"{tuple(variable.shape)}")
        pairs.append((variable, value))
    shared = optimizer.global_variables()  # TF keeps none: they follow from the count
    pairs += [(shared[key], np.asarray(value))
              for key, value in optimizer.globals_after(int(np.asarray(group["0"]))).items()]
    return pairs
