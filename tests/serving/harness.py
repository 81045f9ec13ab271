"""Real `xlaflow serve` processes on 127.0.0.1 for the tests: exports, start/stop, HTTP."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

import xlaflow as xf
from tests.local_platform import WITH_CPU


class Scale(xf.Module):
    """y = x * w + version: each version answers differently, so tests see which one ran."""

    def __init__(self, version):
        super().__init__()
        self.w = xf.Variable(np.float32([1.0, 2.0, 3.0]))
        self.version = float(version)

    @xf.function(input_signature=[xf.TensorSpec([None, 3], xf.float32, name="x")])
    def serve(self, x):
        return {"y": x * self.w + self.version}


def export(base, version):
    """Export version `version` of the toy model to `base/<version>` (atomically), for CPU
    (the test servers run there) and for this process's platform."""
    xf.saved_model.save(Scale(version), os.path.join(base, str(version)), platforms=WITH_CPU)


def expected(x, version):
    return np.asarray(x, np.float32) * np.float32([1, 2, 3]) + np.float32(version)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`xlaflow serve *flags` on a free port; with `system_port`, on --rest_api_port=0 and
    the port the server says in its log that it bound."""

    def __init__(self, *flags, cwd=None, system_port=False):
        self.port = 0 if system_port else free_port()
        env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLAFLOW_COMPILATION_CACHE_DIR": "off"}
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            "w", dir=cwd, prefix=f"server-{self.port}-", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "xlaflow.cli", "serve", f"--rest_api_port={self.port}",
             "--file_system_poll_wait_seconds=0.2", *flags],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        try:
            if system_port:
                self.wait(self._logged_port, "the server to log the port it bound")
            self.wait(lambda: self.get("/v2/health/live")[0] == 200, "the server to start")
        except BaseException:
            self.process.kill()
            self.process.wait()
            self.log.close()
            raise

    def _logged_port(self):
        found = re.search(r"serving on http://127\.0\.0\.1:(\d+)", self.read_log())
        if found:
            self.port = int(found.group(1))
        return found is not None

    def request(self, method, path, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
            return response.status, data, dict(response.getheaders())
        finally:
            connection.close()

    def get(self, path):
        try:
            status, data, _ = self.request("GET", path)
        except OSError:
            return None, None
        return status, data

    def json(self, method, path, body=None):
        status, data, _ = self.request(method, path, body)
        return status, json.loads(data) if data else None

    def wait(self, condition, what, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited ({self.process.returncode}) while "
                                     f"waiting for {what}:\n{self.read_log()}")
            if condition():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{self.read_log()}")

    def states(self, model):
        status, body = self.json("GET", f"/v1/models/{model}")
        if status != 200:
            return {}
        return {int(v["version"]): v["state"] for v in body["model_version_status"]}

    def read_log(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log.name) as f:
            return f.read()[-4000:]

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()
        # uvicorn re-raises SIGTERM after its graceful shutdown, as a process killed by it
        return 0 if self.process.returncode == -signal.SIGTERM else self.process.returncode


def toy_server(work, *flags, batching=None):
    """A server of version 1 of the toy model under `work`, with /metrics on, and with
    batching when `batching` (the parameters file's text) is given; waits until it serves."""
    base = str(work / "toy")
    export(base, 1)
    (work / "monitoring.txt").write_text(
        'prometheus_config { enable: true, path: "/metrics" }\n')
    if batching is not None:
        (work / "batching.txt").write_text(batching)
        flags += ("--enable_batching", f"--batching_parameters_file={work / 'batching.txt'}")
    server = Server("--model_name=toy", f"--model_base_path={base}", *flags,
                    f"--monitoring_config_file={work / 'monitoring.txt'}", cwd=str(work))
    try:
        server.wait(lambda: server.states("toy").get(1) == "AVAILABLE", "version 1")
    except BaseException:
        server.stop()
        raise
    return server
