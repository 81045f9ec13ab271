"""The export platform of the device the tests run on. Tests export for it alone (one
lowering, not three), so the same suite runs on a CPU machine and on a GPU one."""

import jax

from xlaflow.saving.loaded import export_platform

HERE = [export_platform(jax.devices()[0])]
# For exports that this process and a server pinned to CPU (tests/serving/harness.py) load.
WITH_CPU = sorted({"cpu", *HERE})
