"""xf.saved_model.save: xf.functions with input signatures, serialized by jax.export.

Each signature becomes StableHLO for every requested platform, taking the Variables'
values as arguments (never baked-in constants) and a `None` dimension as a symbolic one:
all leading `None`s share the symbol `batch`, any other `None` gets its own. The values
go once into an orbax directory beside the programs. The format is in docs/saved_model.md.
"""

from __future__ import annotations

import itertools
import logging
import os
import re

import jax
import numpy as np

from xlaflow import _host_callbacks
from xlaflow._host_callbacks import UnexportableCallbackError
from xlaflow._signatures import symbolic_struct
from xlaflow.saving import arrays, atomic
from xlaflow.tensors import TensorSpec

FORMAT, FORMAT_VERSION, MANIFEST = "xlaflow.saved_model", 1, "xlaflow_export.json"
SIGNATURES_FILE, VARIABLES_DIR = "signatures.json", "variables"
DEFAULT_PLATFORMS = ("cpu", "cuda", "tpu")
DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
_log = logging.getLogger("xlaflow.saving")


class Lowered:
    """One exported signature: its jax.export program and its named inputs and outputs."""

    def __init__(self, name, exported, inputs, outputs, variables):
        self.name, self.exported = name, exported
        self.inputs, self.outputs, self.variables = inputs, outputs, variables


def save(obj, export_dir, signatures=None, options=None, *, platforms=None, overwrite=True):
    """Export `signatures` (an xf.function with an input_signature, or a dict of them
    keyed by signature name) of `obj` to the directory `export_dir`, atomically.

    Without `signatures`, a Keras model exports its call, and any other object its only
    xf.function with an input_signature (none: no signatures). `platforms` defaults to cpu,
    cuda and tpu, so one artifact serves anywhere.

    As TF, the object's tree is kept too: its tracked Variables and children, and each of
    its xf.functions with the traces it has (function_export.py), which load restores.
    An object returned by xf.saved_model.load saves again with its programs as loaded
    (for the platforms they were exported for).
    """
    if options is not None:
        raise NotImplementedError("saved_model.save(options=...) is not supported; the "
                                  "export always holds every signature's variables")
    platforms = tuple(platforms or DEFAULT_PLATFORMS)
    from xlaflow.models.model import Model
    if isinstance(obj, Model):
        from xlaflow.models.ragged_fed import refuse_saving
        refuse_saving(obj, "saved_model.save")
    from xlaflow.saving.loaded import LoadedModel
    if isinstance(obj, LoadedModel) and signatures is None:
        lowered = obj._saved_signatures()  # TF re-saves a loaded object's signatures
    else:
        lowered = lower_all(collect_signatures(obj, signatures), platforms)
    from xlaflow.saving.function_export import ObjectGraph
    objects = ObjectGraph(obj, platforms)
    if not lowered and not objects.lowered:
        raise ValueError(
            f"saved_model.save: {type(obj).__name__} has nothing to export: no signatures= "
            "were given, it has no xf.function with an input_signature, and none of its "
            "xf.functions was traced (call them, or pass signatures=)")
    return write(export_dir, lowered, overwrite=overwrite, objects=objects)


def collect_signatures(obj, signatures):
    """{name: xf.Function} from `signatures`, or found on `obj` as TF does."""
    from xlaflow.function import Function
    if signatures is None:
        serving = getattr(obj, "_serving_function", None)
        if callable(serving):
            if obj._input_spec_to_save()[0] is None:
                # TF 2.12 saves a never-called, unbuilt Keras model's traced functions only
                _log.warning("Skipping the serving signature of %s: it was never built or "
                             "called, so its input shape is unknown (its traced xf.functions "
                             "are still saved)", type(obj).__name__)
                return {}
            return {DEFAULT_SIGNATURE: serving()}
        found = {name: getattr(obj, name) for name in dir(type(obj))
                 if isinstance(getattr(type(obj), name, None), Function)}
        found = {n: f for n, f in found.items() if f._input_signature is not None}
        if not found:
            return {}  # as TF: the export restores the object's traced functions only
        if len(found) != 1:
            raise ValueError(
                f"saved_model.save: pass signatures=; {type(obj).__name__} has "
                f"{len(found)} xf.functions with an input_signature ({sorted(found)}), and "
                "only exactly one is taken as the default signature")
        signatures = next(iter(found.values()))
    if not isinstance(signatures, dict):
        signatures = {DEFAULT_SIGNATURE: signatures}
    if not signatures:
        raise ValueError("saved_model.save: signatures is empty; an export needs at least "
                         "one signature to serve")
    from xlaflow.concrete import ConcreteFunction
    signatures = {name: fn.as_signature() if isinstance(fn, ConcreteFunction) else fn
                  for name, fn in signatures.items()}
    for name, fn in signatures.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"saved_model.save: signature names must be non-empty strings; "
                             f"received {name!r}")
        if not isinstance(fn, Function) or fn._input_signature is None:
            raise TypeError(
                f"saved_model.save: signature {name!r} must be an xf.function with an "
                f"input_signature (e.g. xf.function(f, input_signature=[xf.TensorSpec("
                f"[None, 3], xf.float32)])); received {type(fn).__name__}")
    return signatures


def lower_all(signatures, platforms=None, shared_batch=False):
    """Each signature lowered. As TF's TensorSpecs, leading None sizes of different inputs
    are independent unless the program combines them; a Keras model's inputs share one
    batch (`shared_batch`)."""
    platforms = tuple(platforms or DEFAULT_PLATFORMS)
    return [lower(name, fn, platforms, shared_batch) for name, fn in signatures.items()]


def _input_specs(fn):
    """Flat (name, TensorSpec) pairs of an input_signature, named by spec or parameter."""
    names, used = [], set()
    for index, spec in enumerate(fn._input_signature):
        base = fn._param_names[index] if index < len(fn._param_names) else f"input_{index}"
        leaves = jax.tree_util.tree_leaves_with_path(
            spec, is_leaf=lambda s: isinstance(s, TensorSpec))
        for path, leaf in leaves:
            name = leaf.name or (base + "".join(f"_{_key(k)}" for k in path))
            name = re.sub(r"\W", "_", name)
            if name in used:
                raise ValueError(f"saved_model.save: two inputs of {fn.__name__!r} are both "
                                 f"named {name!r}; give the TensorSpecs distinct names")
            used.add(name)
            names.append((name, leaf))
    return names


def _identifier(name):
    """`name` (already letters, digits and _: see _input_specs) as a symbolic dimension's
    prefix, which must start with a letter."""
    return name if name[:1].isalpha() else f"in_{name}"


def _key(k):
    return getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))


def _leading(name, position, shared_batch):
    """The symbol of input `name`'s leading None size (at `position` among the inputs)."""
    return "batch" if shared_batch or position == 0 else f"{_identifier(name)}_0"


def _symbolic_leaves(named_specs, tied=None, shared_batch=True):
    """One symbolic dimension per None size, `<input>_<axis>`, renamed by `tied` (symbol ->
    the symbol it must equal). A leading one is `batch`: shared by every input when
    `shared_batch` (a Keras model's inputs), else the first input's, the others' own."""
    scope = jax.export.SymbolicScope()
    out = []
    for position, (name, spec) in enumerate(named_specs):
        if spec.shape is None:
            raise ValueError(f"saved_model.save: input {name!r} has an unknown rank; give "
                             "its TensorSpec a shape (None for the sizes that vary)")
        out.append(symbolic_struct(spec, _identifier(name), scope, tied or {},
                                   _leading(name, position, shared_batch)))
    return out


def _clashing(message, names):
    """The symbols `message` shows clashing: where two shapes it prints, of one rank, hold
    different names at one axis (`(batch, ids_1, 4), (batch, segments_1, 4)`); else every
    name it mentions."""
    shapes = [tuple(part.strip() for part in inner.split(","))
              for inner in re.findall(r"\(([^()]*)\)", message)]
    found = {x for a, b in itertools.combinations(shapes, 2) if len(a) == len(b)
             for pair in zip(a, b) if pair[0] != pair[1] and set(pair) <= names
             for x in pair}
    return found if len(found) >= 2 else {
        name for name in names if re.search(rf"\b{re.escape(name)}\b", message)}


def _export_tying_sizes(export, named_specs, shared_batch=True):
    """`export(leaves)` with independent sizes where the program allows. A program that
    combines two inputs' varying sizes (token ids + segment ids, added) fails naming both
    symbols; those are tied (to `batch` when it is one of them) and the export tried
    again, until it succeeds."""
    symbols = [_leading(name, position, shared_batch) if axis == 0
               else f"{_identifier(name)}_{axis}"
               for position, (name, spec) in enumerate(named_specs)
               for axis, d in enumerate(spec.shape or ()) if d is None]
    symbols = list(dict.fromkeys(symbols))
    tied = {}
    for _ in range(len(symbols)):
        try:
            return export(_symbolic_leaves(named_specs, tied, shared_batch))
        except UnexportableCallbackError:
            raise
        except Exception as exc:  # jax raises several types for shape errors
            roots = _clashing(str(exc), {tied.get(s, s) for s in symbols})
            if len(roots) < 2:
                raise
            keep = "batch" if "batch" in roots else min(roots, key=symbols.index)
            tied = {s: keep if tied.get(s, s) in roots else tied.get(s, s) for s in symbols}
    return export(_symbolic_leaves(named_specs, tied, shared_batch))


def _concrete_leaves(named_specs):
    return [np.zeros(tuple(1 if d is None else d for d in spec.shape), spec.dtype)
            for _, spec in named_specs]


def _describe(shape, dtype, name):
    return {"name": name, "dtype": np.dtype(dtype).name,
            "shape": [int(d) if isinstance(d, (int, np.integer)) else None for d in shape]}


def lower(name, fn, platforms, shared_batch=False):
    """Serialize one signature for `platforms` with jax.export."""
    named = _input_specs(fn)
    tree = jax.tree_util.tree_structure(tuple(fn._input_signature),
                                        is_leaf=lambda s: isinstance(s, TensorSpec))
    args = jax.tree_util.tree_unflatten(tree, _concrete_leaves(named))
    return lower_call(name, fn, args, {}, named, platforms, shared_batch)


def lower_call(name, fn, args, kwargs, named, platforms, shared_batch=False,
               with_assigned=False):
    """Serialize `fn` called on `args`/`kwargs` (arrays standing for the traced leaves,
    described by `named`: (name, TensorSpec) pairs in leaf order) with jax.export. With
    `with_assigned`, the program also returns the new values of the Variables it assigns
    (after the outputs; `Lowered.assigned` lists them), as a restored function needs."""
    pure, variables, touched, assigned = fn._pure_program(*args, with_assigned=True,
                                                          **kwargs)
    assigned = assigned if with_assigned else []
    touched_ids = {id(v) for v in [*touched, *assigned]}
    kept = [v for v in variables if id(v) in touched_ids]
    leaves = _concrete_leaves(named)

    def program(kept_values, flat_inputs):
        by_id = dict(zip((id(v) for v in kept), kept_values))
        # Untouched Variables are never read: a placeholder keeps them out of the artifact.
        values = [by_id.get(id(v), jax.numpy.zeros(v.shape, v.dtype)) for v in variables]
        new, out = pure(values, flat_inputs)
        return out, list(new) if with_assigned else []

    def flat_program(kept_values, flat_inputs):
        out, new = program(kept_values, flat_inputs)
        return jax.tree_util.tree_leaves(out) + new

    var_specs = [jax.ShapeDtypeStruct(v.shape, v.dtype) for v in kept]

    def export(leaves):
        return jax.export.export(jax.jit(flat_program), platforms=platforms)(var_specs, leaves)

    with _host_callbacks.exporting(name, fn.__name__) as record:
        try:
            exported = _export_tying_sizes(export, named, shared_batch)
            out_tree = jax.eval_shape(program, var_specs, leaves)[0]
            paths = [p for p, _ in jax.tree_util.tree_flatten_with_path(out_tree)[0]]
        except UnexportableCallbackError:
            raise
        except Exception as exc:
            _refuse_callbacks(flat_program, var_specs, leaves, exc)
            raise ValueError(
                f"saved_model.save: signature {name!r} ({fn.__name__}) could not be exported "
                f"for {', '.join(platforms)} with symbolic None dimensions: {exc}. Code that "
                "needs a fixed size (a Python loop over the batch, a reshape to a literal "
                "size) fails here: give those dimensions a size in the input_signature."
            ) from exc
    if record.dropped_prints:
        _log.warning(
            "saved_model.save: signature %r (%s) calls xf.print, which the export leaves "
            "out: jax.export cannot serialize host callbacks, so the exported program "
            "computes the same outputs without printing (a TF SavedModel would print on the "
            "server)", name, fn.__name__)
    names = unique_names([_output_name(path, i, len(paths)) for i, path in enumerate(paths)])
    outputs = [_describe(aval.shape, aval.dtype, name)
               for name, aval in zip(names, exported.out_avals)]
    # dtypes as the program takes them (int64 is int32 unless JAX runs with x64)
    taken = exported.in_avals[len(kept):]
    inputs = [_describe(spec.shape, aval.dtype, n) for (n, spec), aval in zip(named, taken)]
    lowered = Lowered(name, exported, inputs, outputs, kept)
    lowered.out_tree, lowered.assigned = out_tree, assigned
    return lowered


def _refuse_callbacks(flat_program, var_specs, leaves, exc):
    """Raise UnexportableCallbackError, from `exc`, when the program holds a host callback
    of the user's own (jax.debug.print, jax.pure_callback): jax.export fails on those with
    an unrelated message. Traced on `leaves`' fixed sizes, so shape errors do not recur."""
    try:
        closed = jax.make_jaxpr(flat_program)(var_specs, leaves)
    except Exception:  # noqa: BLE001 - `exc`, the export's own error, is reported instead
        return
    _host_callbacks.refuse_found(closed, cause=exc)


def unique_names(names):
    """Names made distinct with a _<n> suffix: a signature's outputs are looked up by name."""
    seen, out = set(), []
    for name in names:
        candidate, n = name, 1
        while candidate in seen:
            candidate, n = f"{name}_{n}", n + 1
        seen.add(candidate)
        out.append(candidate)
    return out


def _output_name(path, index, count):
    """A dict output keeps its keys (joined by '/'); anything else is output_<i>, as TF."""
    keys = [str(k.key) for k in path if isinstance(k, jax.tree_util.DictKey)]
    if keys and len(keys) == len(path):
        return "/".join(keys)
    return f"output_{index}"


def write(export_dir, lowered, *, overwrite=True, extra_variables=(), fill_extra=None,
          header=None, objects=None):
    """Write the programs, their Variables (plus `extra_variables`) and the signature
    description; `fill_extra(tmp_dir, keys)` adds more files before the directory is sealed
    (`keys` maps id(Variable) to its key in variables/). `objects` (a function_export
    ObjectGraph) adds the saved object's tree and restored functions."""
    variables = {}
    restored = objects.lowered if objects is not None else []
    for item in [*lowered, *restored]:
        for v in item.variables:
            variables.setdefault(id(v), v)
    for v in [*extra_variables, *(objects.variables if objects is not None else ())]:
        variables.setdefault(id(v), v)
    keys = {vid: f"v{i:04d}" for i, vid in enumerate(variables)}
    description = {
        "signatures": {item.name: {
            "method_name": PREDICT_METHOD,
            "file": f"signatures/{i}.jaxexport",
            "platforms": list(item.exported.platforms),
            "inputs": item.inputs, "outputs": item.outputs,
            "variables": [keys[id(v)] for v in item.variables]}
            for i, item in enumerate(lowered)},
        "variables": [{"key": keys[vid], "name": v.name, "dtype": np.dtype(v.dtype).name,
                       "shape": list(v.shape), "trainable": bool(v.trainable)}
                      for vid, v in variables.items()]}
    files = [f"functions/{i}.jaxexport" for i in range(len(restored))]
    if objects is not None:
        description["objects"] = objects.describe(keys, files)

    def fill(tmp):
        os.mkdir(os.path.join(tmp, "signatures"))
        for i, item in enumerate(lowered):
            with open(os.path.join(tmp, "signatures", f"{i}.jaxexport"), "wb") as f:
                f.write(item.exported.serialize())
        if restored:
            os.mkdir(os.path.join(tmp, "functions"))
        for file, item in zip(files, restored):
            with open(os.path.join(tmp, file), "wb") as f:
                f.write(item.blob)
        if variables:
            arrays.save_arrays(os.path.join(tmp, VARIABLES_DIR),
                               {keys[vid]: v.value for vid, v in variables.items()})
        atomic.write_json(os.path.join(tmp, SIGNATURES_FILE), description)
        if fill_extra is not None:
            fill_extra(tmp, keys)

    import xlaflow
    return atomic.write_directory(
        export_dir, fill, manifest=MANIFEST, overwrite=overwrite, what="saved_model.save",
        header={"format": FORMAT, "format_version": FORMAT_VERSION,
                "xlaflow_version": xlaflow.__version__, "jax_version": jax.__version__,
                **(header or {})})
