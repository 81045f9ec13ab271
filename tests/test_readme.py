"""The README's example runs and prints what the README says it prints."""

import pathlib
import re
import subprocess
import sys

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_output_matches_its_comments():
    text = README.read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.DOTALL) if "xf.function" in b)
    out = subprocess.run([sys.executable, "-c", block], check=True, capture_output=True,
                         text=True).stdout.splitlines()
    promised = re.search(r"print\(w.numpy\(\), step.tracing_count\)\s+# (.*)", block).group(1)
    assert out[0] == promised
    assert out[1].startswith("module @jit_step")


def test_readme_opens_with_the_two_commands():
    head = "\n".join(README.read_text().splitlines()[:20])
    assert "make demo" in head and "make test" in head


def test_readme_autograph_snippet_runs(tmp_path):
    text = README.read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.DOTALL)
                 if "first_negative" in b)
    program = ("import jax.numpy as jnp\nimport xlaflow as xf\n" + block +
               "print(int(first_negative(jnp.array([1.0, -2.0, 3.0]))), "
               "int(first_negative(jnp.array([1.0, 2.0]))))\n")
    script = tmp_path / "snippet.py"
    script.write_text(program)  # AutoGraph reads source from a file
    out = subprocess.run([sys.executable, str(script)], check=True, capture_output=True,
                         text=True).stdout
    assert out.split() == ["1", "-1"]
