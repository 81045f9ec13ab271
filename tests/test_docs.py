"""The docs' examples, executed so they cannot rot.

docs/serving.md: every config block parses with xlaflow.serving.config; its Python export
and its `xlaflow serve` command start a real server (as tests/serving/harness.py does);
every `curl` is sent to it (same method, path and body) and its answer compared with the
block that follows it; the flag and metric tables match the parser and the registry.
docs/saved_model.md: every ```python block runs.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

from tests.serving.harness import Server
from xlaflow.serving import config as config_lib
from xlaflow.serving import server as server_lib

pytestmark = pytest.mark.slow

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"
SERVING = DOCS / "serving.md"
DOC_HOST = "localhost:8501"


FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n?", re.DOTALL | re.MULTILINE)


def blocks(path):
    """[(language, text)] of the fenced code blocks, in order."""
    return [m.groups() for m in FENCE.finditer(path.read_text())]


def answered(path):
    """[(language, text, answer)]: `answer` is the (language, text) of the block right
    after this one (nothing but blank lines between), or None."""
    found = list(FENCE.finditer(path.read_text()))
    return [(m.group(1), m.group(2), nxt.groups() if nxt and not m.string[
        m.end():nxt.start()].strip() else None)
        for m, nxt in zip(found, [*found[1:], None])]


def commands(text):
    """The shell commands of a block, backslash continuations joined."""
    return [c.strip() for c in re.sub(r"\\\n", " ", text).splitlines() if c.strip()]


def config_class(text):
    first = re.search(r"^\s*(\w+)", re.sub(r"#[^\n]*", "", text), re.MULTILINE).group(1)
    return {"model_config_list": config_lib.ModelServerConfig,
            "prometheus_config": config_lib.MonitoringConfig}.get(
        first, config_lib.BatchingParameters)


def test_config_blocks_parse():
    parsed = {}
    for lang, text in blocks(SERVING):
        if lang == "textproto":
            cls = config_class(text)
            parsed.setdefault(cls.__name__, []).append(cls.from_text(text, "docs"))
    assert sorted(parsed) == ["BatchingParameters", "ModelServerConfig", "MonitoringConfig"]
    (models,) = parsed["ModelServerConfig"]
    assert [(m.name, m.version_policy) for m in models.models] == [
        ("half_plus_two", ("latest", 2)), ("mnist", ("specific", (3, 4))),
        ("archive", ("all", None))]
    assert models.model("mnist").version_labels == {"stable": 3, "canary": 4}
    (batching,) = parsed["BatchingParameters"]
    assert (batching.max_batch_size, batching.padded_size(3), batching.padded_size(33)) == \
        (128, 8, 128)
    assert all(m.enable and m.path == config_lib.DEFAULT_METRICS_PATH
               for m in parsed["MonitoringConfig"])


def test_flag_table_matches_the_parser():
    documented = dict(re.findall(r"^\| `(--\w+)` \| ([^|]*) \|", SERVING.read_text(), re.MULTILINE))
    actions = {a.option_strings[0]: a for a in server_lib.parser()._actions
               if a.option_strings and a.option_strings[0] != "-h"}
    assert sorted(documented) == sorted(actions)
    for flag, cell in documented.items():
        default = actions[flag].default
        if cell.strip() == "none":
            assert default is None, flag
        elif cell.startswith("`"):  # e.g. `8501` (256 MiB): compare the value in backticks
            text = str(default).lower() if isinstance(default, bool) else str(default)
            assert cell.split("`")[1] in (text, text.removesuffix(".0")), flag


def test_saved_model_doc_python_blocks_run(tmp_path):
    for _, code in [b for b in blocks(DOCS / "saved_model.md") if b[0] == "python"]:
        subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, timeout=60)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The quick start, followed: config files written, the Python export run, then the
    first `xlaflow serve` command of the page (on a free port instead of 8501)."""
    work = tmp_path_factory.mktemp("docs")
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLAFLOW_COMPILATION_CACHE_DIR": "off"}
    for lang, text in blocks(SERVING):
        name = re.match(r"# ([\w.]+)\n", text)
        if lang == "textproto" and name:
            (work / name.group(1)).write_text(text)
        if lang == "python":
            subprocess.run([sys.executable, "-c", text], cwd=work, env=env, check=True,
                           timeout=120)
    serve = next(c for lang, text in blocks(SERVING) if lang == "sh"
                 for c in commands(text) if c.startswith("xlaflow serve"))
    flags = [a.replace("$PWD", str(work)) for a in shlex.split(serve)[2:]
             if not a.startswith("--rest_api_port=")]
    server = Server(*flags, cwd=str(work))
    server.wait(lambda: server.states("half_plus_two").get(1) == "AVAILABLE", "version 1")
    yield server
    assert server.stop() == 0, server.read_log()


def parse_curl(command):
    """(method, path, body, grep pattern or None) of a documented curl command."""
    tokens = shlex.split(command)
    grep = None
    if "|" in tokens:
        at = tokens.index("|")
        assert tokens[at + 1] == "grep", command
        grep, tokens = tokens[at + 2], tokens[:at]
    method = body = url = None
    args = iter(tokens[1:])
    for token in args:
        if token in ("-d", "--data"):
            body = next(args)
        elif token in ("-X", "--request"):
            method = next(args)
        elif token in ("-w", "-o", "-H"):
            next(args)
        elif not token.startswith("-"):
            url = token
    assert url.startswith(DOC_HOST + "/"), command
    return method or ("POST" if body is not None else "GET"), url[len(DOC_HOST):], body, grep


def matches(expected, actual):
    """Equality, where the string "…" in `expected` stands for any value."""
    if expected == "…":
        return True
    if isinstance(expected, dict):
        return isinstance(actual, dict) and expected.keys() == actual.keys() and all(
            matches(expected[k], actual[k]) for k in expected)
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(
            map(matches, expected, actual))
    return expected == actual


def test_curl_examples(served):
    sent = 0
    for lang, text, following in answered(SERVING):
        if lang != "sh":
            continue
        curls = [c for c in commands(text) if c.startswith("curl ")]
        answer_lang, answer = following or ("", "")
        for n, command in enumerate(curls):
            method, path, body, grep = parse_curl(command)
            status, data, _ = served.request(method, path, body)
            sent += 1
            last = n == len(curls) - 1
            if last and answer_lang == "json":
                want = json.loads(answer)
                # a documented error is a client error (4xx); anything else succeeds
                assert 400 <= status < 500 if "error" in want else status == 200, \
                    (command, status, data)
                assert matches(want, json.loads(data)), (command, data)
            else:
                assert status == 200, (command, status, data)
            if last and answer_lang == "text" and grep:
                lines = [line for line in data.decode().splitlines() if re.search(grep, line)]
                assert lines == answer.strip().splitlines(), (command, lines)
    assert sent >= 15


def test_metric_table_matches_the_server(served):
    documented = set(re.findall(r"^\| `(:[\w:]+)` \|", SERVING.read_text(), re.MULTILINE))
    status, data, _ = served.request("GET", config_lib.DEFAULT_METRICS_PATH)
    assert status == 200
    exported = set(re.findall(r"^# TYPE (\S+)", data.decode(), re.MULTILINE))
    unlisted = {":tensorflow:serving:request_example_counts",  # named in the text instead
                ":tensorflow:serving:request_example_count_total"}
    assert documented == exported - unlisted
