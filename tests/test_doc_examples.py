"""Every ```python block of README.md and docs/*.md runs (blocks of one file in order, as
one script, offline) and prints what a `# → text` comment after a print() promises."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

from tests.serving.harness import Server

ROOT = pathlib.Path(__file__).resolve().parents[1]
# serving.md and distribution.md have their own tests (tests/test_docs.py, tests/distribute/).
FILES = [ROOT / "README.md", ROOT / "docs" / "autograph.md", ROOT / "docs" / "saved_model.md",
         ROOT / "docs" / "functional.md"]
PYTHON = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
PROMISE = re.compile(r"^\s*print\(.*\)\s+# → (.+)$", re.MULTILINE)  # "# → 111": output

# The README's TF2 program downloads MNIST; offline, the bundled digits stand in for it.
OFFLINE_MNIST = (
    "import xlaflow.keras.datasets as _d\n"
    "_d.mnist.load_data = lambda *a, **k: _d.digits.load_data()\n")


def _run_blocks(path, workdir):
    """Run `path`'s Python blocks as one script in `workdir`: (the code, the finished
    process)."""
    code = "\n".join(PYTHON.findall(path.read_text()))
    script = workdir / "doc_example.py"  # a file: AutoGraph reads the source
    script.write_text(OFFLINE_MNIST + code)
    env = {**os.environ, "XLAFLOW_COMPILATION_CACHE_DIR": "off", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, str(script)], cwd=workdir, env=env,
                          check=False, capture_output=True, text=True, timeout=240)
    return code, done


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory):
    """The README's Python blocks, run once for both README tests: their output for the
    promises, the models/ they save for the shell block (one run of the program, which
    trains and saves a model, instead of two)."""
    workdir = tmp_path_factory.mktemp("readme")
    return (workdir, *_run_blocks(FILES[0], workdir))


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in FILES if PYTHON.search(p.read_text())],
                         ids=lambda p: p.name)
def test_python_blocks_run_and_print_what_they_promise(path, tmp_path, request):
    if path == FILES[0]:
        _, code, done = request.getfixturevalue("readme_run")
    else:
        code, done = _run_blocks(path, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = iter(done.stdout.splitlines())
    for promise in PROMISE.findall(code):
        assert any(line.strip() == promise.strip() for line in lines), (promise, done.stdout)


@pytest.mark.slow
def test_readme_shell_block_runs(readme_run):
    """The README's save/show/serve/curl block, after its Python blocks made models/."""
    tmp_path, _, program = readme_run
    assert program.returncode == 0, program.stderr[-3000:]
    readme = FILES[0].read_text()
    env = {**os.environ, "XLAFLOW_COMPILATION_CACHE_DIR": "off", "JAX_PLATFORMS": "cpu"}
    shell = re.search(r"^```sh\n(xlaflow saved_model show.*?)^```", readme,
                      re.DOTALL | re.MULTILINE).group(1)
    lines = [line for line in re.sub(r"\\\n\s*", " ", shell).splitlines() if line.strip()]
    show = lines[0].split()
    done = subprocess.run([sys.executable, "-m", "xlaflow.cli", *show[1:]], cwd=tmp_path,
                          env=env, check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "dtype: DT_FLOAT" in done.stdout, done.stderr
    serve = lines[1].rstrip("&").replace("$PWD", str(tmp_path)).split()[2:]
    server = Server(*[f for f in serve if not f.startswith("--rest_api_port")],
                    cwd=str(tmp_path))
    try:
        server.wait(lambda: server.states("mnist").get(1) == "AVAILABLE", "the model")
        for line in lines[2:]:
            line = line.split("   #")[0].replace("localhost:8501", f"127.0.0.1:{server.port}")
            path = f"{os.path.dirname(sys.executable)}{os.pathsep}{env.get('PATH', '')}"
            done = subprocess.run(line, shell=True, cwd=tmp_path, env={**env, "PATH": path},
                                  timeout=60,
                                  check=False, capture_output=True, text=True)
            assert done.returncode == 0 and '"error"' not in done.stdout, (line, done.stdout)
            assert "model_version_status" in done.stdout or "predictions" in done.stdout
    finally:
        server.stop()
