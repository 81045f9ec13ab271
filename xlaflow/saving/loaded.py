"""xf.saved_model.load: run an export's signatures without the code that made it.

Reads only JSON, jax.export's serialized StableHLO and the orbax arrays, after checking
every file against the manifest; nothing is unpickled and no Python from the directory
runs. The model server loads exports through this module too.
"""

from __future__ import annotations

import json
import os
import zipfile

import jax
import jax.extend.backend
import numpy as np

from xlaflow.saving import arrays, atomic, export

_WIDE_DTYPES = ("int64", "uint64", "float64", "complex128")


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
        return self._call(self._values, list(inputs))

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
    (name -> array) and `.metadata` (the manifest's header: format version, versions)."""

    def __init__(self, path, metadata, signatures, variables):
        self.path, self.metadata = path, metadata
        self.signatures = signatures
        self.variables = variables

    def __repr__(self):
        return f"<LoadedModel {self.path} signatures={sorted(self.signatures)}>"

    def __call__(self, *args, **kwargs):
        # TF restores the object's xf.functions as Python callables; an export keeps only
        # its signatures (named inputs, a dict of named outputs), so say how to call one
        raise NotImplementedError(
            "calling the object returned by xf.saved_model.load is not supported: an "
            "export restores its signatures, not the saved object's methods; call "
            f"loaded.signatures[name](**inputs) with name in {sorted(self.signatures)} "
            "(it returns a dict of named outputs)")

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        # AttributeError (so hasattr stays False), naming the way to reach a saved method
        raise AttributeError(
            f"LoadedModel has no attribute {name!r}: an export restores its signatures, "
            f"not the saved object's methods; call loaded.signatures[name](**inputs) with "
            f"name in {sorted(self.__dict__.get('signatures', {}))}")


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
    return signatures, variables


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
    described, variables = _read_description(path)
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
    for name, meta in described.items():
        if platform not in meta["platforms"]:
            raise ValueError(f"saved_model.load: signature {name!r} was exported for "
                             f"{meta['platforms']}, not for this device's platform "
                             f"{platform!r}; export again with platforms=[{platform!r}] "
                             "(or no platforms: cpu, cuda and tpu)")
        file = os.path.normpath(os.path.join(path, meta["file"]))
        if os.path.relpath(file, path).replace(os.sep, "/") not in header["files"]:
            raise atomic.CorruptSaveError(f"saved_model.load: signature {name!r} names "
                                          f"{meta['file']!r}, which the manifest does not list")
        with open(file, "rb") as f:
            blob = f.read()
        try:
            exported = jax.export.deserialize(bytearray(blob))
        except Exception as exc:  # noqa: BLE001 - a damaged file can fail in any way
            raise atomic.CorruptSaveError(f"saved_model.load: {meta['file']} is not a "
                                          f"jax.export artifact ({exc})") from None
        signatures[name] = Signature(name, meta, exported, [values[k] for k in meta["variables"]])
    by_name = {}
    for v in variables:  # Variable names need not be unique: later ones get a suffix
        name = v["name"] if v["name"] not in by_name else f"{v['name']}_{v['key']}"
        by_name[name] = values[v["key"]]
    return LoadedModel(path, header, signatures, by_name)
