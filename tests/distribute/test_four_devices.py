"""MirroredStrategy over 4 forced host devices, in a subprocess (XLA_FLAGS must be set
before JAX starts): fit matches one device within 1e-5 and each device holds a quarter of
the batch."""

import os
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = """
import sys, numpy as np, jax
import xlaflow as xf
from xlaflow.keras import layers, models
assert len(jax.devices()) == 4, jax.devices()
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 8)).astype(np.float32)
y = (x[:, 0] > x[:, 1]).astype(np.int32)

def build():
    xf.random.set_global_seed(2)
    m = models.Sequential([layers.Dense(16, activation="relu", input_shape=(8,)),
                           layers.Dense(2, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return m

with jax.default_device(jax.devices()[0]):
    single = build()
    single.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
strategy = xf.distribute.MirroredStrategy()
with strategy.scope():
    mirrored = build()
mirrored.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
shards = [s.data.shape for s in strategy.distribute_batch(x[:16]).addressable_shards]
np.savez(sys.argv[1], shards=np.array(shards), replicas=strategy.num_replicas_in_sync,
         **{f"s{i}": w for i, w in enumerate(single.get_weights())},
         **{f"m{i}": w for i, w in enumerate(mirrored.get_weights())})
"""


@pytest.mark.slow
def test_mirrored_on_four_forced_host_devices_matches_one(tmp_path):
    (tmp_path / "four.py").write_text(SCRIPT)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu", "XLAFLOW_COMPILATION_CACHE_DIR": "off"}
    done = subprocess.run([sys.executable, str(tmp_path / "four.py"), str(tmp_path / "o.npz")],
                          env=env, check=False, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    out = np.load(tmp_path / "o.npz")
    assert int(out["replicas"]) == 4
    assert out["shards"].tolist() == [[4, 8]] * 4
    for i in range(4):
        np.testing.assert_allclose(out[f"s{i}"], out[f"m{i}"], rtol=1e-5, atol=1e-5)
