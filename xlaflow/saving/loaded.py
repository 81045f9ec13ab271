"""xf.saved_model.load: run an export's signatures without the code that made it.

Reads only JSON, jax.export's serialized StableHLO and the orbax arrays, after checking
every file against the manifest; nothing is unpickled and no Python from the directory
runs. The model server loads exports through this module too.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile

import jax
import jax.extend.backend
import numpy as np

from xlaflow.saving import arrays, atomic, export

_WIDE_DTYPES = ("int64", "uint64", "float64", "complex128")
_log = logging.getLogger("xlaflow.saving")


def enable_x64():
    """64-bit mode for a process that only runs exports (`xlaflow serve`, `saved_model
    run`): exports keep their dtypes, so no 32-bit model changes, and int64/float64 ones
    run with their full values instead of failing to load."""
    jax.config.update("jax_enable_x64", True)


def _wide(specs, where=""):
    """'int64 'n'' for each 64-bit tensor in `specs` (which JAX cuts without 64-bit mode)."""
    return [f"{s['dtype']} {s['name']!r}{where}" for s in specs if s["dtype"] in _WIDE_DTYPES]


def _require_x64(what, wide):
    if not jax.config.jax_enable_x64:
        raise ValueError(
            f"{what} has 64-bit tensors ({', '.join(wide[:4])}{', ...' if len(wide) > 4 else ''}"
            "), which JAX cuts to 32 bits unless 64-bit mode is on: call "
            "jax.config.update('jax_enable_x64', True) first (`xlaflow serve` and `xlaflow "
            "saved_model run` do).")


class InputError(ValueError):
    """A call's inputs do not fit the signature (names, dtypes or shapes)."""


class Signature:
    """One exported function: call it with named inputs, get a dict of named outputs.

    `inputs`/`outputs` describe the tensors: {"name", "dtype", "shape"} with None for a
    size that varies (every leading None is the one shared `batch` size).
    """

    def __init__(self, name, description, exported, values):
        self.name = name
        self.method_name = description["method_name"]
        self.inputs = description["inputs"]
        self.outputs = description["outputs"]
        self.platforms = tuple(description["platforms"])
        # what the wire codecs read: built once, not per request
        self.description = {"method_name": self.method_name, "inputs": self.inputs,
                            "outputs": self.outputs}
        self.exported = exported
        self._values = values
        self._shared = None  # restored Variables, when the export restores its objects
        self._wide = _wide([*self.inputs, *self.outputs])
        self._call = jax.jit(exported.call)
        # Each input's symbolic sizes by axis ('batch', 'axis_1', ...): inputs sharing one
        # must agree on it, which prepare checks by name before jax.export would refuse.
        avals = exported.in_avals[len(jax.tree_util.tree_leaves(values)):]
        self._symbols = [{axis: str(d) for axis, d in enumerate(a.shape)
                          if not isinstance(d, int)} for a in avals]
        uses = [symbol for symbols in self._symbols for symbol in symbols.values()]
        self._ties = any(uses.count(symbol) > 1 for symbol in uses)  # else nothing to check

    @property
    def shares_batch(self):
        """Whether every input's leading size is the one shared `batch` (requests can then
        be joined into one batch); independent leading sizes (TF signatures) cannot."""
        return bool(self._symbols) and all(s.get(0) == "batch" for s in self._symbols)

    @property
    def structured_outputs(self):
        """TF's {output name: TensorSpec} (None for a size chosen per call)."""
        from xlaflow.tensors import TensorSpec
        return {spec["name"]: TensorSpec(spec["shape"], spec["dtype"], name=spec["name"])
                for spec in self.outputs}

    @property
    def input_names(self):
        return [spec["name"] for spec in self.inputs]

    @property
    def output_names(self):
        return [spec["name"] for spec in self.outputs]

    def __call__(self, *args, **kwargs):
        if args:
            if len(args) > len(self.inputs) or set(self.input_names[:len(args)]) & set(kwargs):
                raise TypeError(f"signature {self.name!r} takes the inputs "
                                f"{self.input_names}; received {len(args)} positional and "
                                f"{sorted(kwargs)}")
            kwargs.update(zip(self.input_names, args))
        outputs = self.call_flat(self.prepare(kwargs))
        return dict(zip(self.output_names, outputs))

    def prepare(self, inputs):
        """The inputs as arrays in signature order, checked against the signature: every
        name present and known, dtypes castable without changing kind, shapes fitting."""
        if self._wide:
            _require_x64(f"signature {self.name!r}", self._wide)
        missing = [n for n in self.input_names if n not in inputs]
        unknown = sorted(set(inputs) - set(self.input_names))
        if missing or unknown:
            raise InputError(f"signature {self.name!r} takes inputs {self.input_names}; "
                             f"missing {missing}, unknown {unknown}")
        out = []
        for spec in self.inputs:
            value = _as_array(spec, inputs[spec["name"]])
            want = spec["shape"]
            if value.ndim != len(want) or any(w is not None and w != h
                                              for w, h in zip(want, value.shape)):
                raise InputError(
                    f"input {spec['name']!r} of signature {self.name!r} must have shape "
                    f"{_shape_text(want)}; received {list(value.shape)}")
            if 0 in value.shape and any(w is None and h == 0 for w, h in zip(want, value.shape)):
                raise InputError(  # jax.export's symbolic sizes are at least 1
                    f"input {spec['name']!r} of signature {self.name!r} has shape "
                    f"{list(value.shape)}; its sizes marked None in {_shape_text(want)} must "
                    "be at least 1 (an empty batch has nothing to compute)")
            out.append(value)
        if self._ties:
            self._check_shared_sizes(out)
        return out

    def _check_shared_sizes(self, values):
        seen = {}  # symbol -> (input name, axis, size)
        for spec, symbols, value in zip(self.inputs, self._symbols, values):
            for axis, symbol in symbols.items():
                size = value.shape[axis]
                first = seen.setdefault(symbol, (spec["name"], axis, size))
                if first[2] != size:
                    what = "the batch size" if symbol == "batch" else (
                        f"one size on axis {first[1]} of {first[0]!r} and axis {axis} of "
                        f"{spec['name']!r} (the exported program ties them)")
                    raise InputError(
                        f"inputs {first[0]!r} and {spec['name']!r} of signature "
                        f"{self.name!r} must share {what}; received {first[2]} and {size}")

    def compiled_programs(self):
        """How many input shapes this signature has been compiled for (a server watches it
        to show that traffic causes no compilation after warm-up)."""
        return self._call._cache_size()

    def call_flat(self, inputs):
        """Run on checked inputs (from `prepare`); returns the outputs in order."""
        values = self._values if self._shared is None else [v.value for v in self._shared]
        return self._call(values, list(inputs))

    def share(self, variables):
        """Read `variables` (the restored object's, in the program's order) at each call:
        assigning one changes what the signature computes, as in TF."""
        self._shared = list(variables)

    def __repr__(self):
        ins = ", ".join(f"{s['name']}: {s['dtype']}{_shape_text(s['shape'])}"
                        for s in self.inputs)
        return f"<Signature {self.name}({ins}) -> {self.output_names}>"


def export_platform(device):
    """The name jax.export gives `device`'s platform: a CUDA device says "gpu" but its
    lowering is "cuda" (or "rocm"), the name of the backend that owns it."""
    for name, client in jax.extend.backend.backends().items():
        if client is device.client:
            return name
    return device.platform


def _shape_text(shape):
    return "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]"


def _as_array(spec, value):
    dtype = np.dtype(spec["dtype"])
    array = value if isinstance(value, (np.ndarray, jax.Array)) else np.asarray(value)
    if array.dtype != dtype:
        same_kind = np.can_cast(array.dtype, dtype, "same_kind") and not (
            array.dtype.kind == "f" and dtype.kind in "iub")
        if not same_kind:
            raise InputError(f"input {spec['name']!r} must be {dtype.name}; received "
                             f"{array.dtype.name}")
        array = np.asarray(array)
        if array.dtype.kind in "iu" and dtype.kind in "iu" and \
                not np.can_cast(array.dtype, dtype, "safe"):
            _check_range(spec["name"], array, dtype)
        array = array.astype(dtype)
    return array


def _check_range(name, values, dtype):
    """Integers narrowed to the input's type must fit: a cast would wrap them silently."""
    info = np.iinfo(dtype)
    if values.size and (values.min() < info.min or values.max() > info.max):
        raise InputError(f"input {name!r} is {dtype.name} (from {info.min} to {info.max}); "
                         f"received {values.dtype.name} values from {values.min()} to "
                         f"{values.max()}")


class LoadedModel:
    """What `xf.saved_model.load` returns: `.signatures[name](**inputs)`, `.variables`
    (name -> array as loaded) and `.metadata` (the manifest's header: format version,
    versions). Exports that keep the saved object's tree (docs/saved_model.md, `objects`)
    also restore its attributes: Variables, children and xf.functions, callable again."""

    _OWN = frozenset({"path", "metadata", "signatures", "variables"})

    def __init__(self, path, metadata, signatures, variables, objects=None):
        self.path, self.metadata = path, metadata
        self.signatures = signatures
        self.variables = variables
        attributes, methods, restored = objects or ({}, {}, [])
        self._restored_variables = restored
        self._methods = methods
        self._has_objects = objects is not None
        shadowed = []
        for name, value in {**attributes, **methods}.items():
            if name == "__call__" and value is methods.get(name):
                continue  # loaded(...) calls it through self._methods
            # never over LoadedModel's own state (`signatures`, `_methods`, ...): a saved
            # attribute of that name would break calls, so it is left out, with a warning
            if name in self.__dict__ or name in self._OWN or hasattr(type(self), name):
                shadowed.append(name)
            else:
                self.__dict__[name] = value
        if shadowed:
            _log.warning("saved_model.load: %s: the saved object's %s are not restored as "
                         "attributes: LoadedModel uses those names itself", path, shadowed)

    def __repr__(self):
        return f"<LoadedModel {self.path} signatures={sorted(self.signatures)}>"

    def _saved_tree(self):
        """(attributes, functions) that saving this object again keeps, as TF re-saves a
        loaded object: what load restored, without LoadedModel's own state."""
        own = {"_restored_variables", "_methods", "_has_objects"}
        methods = {id(f) for f in self._methods.values()}
        attributes = {k: v for k, v in self.__dict__.items()
                      if k not in self._OWN and k not in own and id(v) not in methods}
        return attributes, dict(self._methods)

    def _saved_signatures(self):
        """The signatures as export.Lowered programs, kept as loaded: their Variables are
        the restored ones (or, for an export without objects, Variables made once per
        array so signatures that shared one still do)."""
        from xlaflow.variables import Variable
        made, out = {}, []
        for name, signature in self.signatures.items():
            variables = signature._shared
            if variables is None:
                variables = [made.setdefault(id(value), Variable(value, trainable=False))
                             for value in signature._values]
            out.append(export.Lowered(name, signature.exported, signature.inputs,
                                      signature.outputs, list(variables)))
        return out

    @property
    def trainable_variables(self):
        """The restored Variables that are trainable (the saved object's, tf.Module's
        order); empty for an export without its objects."""
        return tuple(v for v in self._all_variables() if v.trainable)

    @property
    def non_trainable_variables(self):
        return tuple(v for v in self._all_variables() if not v.trainable)

    def _all_variables(self):
        from xlaflow.saving.restored import walk_variables
        attributes = {k: v for k, v in self.__dict__.items()
                      if k not in self._OWN and not k.startswith("_")}
        found = {id(v): v for v in walk_variables(attributes)}
        for v in self._restored_variables:  # those reachable only from functions
            found.setdefault(id(v), v)
        return list(found.values())

    def __call__(self, *args, **kwargs):
        method = self._methods.get("__call__")
        if method is not None:
            return method(*args, **kwargs)
        why = ("the saved object had no xf.function __call__ (nor was it a Keras model)"
               if self._has_objects else
               "this export was written before exports kept the saved object's functions")
        raise NotImplementedError(
            f"calling the object returned by xf.saved_model.load is not supported here: "
            f"{why}; call loaded.signatures[name](**inputs) with name in "
            f"{sorted(self.signatures)} (it returns a dict of named outputs)")

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        # AttributeError (so hasattr stays False), naming what the export restores
        restored = sorted(k for k in self.__dict__ if k not in self._OWN
                          and not k.startswith("_"))
        raise AttributeError(
            f"LoadedModel has no attribute {name!r}: the saved object restores "
            f"{restored or 'no attributes'}, and signatures "
            f"{sorted(self.__dict__.get('signatures', {}))} "
            "(loaded.signatures[name](**inputs))")


def _read_description(path):
    try:
        with open(os.path.join(path, export.SIGNATURES_FILE), encoding="utf-8") as f:
            description = json.load(f)
        signatures, variables = description["signatures"], description["variables"]
        keys = {v["key"] for v in variables}
        for name, meta in signatures.items():
            for key in ("file", "inputs", "outputs", "variables", "platforms", "method_name"):
                meta[key]  # presence check
            unknown = [k for k in meta["variables"] if k not in keys]
            if unknown:
                raise ValueError(f"signature {name!r} takes variables {unknown} that "
                                 "'variables' does not list")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise atomic.CorruptSaveError(
            f"saved_model.load: {path}/{export.SIGNATURES_FILE} is malformed ({exc!r})") from None
    return signatures, variables, description.get("objects")


def load(export_dir, *, device=None):
    """Load the export at `export_dir` (checked against its manifest) for `device`
    (default: the first device of JAX's default backend)."""
    if os.path.isfile(export_dir) and zipfile.is_zipfile(export_dir):
        raise ValueError(f"saved_model.load: {export_dir} is a Keras .keras zip (model.save("
                         "'m.keras'), not a SavedModel directory: load it with "
                         "keras.models.load_model, or export with model.save('dir') or "
                         "xf.saved_model.save")
    return atomic.read_stable(export_dir, lambda path: _load(path, device),
                              "saved_model.load")


def _load(path, device):
    header = atomic.verify_directory(path, manifest=export.MANIFEST, format_name=export.FORMAT,
                                     max_version=export.FORMAT_VERSION,
                                     what="saved_model.load")
    described, variables, objects_section = _read_description(path)
    wide = [f"variable {w}" for w in _wide(variables)] + [
        w for name, meta in described.items()
        for w in _wide([*meta["inputs"], *meta["outputs"]], f" of signature {name!r}")]
    if wide:
        _require_x64(f"saved_model.load: {path}", wide)
    device = device or jax.devices()[0]
    specs = {v["key"]: (v["shape"], v["dtype"]) for v in variables}
    values = arrays.restore_arrays(os.path.join(path, export.VARIABLES_DIR), specs, device) \
        if specs else {}
    signatures = {}
    platform = export_platform(device)

    def program(file, platforms, what):
        return _program(path, header, file, platforms, platform, what)

    for name, meta in described.items():
        exported = program(meta["file"], meta["platforms"], f"signature {name!r}")
        signatures[name] = Signature(name, meta, exported, [values[k] for k in meta["variables"]])
    by_name = {}
    for v in variables:  # Variable names need not be unique: later ones get a suffix
        name = v["name"] if v["name"] not in by_name else f"{v['name']}_{v['key']}"
        by_name[name] = values[v["key"]]
    objects = _objects(path, objects_section, values, variables, program)
    if objects is not None:  # signatures and restored functions share the Variables
        by_key = objects[2]
        for name, meta in described.items():
            signatures[name].share([by_key[k] for k in meta["variables"]])
        objects = (objects[0], objects[1], list(by_key.values()))
    return LoadedModel(path, header, signatures, by_name, objects)


def _objects(path, section, values, variables, program):
    """The saved object's tree (restored.build), or None for an export without one."""
    if section is None:
        return None
    from xlaflow.saving import restored
    try:
        return restored.build(section, values, variables, program)
    except (KeyError, TypeError, IndexError, RecursionError) as exc:
        raise atomic.CorruptSaveError(f"saved_model.load: {path}/{export.SIGNATURES_FILE}'s "
                                      f"objects section is malformed ({exc!r})") from None
    except atomic.CorruptSaveError:
        raise  # already names the file and what is wrong
    except ValueError as exc:
        raise ValueError(f"saved_model.load: {path}: {exc}") from None


def _program(path, header, file_name, platforms, platform, what):
    """The jax.export program in `file_name`, checked against the manifest and platform."""
    if platform not in platforms:
        raise ValueError(f"saved_model.load: {what} was exported for "
                         f"{platforms}, not for this device's platform "
                         f"{platform!r}; export again with platforms=[{platform!r}] "
                         "(or no platforms: cpu, cuda and tpu)")
    file = os.path.normpath(os.path.join(path, file_name))
    if os.path.relpath(file, path).replace(os.sep, "/") not in header["files"]:
        raise atomic.CorruptSaveError(f"saved_model.load: {what} names "
                                      f"{file_name!r}, which the manifest does not list")
    with open(file, "rb") as f:
        blob = f.read()
    try:
        return jax.export.deserialize(bytearray(blob))
    except Exception as exc:  # noqa: BLE001 - a damaged file can fail in any way
        raise atomic.CorruptSaveError(f"saved_model.load: {file_name} is not a "
                                      f"jax.export artifact ({exc})") from None
