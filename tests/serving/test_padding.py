"""Unbatched calls pad their rows to powers of two (padding.py): the answers are the rows
sent, the programs compiled stay few, and signatures whose outputs do not keep the batch
rows run as sent."""

import asyncio
import contextlib
import json
import math

import numpy as np
import pytest

import xlaflow as xf
from tests.local_platform import WITH_CPU
from tests.serving.asgi import asgi_call
from tests.serving.harness import expected, export
from xlaflow.serving import padding
from xlaflow.serving.app import App
from xlaflow.serving.loader import load_servable
from xlaflow.serving.server import parser
from xlaflow.serving.workers import Workers


class Total(xf.Module):
    """Sums the rows it is given: its output has no batch dimension."""

    @xf.function(input_signature=[xf.TensorSpec([None, 3], xf.float32, name="x")])
    def serve(self, x):
        return {"total": xf.reduce_sum(x, axis=0)}


def _serve(servable, rows_list, limit):
    """Predict each of `rows_list` through an App padding up to `limit`; the answers."""
    manager = type("OneModel", (), {
        "acquire": lambda self, *a: contextlib.nullcontext(servable),
        "models": lambda self: ["m"]})()
    workers = Workers(2)
    app = App(manager, executor=workers, padding_limit=limit)

    async def predict(rows):
        status, _, body = await asgi_call(app, "POST", "/v1/models/m:predict",
                                          json.dumps({"instances": rows}).encode())
        assert status == 200, body
        return json.loads(body)["predictions"]

    async def main():
        return [await predict(rows) for rows in rows_list]

    try:
        return asyncio.run(main())
    finally:
        workers.close()


@pytest.mark.parametrize("limit, programs", [(8, 4), (None, 11)])
def test_each_size_answers_its_rows_and_compiles_few_programs(tmp_path, limit, programs):
    export(str(tmp_path), 1)
    servable = load_servable("m", 1, str(tmp_path / "1"))  # warm-up compiles 1 row
    signature = servable.signatures["serving_default"]
    rng = np.random.default_rng(0)
    rows_list = [rng.normal(size=(n, 3)).astype(np.float32).tolist() for n in range(1, 12)]
    for rows, got in zip(rows_list, _serve(servable, rows_list, limit)):
        np.testing.assert_allclose(got, expected(rows, 1), rtol=1e-6)
    # padded: 1, 2, 4, 8 rows (9-11 run as 8 plus 1-3); as sent: one per size, 1..11
    assert signature.compiled_programs() == programs


def test_a_signature_whose_output_drops_the_batch_runs_as_sent(tmp_path):
    path = str(tmp_path / "1")
    xf.saved_model.save(Total(), path, platforms=WITH_CPU)
    servable = load_servable("m", 1, path)
    assert not padding.paddable(servable.signatures["serving_default"])
    rows = [[1.0, 2.0, 3.0], [10.0, 20.0, 30.0], [100.0, 200.0, 300.0]]
    (got,) = _serve(servable, [rows], 8)
    # padded with a copy of the first row, the sum would be off by [1, 2, 3]
    np.testing.assert_allclose(got, np.sum(rows, axis=0), rtol=1e-6)


def test_padded_sizes_are_the_next_power_of_two_capped_at_the_limit():
    for limit in (1, 5, 8, 1024):
        for n in range(1, limit + 1):
            assert padding.padded_size(n, limit) == min(2 ** math.ceil(math.log2(n)), limit)


def test_the_flag_defaults_to_1024_and_refuses_negative_limits(capsys):
    assert parser().parse_args([]).unbatched_max_padded_batch_size == 1024
    assert parser().parse_args(
        ["--unbatched_max_padded_batch_size=0"]).unbatched_max_padded_batch_size == 0
    with pytest.raises(SystemExit):
        parser().parse_args(["--unbatched_max_padded_batch_size=-2"])
    err = capsys.readouterr().err
    assert "--unbatched_max_padded_batch_size" in err and "received '-2'" in err, err
