"""docs/distribution.md's Python blocks run, in order, in one namespace, on the two forced
host CPU devices; blocks that need a cluster (first line: '# (runs on every process of a
cluster)') are left to tests/distribute/test_multihost.py."""

import pathlib
import re

import numpy as np

import xlaflow as xf

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "distribution.md"
FENCE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
CLUSTER = "# (runs on every process of a cluster)"


def test_the_python_blocks_run(tmp_path):
    blocks = FENCE.findall(DOC.read_text())
    runnable = [b for b in blocks if not b.startswith(CLUSTER)]
    assert len(runnable) >= 5 and len(blocks) - len(runnable) == 2
    namespace = {"__name__": "docs_distribution"}
    try:
        for index, block in enumerate(runnable):
            # from a file, so that AutoGraph can read the source of the functions it converts
            path = tmp_path / f"distribution_block_{index}.py"
            path.write_text(block)
            exec(compile(block, str(path), "exec"), namespace)  # noqa: S102 - the docs' code
    finally:
        xf.keras.mixed_precision.set_global_policy("float32")
    assert namespace["mp_model"].layers[0].kernel.value.sharding.spec == \
        namespace["jax"].sharding.PartitionSpec(None, "model")
    per_replica = namespace["strategy"].experimental_local_results(namespace["loss"])
    assert np.isclose(float(namespace["total"]), sum(float(v) for v in per_replica))
    assert np.isfinite(namespace["bf16_model"].evaluate(
        namespace["x"], namespace["y"], batch_size=64, verbose=0))
