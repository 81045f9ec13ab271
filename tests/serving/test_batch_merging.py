"""Server-side batching on a real server process: concurrent multi-row requests merge up to
max_batch_size, pad to an allowed size and split back, seen through /metrics' histograms.

A long batch timeout makes the batches deterministic: one closes only when it is full or
when its oldest request has waited the whole timeout.
"""

import threading

import numpy as np
import pytest

from tests.serving.harness import expected, toy_server

pytestmark = pytest.mark.slow

TF = ":tensorflow:serving:batching_session:"


def _series(server, name):
    """The sum of every sample of `name` (all label sets) on the metrics endpoint."""
    status, data = server.get("/metrics")
    assert status == 200
    return sum(float(line.rsplit(" ", 1)[1]) for line in data.decode().splitlines()
               if line.startswith((name + "{", name + " ")))


def _concurrent(server, requests):
    """POST every row list in `requests` at once; each answer as (status, rows)."""
    answers = [None] * len(requests)

    def client(i):
        status, body = server.json("POST", "/v1/models/toy:predict",
                                   {"instances": requests[i]})
        answers[i] = (status, body.get("predictions", body))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def _rows(first, count):
    """`count` distinct rows, numbered from `first`: each request's answer is its own."""
    return [[float(first + r), -float(first + r), 0.5] for r in range(count)]


def test_multi_row_requests_merge_pad_and_split(tmp_path):
    server = toy_server(tmp_path, batching=(
        "max_batch_size { value: 16 }\nbatch_timeout_micros { value: 2000000 }\n"
        "allowed_batch_sizes: 8\nallowed_batch_sizes: 16\n"))
    try:
        compiled = _series(server, ":xlaflow:serving:compiled_programs")

        # four requests of four rows fill max_batch_size exactly: one run of 16, no padding
        full = [_rows(10 * i, 4) for i in range(4)]
        for (status, rows), sent in zip(_concurrent(server, full), full):
            assert status == 200, rows
            np.testing.assert_array_equal(np.float32(rows), expected(sent, 1))
        assert _series(server, TF + "wrapped_run_count") == 1
        assert _series(server, TF + "processed_batch_size_sum") == 16
        assert _series(server, TF + "padding_size_sum") == 0

        # three of three rows wait out the timeout: one run of 9 rows padded to 16
        partial = [_rows(100 + 10 * i, 3) for i in range(3)]
        for (status, rows), sent in zip(_concurrent(server, partial), partial):
            assert status == 200, rows
            np.testing.assert_array_equal(np.float32(rows), expected(sent, 1))
        assert _series(server, TF + "wrapped_run_count") == 2
        assert _series(server, TF + "processed_batch_size_count") == 2
        assert _series(server, TF + "processed_batch_size_sum") == 16 + 16
        assert _series(server, TF + "padding_size_sum") == 7
        assert _series(server, TF + "input_batch_size_count") == 4 + 3
        assert _series(server, TF + "input_batch_size_sum") == 16 + 9
        # both batch sizes were compiled at warm-up: none under load
        assert _series(server, ":xlaflow:serving:compiled_programs") == compiled
    finally:
        assert server.stop() == 0, server.read_log()
