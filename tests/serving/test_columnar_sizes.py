"""Spec 1.5: columnar inputs need not share a leading dimension. A plain signature's
leading None sizes are independent (as TF's TensorSpecs) unless its program combines
them; a Keras model's inputs share one batch."""

import json
import os

import numpy as np
import pytest

import xlaflow as xf
from tests.local_platform import HERE, WITH_CPU
from tests.serving.harness import Server


class TwoInputs(xf.Module):
    @xf.function(input_signature=[xf.TensorSpec([None], xf.int32, name="a"),
                                  xf.TensorSpec([None, 2], xf.float32, name="b")])
    def serve(self, a, b):
        return {"s": a * 2, "p": b * 2.0}

    @xf.function(input_signature=[xf.TensorSpec([None, 3], xf.float32, name="x"),
                                  xf.TensorSpec([None, 3], xf.float32, name="y")])
    def add(self, x, y):
        return {"z": x + y}


def test_independent_leading_sizes_are_kept_and_combined_ones_tied(tmp_path):
    module = TwoInputs()
    xf.saved_model.save(module, tmp_path / "m", platforms=HERE,
                        signatures={"serving_default": module.serve, "add": module.add})
    loaded = xf.saved_model.load(tmp_path / "m")
    independent, added = loaded.signatures["serving_default"], loaded.signatures["add"]
    out = independent(a=np.arange(3, dtype=np.int32), b=np.ones((1, 2), np.float32))
    np.testing.assert_array_equal(out["s"], [0, 2, 4])
    np.testing.assert_array_equal(out["p"], [[2.0, 2.0]])
    assert not independent.shares_batch and added.shares_batch
    with pytest.raises(xf.saved_model.InputError, match="must share the batch size"):
        added(x=np.ones((2, 3), np.float32), y=np.ones((1, 3), np.float32))


def test_a_columnar_request_with_different_leading_sizes_is_answered(tmp_path):
    module = TwoInputs()
    xf.saved_model.save(module, os.path.join(tmp_path, "two", "1"), platforms=WITH_CPU,
                        signatures={"serving_default": module.serve})
    server = Server("--model_name=two", f"--model_base_path={tmp_path / 'two'}",
                    "--enable_batching", cwd=str(tmp_path))
    try:
        server.wait(lambda: server.states("two") == {1: "AVAILABLE"}, "version 1")
        status, body, _ = server.request(
            "POST", "/v1/models/two:predict",
            {"inputs": {"a": [1, 2, 3], "b": [[1.0, 2.0]]}})
        assert status == 200, body
        outputs = json.loads(body)["outputs"]
        assert outputs["s"] == [2, 4, 6] and outputs["p"] == [[2.0, 4.0]]
    finally:
        assert server.stop() == 0, server.read_log()
