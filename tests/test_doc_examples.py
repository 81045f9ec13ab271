"""Every ```python block of README.md and docs/*.md runs (blocks of one file in order, as
one script, offline) and prints what a `# → text` comment after a print() promises."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# serving.md and distribution.md have their own tests (tests/test_docs.py, tests/distribute/).
FILES = [ROOT / "README.md", ROOT / "docs" / "autograph.md", ROOT / "docs" / "saved_model.md"]
PYTHON = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
PROMISE = re.compile(r"^\s*print\(.*\)\s+# → (.+)$", re.MULTILINE)  # "# → 111": output

# The README's TF2 program downloads MNIST; offline, the bundled digits stand in for it.
OFFLINE_MNIST = (
    "import xlaflow.keras.datasets as _d\n"
    "_d.mnist.load_data = lambda *a, **k: _d.digits.load_data()\n")


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in FILES if PYTHON.search(p.read_text())],
                         ids=lambda p: p.name)
def test_python_blocks_run_and_print_what_they_promise(path, tmp_path):
    code = "\n".join(PYTHON.findall(path.read_text()))
    script = tmp_path / "doc_example.py"  # a file: AutoGraph reads the source
    script.write_text(OFFLINE_MNIST + code)
    env = {**os.environ, "XLAFLOW_COMPILATION_CACHE_DIR": "off", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = iter(done.stdout.splitlines())
    for promise in PROMISE.findall(code):
        assert any(line.strip() == promise.strip() for line in lines), (promise, done.stdout)
