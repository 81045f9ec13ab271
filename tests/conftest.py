"""Strict test defaults: warnings are errors (pyproject), two CPU devices so sharding tests
run on one machine, and a compilation cache of this run's own (below).

Float32 matmuls run in full float32 on GPU/TPU too: the tests compare against NumPy at
float32 tolerances, and TensorFloat-32 (a GPU's default, as in TF) is off by ~1e-3.

Rank promotion stays allowed: TF code broadcasts `x @ w + b` everywhere and the tests play
the part of ported TF programs.

One persistent compilation cache per test run, in a fresh temporary directory that the
xdist workers (started after this file is read, with this environment) and the
subprocesses tests start share, removed at the end: XLA compiles most of the suite's time,
and the tests build the same models again and again (a TF tutorial's make_model() per
section), each a new jax.jit whose program XLA would compile again. A hit returns the
executable of the same HLO, so what runs is unchanged; nothing is read from an earlier
run. XLAFLOW_COMPILATION_CACHE_DIR=off (or a path) in the environment overrides it.

XLA:CPU generates the suite's programs with its LLVM IR emitters rather than its newer MLIR
fusion emitters (--xla_cpu_use_fusion_emitters=false), here and in the subprocesses tests
start: they compile the same programs in about 40% less time (the suite's wall time fell
from 15.5 to 12.7 minutes) and produce the same results at the tests' tolerances, bit for
bit where a test compares bits. LLVM then optimizes less: no loop unrolling or
vectorization (--xla_llvm_disable_expensive_passes) and its O1 pipeline
(--xla_backend_optimization_level=1, XLA's default 2), each 10% or more less CPU on
compile-bound tests in interleaved pairs. Without fast math LLVM reorders no float
arithmetic at any level (where it fuses a multiply and an add into an FMA may differ, well
within float32 tolerances; the whole suite passes both ways), and the tests' arrays are too
small for vector code to pay.
XLAFLOW_TEST_XLA_EMITTERS=fusion (or any value) keeps XLA's defaults for all three."""

import os
import shutil
import subprocess
import sys
import tempfile

_OWN_CACHE = None
if "XLAFLOW_COMPILATION_CACHE_DIR" not in os.environ:
    _OWN_CACHE = tempfile.mkdtemp(prefix="xlaflow-test-compilations-")
    os.environ["XLAFLOW_COMPILATION_CACHE_DIR"] = _OWN_CACHE

# the compile-time flags above, in the order they are tried
_FAST_COMPILE = ("--xla_cpu_use_fusion_emitters=false", "--xla_llvm_disable_expensive_passes=true",
                 "--xla_backend_optimization_level=1")


def _xla_accepts(flag):
    """Whether this jaxlib knows `flag`: XLA aborts the process on an unknown one."""
    probe = "import jax; jax.devices()"
    env = {**os.environ, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {flag}"}
    return subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, check=False,
                          timeout=120).returncode == 0


# Decided once, by the process that starts the run; its workers and subprocesses inherit it.
if "XLAFLOW_TEST_XLA_EMITTERS" not in os.environ:
    _flags = " ".join(_FAST_COMPILE)
    if not _xla_accepts(_flags):  # (one probe when this jaxlib knows all three, as it should)
        _flags = " ".join(flag for flag in _FAST_COMPILE if _xla_accepts(flag))
    os.environ["XLAFLOW_TEST_XLA_EMITTERS"] = "ir" if _FAST_COMPILE[0] in _flags else \
        "fusion (this jaxlib has no --xla_cpu_use_fusion_emitters)"
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_flags}".strip()

import jax

jax.config.update("jax_num_cpu_devices", 2)

import pytest

import xlaflow as xf
from xlaflow import backend_config, mixed_precision

xf.config.experimental.enable_tensor_float_32_execution(False)


def pytest_report_header(config):
    return (f"XLA:CPU emitters: {os.environ['XLAFLOW_TEST_XLA_EMITTERS']}; "
            f"XLA_FLAGS: {os.environ.get('XLA_FLAGS', '')!r}")


def pytest_unconfigure(config):
    if _OWN_CACHE is not None:  # the process that made it: the xdist controller, or -n 0
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    if len(jax.devices()) >= 2:
        return
    skip = pytest.mark.skip(reason=f"needs two {jax.default_backend()} devices; this "
                                   f"machine has {len(jax.devices())}")
    for item in items:
        if "two_devices" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _restore_flags():
    """Each test starts from default flags and Keras settings (floatx, epsilon, the global
    dtype policy: None, which follows floatx; the image data format), whatever the
    previous one set."""
    saved = {name: xf.config.read(name) for name in xf.config._NAMES}
    settings = (backend_config._floatx, backend_config._epsilon, mixed_precision._global,
                backend_config._image_data_format)
    yield
    for name, value in saved.items():
        xf.config.update(name, value)
    # the raw values: set_global_policy("float32") would leave an explicit policy that
    # outranks floatx, which set_floatx in a later test would then not change
    (backend_config._floatx, backend_config._epsilon, mixed_precision._global,
     backend_config._image_data_format) = settings


@pytest.fixture
def port_seed():
    """Seed xlaflow's, NumPy's and Python's streams (fit shuffles with NumPy's) so a whole
    TF2 program does not depend on the tests before it; XF_PORT_SEED chooses the seed."""
    xf.keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


@pytest.fixture
def host_batches():
    """`fit` feeds its batches from the host, the path whose `trainer._compiled_train_step`
    a test inspects: on a GPU/TPU, 'auto' gathers in-memory arrays' batches on the device
    instead, in programs of its own (training/device_arrays.py)."""
    with xf.config.override(fit_arrays_on_device="off"):
        yield
