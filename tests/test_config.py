"""Configuration flags, the persistent compilation cache, and a light `import xlaflow`."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import pytest

import xlaflow as xf

CACHE_PROBE = textwrap.dedent("""
    import json, jax, jax.numpy as jnp
    import xlaflow as xf
    events = []
    jax.monitoring.register_event_listener(lambda name, **kw: events.append(name))
    w = xf.Variable(jnp.ones((64, 64)))

    @xf.function
    def step(x):
        w.assign(jnp.tanh(x @ w))
        return jnp.sum(w.value)

    step(jnp.ones((64, 64))).block_until_ready()
    print(json.dumps({"dir": xf.config.compilation_cache_dir(),
                      "hits": events.count("/jax/compilation_cache/cache_hits"),
                      "misses": events.count("/jax/compilation_cache/cache_misses")}))
""")


def _probe(env_value, tmp_path):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env.pop("XLAFLOW_COMPILATION_CACHE_DIR", None)
    if env_value is not None:
        env["XLAFLOW_COMPILATION_CACHE_DIR"] = env_value
    out = subprocess.run([sys.executable, "-c", CACHE_PROBE], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_compilation_cache_second_run_hits(tmp_path):
    cache = tmp_path / "cache"
    first = _probe(str(cache), tmp_path)
    assert first["dir"] == str(cache) and first["misses"] > 0 and first["hits"] == 0
    assert any(name.startswith("jit_step") for name in os.listdir(cache))
    second = _probe(str(cache), tmp_path)
    assert second["hits"] > 0 and second["misses"] == 0


def test_compilation_cache_default_dir_and_off_switch(tmp_path):
    default = _probe(None, tmp_path)
    assert default["dir"] == str(tmp_path / "xlaflow" / "jax-compilation")
    off = _probe("off", tmp_path)
    assert off["dir"] is None and off["hits"] == 0


def test_import_does_not_load_optional_heavy_parts():
    code = ("import sys, xlaflow; heavy = ['optax', 'orbax', 'orbax.checkpoint']; "
            "print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert out.strip() == "[]"


def test_flags_update_read_override():
    assert xf.config.read("retrace_warning_threshold") == 5
    with xf.config.override(retrace_warning_threshold=1, run_functions_eagerly=True):
        assert xf.config.read("retrace_warning_threshold") == 1
        assert xf.config.functions_run_eagerly()
    assert xf.config.read("retrace_warning_threshold") == 5
    assert not xf.config.functions_run_eagerly()
    with pytest.raises(KeyError, match="unknown flag 'nope'"):
        xf.config.update("nope", 1)


def test_flags_read_environment():
    code = "import xlaflow as xf; print(xf.config.functions_run_eagerly())"
    env = dict(os.environ, XLAFLOW_RUN_FUNCTIONS_EAGERLY="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True).stdout
    assert out.strip() == "True"
    env["XLAFLOW_RUN_FUNCTIONS_EAGERLY"] = "maybe"
    proc = subprocess.run([sys.executable, "-c", code], env=env, check=False, capture_output=True,
                          text=True)
    assert proc.returncode != 0 and "XLAFLOW_RUN_FUNCTIONS_EAGERLY='maybe'" in proc.stderr


def test_tensor_float_32_switch_sets_the_precision_of_float32_matmuls():
    def precisions():
        concrete = xf.function(lambda a, b: a @ b).get_concrete_function(
            xf.TensorSpec([2, 2], xf.float32), xf.TensorSpec([2, 2], xf.float32))
        return {line.split("precision = ")[1].split("]")[0] + "]"
                for line in concrete.as_text().splitlines() if "dot_general" in line}

    was = xf.config.experimental.tensor_float_32_execution_enabled()
    try:
        xf.config.experimental.enable_tensor_float_32_execution(True)
        assert xf.config.tensor_float_32_execution_enabled()
        assert precisions() == {"[DEFAULT, DEFAULT]"}
        xf.config.experimental.enable_tensor_float_32_execution(False)
        assert not xf.config.tensor_float_32_execution_enabled()
        assert precisions() == {"[HIGHEST, HIGHEST]"}
        for value, enabled in [("F32_F32_F32", False), ("BF16_BF16_F32_X9", False),
                               ("TF32_TF32_F32", True), ("bfloat16", True), ("high", True)]:
            with jax.default_matmul_precision(value):
                assert xf.config.tensor_float_32_execution_enabled() is enabled, value
    finally:
        xf.config.enable_tensor_float_32_execution(was)
