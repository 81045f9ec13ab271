"""The notebooks in notebooks/ run top to bottom in a real Jupyter kernel (this venv's
Python, through nbclient and ipykernel), and are committed without outputs.

Each runs in its own temporary directory, offline: MNIST's download goes to a proxy port
where nothing listens, so 01_quickstart falls back to the bundled digits (as
tests/test_demo.py does for the demo), and the compilation cache is off.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import socket
import sys
import time

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[1] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
KERNEL = "xlaflow-test-venv"
TIMEOUT = 60  # seconds for the whole notebook (the kernel's start included)
# Code run before the notebook's cells, outside it: which Python the kernel is.
PROBE = "import sys; print('KERNEL-PREFIX=' + sys.prefix)"


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


def kernel_manager_class(tmp_path):
    """A kernel manager whose only kernelspec runs this interpreter (sys.executable), so
    the notebooks run in this venv whatever kernelspecs the user has installed."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    kernels = tmp_path / "kernels"
    (kernels / KERNEL).mkdir(parents=True)
    (kernels / KERNEL / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "xlaflow tests", "language": "python"}))

    class VenvKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _kernel_spec_manager_default(self):
            return KernelSpecManager(kernel_dirs=[str(kernels)], ensure_native_kernel=False)

    return VenvKernelManager


def kernel_env(tmp_path):
    proxy = f"http://127.0.0.1:{closed_port()}"
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("no_proxy", "xla_flags", "pytest_current_test")}
    env.update(XLAFLOW_COMPILATION_CACHE_DIR="off", JAX_PLATFORMS="cpu",
               XLAFLOW_DATASETS_DIR=str(tmp_path / "datasets"),
               https_proxy=proxy, HTTPS_PROXY=proxy, http_proxy=proxy, HTTP_PROXY=proxy,
               MPLBACKEND="module://matplotlib_inline.backend_inline")
    return env


def execute(path, tmp_path):
    """The executed notebook (a probe cell first) and its wall time; raises
    nbclient's CellExecutionError naming the cell on the first error."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    client = nbclient.NotebookClient(
        nb, timeout=TIMEOUT, startup_timeout=TIMEOUT, kernel_name=KERNEL,
        kernel_manager_class=kernel_manager_class(tmp_path), resources={"metadata": {"path": str(workdir)}},
        allow_errors=False, record_timing=True)
    start = time.perf_counter()
    client.execute(env=kernel_env(tmp_path))
    return nb, time.perf_counter() - start


def outputs(nb, output_type=None):
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs
            if output_type is None or o.output_type == output_type]


def text(nb):
    """All text the cells printed or displayed as text/plain."""
    parts = []
    for o in outputs(nb):
        if o.output_type == "stream":
            parts.append(o.text)
        elif "data" in o and "text/plain" in o.data:
            parts.append(o.data["text/plain"])
    return "\n".join(parts)


def test_there_are_notebooks():
    assert [p.name for p in PATHS] == [
        "01_quickstart.ipynb", "02_autograph.ipynb", "03_custom_training_loop.ipynb",
        "04_serving.ipynb", "05_distributed.ipynb"]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs: strip them"
            assert cell.execution_count is None, f"{path.name} cell {i} has a count"


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_runs_in_a_kernel(path, tmp_path):
    nb, seconds = execute(path, tmp_path)
    print(f"{path.name}: {seconds:.1f}s")
    # nbclient raised on any error already; this also catches an error output of a cell
    # that would be allowed to fail.
    errors = outputs(nb, "error")
    assert not errors, errors
    out = text(nb)
    assert f"KERNEL-PREFIX={sys.prefix}" in out, "the kernel did not run this venv's Python"
    assert "Traceback" not in out, out
    check = CHECKS.get(path.stem)
    if check:
        check(nb, out)


def _quickstart(nb, out):
    assert "offline handwritten digits" in out  # the download was refused, as intended
    assert "Test accuracy:" in out and "Total params: 101,770" in out
    assert "the loaded model predicts the same values: True" in out
    # fit(verbose=1): one display per epoch, updated in place, not lines of text
    bars = [o for o in outputs(nb, "display_data") if "[====" in o.data.get("text/plain", "")]
    assert len(bars) == 5, bars
    assert all(re.match(r"(\d+)/\1 \[=+\] ", o.data["text/plain"]) for o in bars), bars
    assert all("val_accuracy:" in o.data["text/plain"] for o in bars)
    assert not any("[====" in o.text for o in outputs(nb, "stream"))
    images = [o for o in outputs(nb) if "data" in o and "image/png" in o.data]
    assert len(images) == 2  # the history and the grid of digits
    # plot_model: the graph, or (no Graphviz on this machine) the message saying so
    graphs = [o for o in outputs(nb) if "data" in o and "image/svg+xml" in o.data]
    assert len(graphs) == 1 or "apt-get install graphviz" in out


def _autograph(nb, out):
    assert "ag__.while_stmt" in out and "stablehlo.while" in out
    assert "RetracingWarning" in out and "argument 'factor'" in out
    assert "tensor factors, traces: 1" in out
    # the tracing errors name the user's cell line (the loop whose carry changed shape),
    # not xlaflow's or JAX's
    assert "'total' is float32[] before this tensor for loop but float32[2]" in out, out
    assert re.search(r"line 7, in running_total\n\s+for v in x:", out), out
    assert "'result' has no value on one path" in out and "line 14, in sign\n        if x > 0:" in out


def _custom_loop(nb, out):
    # an eager tape in a cell (converted when entered): ipykernel's cell source is read back
    assert re.search(r"eager step: loss \d\.\d{3}, gradients for 4 variables, the first "
                     r"\(784, 64\)", out), out
    assert "weights equal the saved ones: True" in out
    assert "restored from 3 at epoch 3" in out and "epoch 5:" in out


def _serving(nb, out):
    assert "served == model.predict: True" in out
    assert "version 2 answers like the retrained model.predict: True" in out
    assert "(clean)" in out


def _distributed(nb, out):
    assert "replicas in sync: 4" in out
    assert out.count("shape (16, 28, 28)") == 4


CHECKS = {"01_quickstart": _quickstart, "02_autograph": _autograph,
          "03_custom_training_loop": _custom_loop, "04_serving": _serving,
          "05_distributed": _distributed}
