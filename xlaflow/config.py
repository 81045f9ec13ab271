"""Global switches, each readable from an environment variable and settable at run time.

| flag                       | environment variable                  | default |
|----------------------------|---------------------------------------|---------|
| run_functions_eagerly      | XLAFLOW_RUN_FUNCTIONS_EAGERLY         | False   |
| autograph                  | XLAFLOW_AUTOGRAPH                     | True    |
| traceback_filtering        | XLAFLOW_TRACEBACK_FILTERING           | True    |
| retrace_warning_threshold  | XLAFLOW_RETRACE_WARNING_THRESHOLD     | 5       |
| device_prefetch            | XLAFLOW_DEVICE_PREFETCH               | auto (on for GPU/TPU) |
| fit_arrays_on_device       | XLAFLOW_FIT_ARRAYS_ON_DEVICE          | auto (GPU/TPU, in budget) |
| compilation_cache_dir      | XLAFLOW_COMPILATION_CACHE_DIR         | ~/.cache/xlaflow/jax-compilation |
"""

from __future__ import annotations

import contextlib
import os
import types

import jax

from xlaflow import _lifting

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _env_bool(name, default):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ValueError(f"environment variable {name}={raw!r}: expected one of "
                     f"{sorted(_TRUE | _FALSE)}")


class _Flags:
    """Plain attributes, so the xf.function call path reads a flag in one lookup."""

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        if name == "run_functions_eagerly":  # closes xf.function's fast path (_lifting)
            _lifting.set_eager(value)

    def __init__(self):
        self.run_functions_eagerly = _env_bool("XLAFLOW_RUN_FUNCTIONS_EAGERLY", False)
        self.autograph = _env_bool("XLAFLOW_AUTOGRAPH", True)
        self.traceback_filtering = _env_bool("XLAFLOW_TRACEBACK_FILTERING", True)
        self.retrace_warning_threshold = int(
            os.environ.get("XLAFLOW_RETRACE_WARNING_THRESHOLD", "5"))
        # 'auto': a background thread puts dataset batches on the device ahead of the step
        # on GPU/TPU; on CPU (nothing to copy, cores shared with the step) it costs more
        # than it hides. 'on' / 'off' force it.
        self.device_prefetch = os.environ.get("XLAFLOW_DEVICE_PREFETCH", "auto")
        # 'auto': fit/evaluate put in-memory arrays on GPU/TPU once and gather each batch
        # inside the compiled step (no copy per step), when they fit a memory budget; on
        # CPU the per-step copy is cheap and the arrays would be held twice. 'on' forces
        # it (any backend, any size), 'off' never (training/device_arrays.py).
        self.fit_arrays_on_device = os.environ.get("XLAFLOW_FIT_ARRAYS_ON_DEVICE", "auto")


flags = _Flags()
_NAMES = tuple(vars(flags))
_MODES = ("auto", "on", "off")
_MODE_FLAGS = ("device_prefetch", "fit_arrays_on_device")


def update(name, value):
    """Set a flag by name (see the module table)."""
    if name not in _NAMES:
        raise KeyError(f"xf.config.update: unknown flag {name!r}; known flags: {_NAMES}")
    current = getattr(flags, name)
    if name in _MODE_FLAGS:  # checked before the flag changes: a bad value fails here
        _checked_mode(name, value)
    setattr(flags, name, type(current)(value))


def read(name):
    """The current value of a flag."""
    if name not in _NAMES:
        raise KeyError(f"xf.config.read: unknown flag {name!r}; known flags: {_NAMES}")
    return getattr(flags, name)


@contextlib.contextmanager
def override(**values):
    """Temporarily set flags: `with xf.config.override(run_functions_eagerly=True): ...`."""
    old = {name: read(name) for name in values}
    try:
        for name, value in values.items():
            update(name, value)
        yield
    finally:
        for name, value in old.items():
            update(name, value)


def device_prefetch_enabled():
    """Whether fit prefetches dataset batches to the device (the device_prefetch flag)."""
    mode = _mode("device_prefetch")
    return mode == "on" or (mode == "auto" and jax.default_backend() != "cpu")


def _mode(name):
    """An 'auto'/'on'/'off' flag's value, checked: a typo must not silently mean 'off'."""
    return _checked_mode(name, getattr(flags, name),
                         f" (set by xf.config.update or XLAFLOW_{name.upper()})")


def _checked_mode(name, raw, source=""):
    mode = raw.strip().lower() if isinstance(raw, str) else None
    if mode not in _MODES:
        raise ValueError(f"{name} must be one of {list(_MODES)}; received {raw!r}{source}")
    return mode


def fit_arrays_on_device_mode():
    """'auto', 'on' or 'off': the fit_arrays_on_device flag (see training/device_arrays)."""
    return _mode("fit_arrays_on_device")


def run_functions_eagerly(run_eagerly):
    """Run every xf.function as plain Python (for debugging with print and pdb); False
    restores compilation."""
    flags.run_functions_eagerly = bool(run_eagerly)


def functions_run_eagerly():
    """Whether xf.functions currently run eagerly."""
    return flags.run_functions_eagerly


# -- persistent compilation cache -------------------------------------------------------

def _default_cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "xlaflow", "jax-compilation")


def enable_compilation_cache(path=None, min_compile_time_secs=0.0):
    """Keep compiled XLA programs on disk so the next run of a script skips compilation.

    xlaflow calls this at import with the directory from XLAFLOW_COMPILATION_CACHE_DIR (or
    ~/.cache/xlaflow/jax-compilation); set that variable to "off" to disable it. Programs that
    compile faster than `min_compile_time_secs` are not stored.
    """
    path = _default_cache_dir() if path is None else os.fspath(path)
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_secs))
    return path


def compilation_cache_dir():
    """The directory of the persistent compilation cache, or None when it is off."""
    return jax.config.jax_compilation_cache_dir


def _init_compilation_cache():
    if jax.config.jax_compilation_cache_dir is not None:
        return  # the user configured JAX directly (JAX_COMPILATION_CACHE_DIR): respect it
    raw = os.environ.get("XLAFLOW_COMPILATION_CACHE_DIR", "").strip()
    if raw.lower() in _FALSE | {"none"}:
        return
    try:
        enable_compilation_cache(raw or None)
    except OSError:
        # An unwritable home directory must not make `import xlaflow` fail.
        return


# -- TensorFloat-32 -----------------------------------------------------------------------

def enable_tensor_float_32_execution(enabled):
    """TF's switch. True (the default, as in TF) lets GPUs and TPUs run float32 matmuls and
    convolutions at reduced internal precision (TensorFloat-32, bf16 passes), about 1e-3
    relative; False asks XLA for full float32 everywhere. CPUs compute float32 either way."""
    jax.config.update("jax_default_matmul_precision", None if enabled else "highest")


# jax_default_matmul_precision values that compute float32 in full (or emulate it: the
# X3/X6/X9 algorithms split each operand into several lower-precision passes).
_FULL_FLOAT32 = {"highest", "float32", "F32_F32_F32", "F64_F64_F64", "TF32_TF32_F32_X3",
                 "BF16_BF16_F32_X6", "BF16_BF16_F32_X9"}


def tensor_float_32_execution_enabled():
    """Whether float32 matmuls may run at reduced precision on GPU/TPU (see above)."""
    return jax.config.jax_default_matmul_precision not in _FULL_FLOAT32


def list_physical_devices(device_type=None):
    """TF's device listing: `PhysicalDevice(name, device_type, device)` per device."""
    from xlaflow.distribute.placement import list_physical_devices as listing
    return listing(device_type)


list_logical_devices = list_physical_devices  # JAX has no logical/physical split

# TF keeps these under tf.config.experimental; the same names work here.
experimental = types.SimpleNamespace(
    enable_tensor_float_32_execution=enable_tensor_float_32_execution,
    tensor_float_32_execution_enabled=tensor_float_32_execution_enabled,
    list_physical_devices=list_physical_devices,
    list_logical_devices=list_logical_devices)
