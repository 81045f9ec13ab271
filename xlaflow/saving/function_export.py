"""The saved object's own xf.functions, exported for xf.saved_model.load to call again.

TF's SavedModel keeps the object graph: tracked Variables and children by attribute, and
every tf.function with the concrete functions traced before saving (or made from its
input_signature). Here each such trace is exported as the signatures are (export.lower_call:
Variables' values as arguments) with its gradient, and described in signatures.json's
`objects` section (docs/saved_model.md); restored.py builds the objects again.
"""

from __future__ import annotations

import inspect
import logging

import jax
import numpy as np

from xlaflow._signatures import DYNAMIC, fill_template, unwrap
from xlaflow.module import Module
from xlaflow.saving import structures
from xlaflow.tensors import TensorSpec
from xlaflow.variables import Variable

SECTION, SECTION_VERSION, FUNCTIONS_DIR = "objects", 1, "functions"
_log = logging.getLogger("xlaflow.saving")


class _Slot:
    """A traced argument's place in a trace's arguments: its index, shape and dtype."""

    def __init__(self, index, shape, dtype):
        self.index, self.shape, self.dtype = index, shape, np.dtype(dtype)

    def describe(self):
        return {"index": self.index, "dtype": self.dtype.name, "shape": list(self.shape)}


def _slot_of(x):
    return x.describe() if isinstance(x, _Slot) else None


class ObjectGraph:
    """The object tree below `root`: nodes (objects, Variables, containers, functions) and
    every restored function's exported traces (`lowered`, in file order)."""

    def __init__(self, root, platforms):
        self.platforms = platforms
        self.nodes, self._memo, self._alive = [], {}, []
        self.functions, self.lowered, self.variables = [], [], []
        self._restored = {}  # id(RestoredFunction) -> its index: exported once
        self._node(root, root=True)

    # -- the tree ------------------------------------------------------------------------
    def _node(self, value, root=False):
        """The index of `value`'s node (made once per object), or None if untracked."""
        from xlaflow.function import Function
        from xlaflow.saving.loaded import LoadedModel
        from xlaflow.saving.restored import RestoredFunction
        if id(value) in self._memo:
            return self._memo[id(value)]
        if root and isinstance(value, LoadedModel):  # saving a loaded object again
            attributes, functions = value._saved_tree()
            index = self._add(value, {"kind": "object", "class": "LoadedModel"})
            refs = {name: self._node(attr) for name, attr in attributes.items()}
            self.nodes[index].update(
                attributes={k: r for k, r in refs.items() if r is not None},
                functions={k: self._restored_function(f) for k, f in functions.items()})
            return index
        if isinstance(value, RestoredFunction):
            return self._add(value, {"kind": "function",
                                     "function": self._restored_function(value)})
        if root and isinstance(value, Function):  # save(fn, ...): the root's __call__
            return self._add(value, {"kind": "object", "class": "Function", "attributes": {},
                                     "functions": {"__call__": self._function(value)}})
        if isinstance(value, Variable):
            self.variables.append(value)
            return self._add(value, {"kind": "variable", "variable": value})
        if isinstance(value, Function):
            return self._add(value, {"kind": "function", "function": self._function(value)})
        if isinstance(value, (list, tuple, dict)):
            if not _holds_tracked(value, set()):
                return None
            index = self._add(value, {"kind": "dict" if isinstance(value, dict) else "list"})
            items = value.items() if isinstance(value, dict) else enumerate(value)
            refs = [(k, self._node(v)) for k, v in items]
            refs = [(k, r) for k, r in refs if r is not None]
            if isinstance(value, dict):
                refs = [(k, r) for k, r in refs if isinstance(k, str)]
                self.nodes[index].update(keys=[k for k, _ in refs])
            self.nodes[index]["items"] = [r for _, r in refs]
            return index
        if not (root or isinstance(value, Module)):
            return None
        index = self._add(value, {"kind": "object", "class": getattr(
            value, "_class_name", type(value).__name__)})  # a RestoredObject keeps its own
        attributes, functions = {}, {}
        for name, attr in getattr(value, "__dict__", {}).items():
            if isinstance(attr, Function) and not _public(name):
                continue  # Keras' own compiled steps (_predict_function, ...)
            if isinstance(attr, RestoredFunction):  # a loaded child's method
                functions[name] = self._restored_function(attr)
                continue
            ref = self._node(attr)
            if ref is not None:
                attributes[name] = ref
        for name in dir(type(value)):
            if isinstance(getattr(type(value), name, None), Function) and _public(name):
                functions[name] = self._function(getattr(value, name))
        keras_call = _keras_call(value) if "__call__" not in functions else None
        if keras_call is not None:
            functions["__call__"] = self._function(keras_call, "__call__")
        self.nodes[index].update(attributes=attributes, functions=functions)
        return index

    def _add(self, value, node):
        self._alive.append(value)  # ids stay unique while the graph is built
        self._memo[id(value)] = len(self.nodes)
        self.nodes.append(node)
        return len(self.nodes) - 1

    # -- functions -----------------------------------------------------------------------
    def _function(self, fn, name=None):
        """Export each trace of `fn` (or its input_signature's); the function's index."""
        name = name or fn.__name__
        params = list(fn._param_names)
        record = {"name": name, "parameters": params, "defaults": _defaults(fn),
                  "concrete": []}
        for args, kwargs, from_signature in _traces(fn):
            slots = [x for x in jax.tree_util.tree_leaves((args, kwargs))
                     if isinstance(x, _Slot)]
            try:
                given = {k: structures.encode(v, _slot_of)
                         for k, v in structures.named_arguments(params, args, kwargs).items()}
                bound = {k: given.get(k, record["defaults"].get(k))  # in parameter order
                         for k in dict.fromkeys([*params, *given, *record["defaults"]])
                         if k in given or k in record["defaults"]}
            except structures.Unencodable as exc:
                _log.warning("saved_model.save: a trace of %s is not saved: its argument "
                             "%s cannot be described without Python (xf.saved_model.load "
                             "matches Python arguments by value)", name, exc)
                continue
            named = [(f"arg_{s.index}", TensorSpec([None if d is None else d for d in s.shape],
                                                   s.dtype)) for s in slots]
            concrete_args, concrete_kwargs = jax.tree_util.tree_map(
                lambda x: np.zeros([1 if d is None else d for d in x.shape], x.dtype)
                if isinstance(x, _Slot) else x, (args, kwargs))
            from xlaflow.saving import export
            lowered = export.lower_call(name, fn, concrete_args, concrete_kwargs, named,
                                        self.platforms, with_assigned=True)
            _serialize(lowered)
            try:
                outputs = _describe_outputs(lowered.out_tree)
            except structures.Unencodable as exc:
                raise ValueError(f"saved_model.save: {name} returns {exc}, which a restored "
                                 "function cannot rebuild without its Python class: return "
                                 "tensors in tuples, lists or dicts") from None
            record["concrete"].append({"inputs": bound, "outputs": outputs,
                                       "signature": from_signature,
                                       "lowered": len(self.lowered)})
            self.lowered.append(lowered)
        self.functions.append(record)
        return len(self.functions) - 1

    def _restored_function(self, fn):
        """A loaded object's function saved again: its traces' programs and descriptions
        as loaded (no Python to trace them anew); the function's index."""
        if id(fn) in self._restored:
            return self._restored[id(fn)]
        from xlaflow.saving import export
        record = {"name": fn.__name__, "parameters": list(fn._parameters),
                  "defaults": dict(fn._defaults), "concrete": []}
        for c in fn.concrete_functions:
            lowered = export.Lowered(fn.__name__, c.exported, None, None, list(c.variables))
            lowered.assigned = list(c.assigned)
            _serialize(lowered)
            record["concrete"].append({"inputs": c.inputs, "outputs": c.outputs,
                                       "signature": c.from_signature,
                                       "lowered": len(self.lowered)})
            self.lowered.append(lowered)
        self._alive.append(fn)
        self.functions.append(record)
        self._restored[id(fn)] = len(self.functions) - 1
        return self._restored[id(fn)]

    # -- the JSON section ----------------------------------------------------------------
    def describe(self, keys, files):
        """signatures.json's `objects` section; `keys` maps id(Variable) to its key and
        `files[i]` is the file of `lowered[i]`."""
        nodes = []
        for node in self.nodes:
            node = dict(node)
            if node["kind"] == "variable":
                node["variable"] = keys[id(node["variable"])]
            nodes.append(node)
        functions = []
        for record in self.functions:
            concrete = []
            for c in record["concrete"]:
                item = self.lowered[c["lowered"]]
                concrete.append({
                    "file": files[c["lowered"]], "platforms": list(item.exported.platforms),
                    "differentiable": item.vjp_order >= 1,
                    "variables": [keys[id(v)] for v in item.variables],
                    "assigned": [keys[id(v)] for v in item.assigned],
                    "inputs": c["inputs"], "outputs": c["outputs"],
                    "signature": c["signature"]})
            functions.append({**record, "concrete": concrete})
        return {"version": SECTION_VERSION, "root": 0, "nodes": nodes, "functions": functions}


def _serialize(lowered):
    """The program's bytes with its gradient (jax.export's vjp_order=1), so a restored
    function differentiates under a GradientTape; without it (a program jax cannot
    differentiate: an integer loop, a while_loop) calls still work and a gradient raises."""
    try:
        lowered.blob, lowered.vjp_order = lowered.exported.serialize(vjp_order=1), 1
    except Exception as exc:  # noqa: BLE001 - jax raises several types for a missing VJP
        _log.info("saved_model.save: %s is saved without its gradient (%s)",
                  lowered.name, exc)
        lowered.blob, lowered.vjp_order = lowered.exported.serialize(), 0
        lowered.no_vjp_reason = str(exc)


def _describe_outputs(tree):
    """The output structure, each tensor indexed in the program's (jax's) leaf order."""
    index = {id(x): i for i, x in enumerate(jax.tree_util.tree_leaves(tree))}

    def tensor(x):
        if not isinstance(x, jax.ShapeDtypeStruct):
            return None
        return {"index": index[id(x)], "dtype": np.dtype(x.dtype).name,
                "shape": [d if isinstance(d, int) else None for d in x.shape]}

    return structures.encode(tree, tensor)


def _public(name):
    return not name.startswith("_") or name == "__call__"


def _holds_tracked(value, seen):
    from xlaflow.function import Function
    if id(value) in seen:
        return False
    seen.add(id(value))
    items = value.values() if isinstance(value, dict) else value
    return any(isinstance(v, (Variable, Module, Function)) or
               isinstance(v, (list, tuple, dict)) and _holds_tracked(v, seen) for v in items)


def _defaults(fn):
    """The parameters' defaults that JSON holds (a call may leave them out, or give them:
    keyword-only ones too, as TF's canonicalized inputs)."""
    try:
        parameters = inspect.signature(fn.python_function).parameters.values()
    except (TypeError, ValueError):
        return {}
    out = {}
    for p in parameters:
        if p.default is not p.empty and (p.name in fn._param_names or
                                         p.kind is p.KEYWORD_ONLY):
            try:
                out[p.name] = structures.encode(p.default, lambda x: None)
            except structures.Unencodable:
                pass  # a call must then give it as the trace did
    return out


def _traces(fn):
    """(args, kwargs, from_signature) of each program to export: the input_signature's,
    else every trace of a call (its tensors as _Slots, its Python values as given)."""
    if fn._input_signature is not None:
        _refuse_ragged(fn)
        counter = iter(range(1 << 30))
        args = jax.tree_util.tree_map(
            lambda s: _Slot(next(counter), s.shape, s.dtype), tuple(fn._input_signature),
            is_leaf=lambda s: isinstance(s, TensorSpec))
        return [(args, {}, True)]
    traces = sorted(((number, id(entry)), avals, entry)
                    for entry in dict.fromkeys(fn._cache.values())
                    if not entry.raise_checks  # called inside a user's jax transformation
                    for avals, (number, _) in entry.signatures.items())
    out = []
    for _, avals, entry in traces:
        slots = [_Slot(i, [d if isinstance(d, int) else None for d in shape], dtype)
                 for i, (shape, dtype, _) in enumerate(avals)]
        leaves = [unwrap(x) for x in fill_template(entry.template, slots)]
        if DYNAMIC in leaves:
            continue
        args, kwargs = jax.tree_util.tree_unflatten(entry.treedef, leaves)
        out.append((tuple(args), dict(kwargs), False))
    return out


def _refuse_ragged(fn):
    """A RaggedTensorSpec in the input_signature has no one program to save: its function
    is traced per size of the RaggedTensor. Refused by name, before anything is written."""
    from xlaflow.ragged_spec import RaggedTensorSpec

    for spec in jax.tree_util.tree_leaves(fn._input_signature,
                                          is_leaf=lambda s: isinstance(s, TensorSpec)):
        if isinstance(spec, RaggedTensorSpec):
            raise NotImplementedError(
                f"saved_model.save: xf.function {fn._name!r} has {spec!r} in its "
                "input_signature; saving it is not provided (it is traced per size of the "
                "RaggedTensor). Save a function of the flat values and row_splits as "
                "xf.TensorSpecs, and rebuild it inside with xf.RaggedTensor.from_row_splits")


def _keras_call(model):
    """A Keras model's call as an xf.function of its saved input specs (TF restores a
    model's `__call__`), or None for what is not a model that knows its inputs."""
    spec_of = getattr(model, "_input_spec_to_save", None)
    if not callable(spec_of) or not callable(getattr(model, "_serving_function", None)):
        return None
    if model.__dict__.get("_host") is not None:
        _log.warning("saved_model.save: %s's call is not restored: its string layers run "
                     "on the host; call its signatures", model.name)
        return None
    shapes, dtypes = spec_of()
    if shapes is None:
        return None
    def is_shape(s):
        return isinstance(s, tuple) and all(d is None or isinstance(d, int) for d in s)

    flat, tree = jax.tree_util.tree_flatten(shapes, is_leaf=is_shape)
    flat_dtypes = jax.tree_util.tree_leaves(dtypes) if dtypes is not None else \
        ["float32"] * len(flat)
    specs = jax.tree_util.tree_unflatten(
        tree, [TensorSpec(s, d) for s, d in zip(flat, flat_dtypes)])
    from xlaflow.function import Function

    def call(inputs):
        return model(inputs, training=False)

    return Function(call, input_signature=[specs], autograph=False)
