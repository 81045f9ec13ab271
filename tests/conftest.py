"""Strict test defaults: warnings are errors (pyproject), two CPU devices so sharding tests
run on one machine, and no persistent compilation cache unless a test asks for one.

Rank promotion stays allowed: TF code broadcasts `x @ w + b` everywhere and the tests play
the part of ported TF programs."""

import os

os.environ.setdefault("XLAFLOW_COMPILATION_CACHE_DIR", "off")

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 2)

import pytest  # noqa: E402

import xlaflow as xf  # noqa: E402


@pytest.fixture(autouse=True)
def _restore_flags():
    """Each test starts from default flags, whatever the previous one set."""
    saved = {name: xf.config.read(name) for name in xf.config._NAMES}
    yield
    for name, value in saved.items():
        xf.config.update(name, value)
