"""`make demo`'s script, end to end in fast mode: train, save, serve, query, stop."""

from __future__ import annotations

import os
import pathlib
import re
import socket
import subprocess
import sys

import pytest

DEMO = pathlib.Path(__file__).resolve().parents[1] / "examples" / "demo.py"


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.mark.slow
def test_demo_trains_saves_serves_and_stops(tmp_path):
    # No network: MNIST is not cached in the empty datasets dir, and its download goes to
    # a proxy port where nothing listens, so it fails at once and the demo falls back to
    # the offline digits (also on a machine that is online).
    proxy = f"http://127.0.0.1:{closed_port()}"
    env = {k: v for k, v in os.environ.items() if k.lower() != "no_proxy"}
    env.update(DEMO_FAST="1", XLAFLOW_DATASETS_DIR=str(tmp_path / "datasets"),
               https_proxy=proxy, HTTPS_PROXY=proxy, http_proxy=proxy, HTTP_PROXY=proxy,
               JAX_PLATFORMS="cpu", XLAFLOW_COMPILATION_CACHE_DIR="off")
    run = subprocess.run([sys.executable, str(DEMO)], check=False, cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    assert "offline handwritten digits" in out
    assert (tmp_path / "saved_model" / "mnist" / "1" / "xlaflow_export.json").exists()
    assert re.search(r"version 1 is AVAILABLE", out), out

    # The table: index, label, REST digit, v2 digit, model.predict digit.
    rows = [tuple(map(int, m)) for m in
            re.findall(r"^\s*(\d+)\s+(\d)\s+(\d)\s+(\d)\s+(\d)\s*$", out, re.MULTILINE)]
    assert len(rows) == 10, out
    assert [r[0] for r in rows] == list(range(10))
    assert all(rest == v2 == local for _, _, rest, v2, local in rows), out
    correct = sum(label == rest for _, label, rest, _, _ in rows)
    assert correct >= 5, out  # one epoch on the digits gets ~90%; this only catches junk
    assert f"served predictions: {correct}/10 correct" in out
    assert "server stopped cleanly" in out
