"""`xlaflow serve` on an exported MNIST model, driven from a separate process.

For 1, 8 and 32 concurrent keep-alive clients it prints requests/s, predictions/s and
p50/p99 latency without and with batching, next to the limit: the same exported function
called in-process on batches of every size the batching server may run. The ratio is taken
against the best of them, and against batches of the binary requests' own 32 instances (a
client calling the function in-process with its batch). Two kinds of request: one 28x28
instance in TF Serving's REST row format, and 32 instances as KServe v2 binary tensors (a
client that batches, as tritonclient does). Loopback only, each run bounded in time.

Environment: SERVING_BENCH_SECONDS (per row), SERVING_BENCH_CLIENTS ("1,8,32"),
SERVING_BENCH_MODES ("direct,batching"), SERVING_BENCH_BATCH_THREADS,
SERVING_BENCH_MAX_BATCH, SERVING_BENCH_ALLOWED ("8,16,32,64,128"), SERVING_BENCH_TIMEOUT_US:
the batching configuration, to compare configurations in interleaved runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

SECONDS = float(os.environ.get("SERVING_BENCH_SECONDS", "4"))
CLIENTS = tuple(int(c) for c in os.environ.get("SERVING_BENCH_CLIENTS", "1,8,32").split(","))
MODES = os.environ.get("SERVING_BENCH_MODES", "direct,batching").split(",")
# A batch thread also waits for its batch's result, so more threads than cores keep the
# cores busy: measured on 2 cores with 32-instance requests, 2 threads gave ~1,850 req/s and
# 8 gave ~2,650; 16 and 32 no more.
BATCH_THREADS = int(os.environ.get("SERVING_BENCH_BATCH_THREADS", "8"))
BATCHED = 32  # instances per request in the second run: a client that batches itself
# Batching as a TF Serving user would set it for these clients: max_batch_size above one
# request's 32 rows, so concurrent requests merge into one run; allowed sizes so XLA
# compiles a few programs at warm-up and never under load (small ones keep the padding of
# the one-instance JSON requests' batches small); a timeout well under the p99 target.
MAX_BATCH = int(os.environ.get("SERVING_BENCH_MAX_BATCH", "128"))
ALLOWED = tuple(int(n) for n in os.environ.get(
    "SERVING_BENCH_ALLOWED", "8,16,32,64,128").split(",") if n)
TIMEOUT_US = int(os.environ.get("SERVING_BENCH_TIMEOUT_US", "1000"))


def platform():
    """The platform this run measures (the default backend's): export for it, serve on it."""
    import jax

    from xlaflow.saving.loaded import export_platform
    return export_platform(jax.devices()[0])


def export_model(base):
    import xlaflow as xf
    from xlaflow.keras import layers, models
    model = models.Sequential([layers.Flatten(input_shape=(28, 28)),
                               layers.Dense(128, activation="relu"),
                               layers.Dense(10, activation="softmax")])
    model.export(os.path.join(base, "1"), platforms=[platform()])
    return xf.saved_model.load(os.path.join(base, "1")).signatures["serving_default"]


def in_process_limit(signature, batch, seconds=0.5):
    x = np.random.default_rng(0).random((batch, 28, 28), np.float32)
    arrays = signature.prepare({signature.input_names[0]: x})
    for _ in range(10):
        np.asarray(signature.call_flat(arrays)[0])
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        np.asarray(signature.call_flat(arrays)[0])
        count += batch
    return count / (time.perf_counter() - start)


def batch_sizes():
    """Every batch size the batching server may run: what its warm-up compiles."""
    from xlaflow.serving.config import BatchingParameters
    params = BatchingParameters(max_batch_size=MAX_BATCH, allowed_batch_sizes=ALLOWED)
    return sorted({params.padded_size(n) for n in range(1, MAX_BATCH + 1)})


def limits(signature, rounds=6):
    """For each batch size the server may run, the best and worst of several short
    measurements (the sizes taken in turn, so the machine's drift reaches them alike): on
    this shared machine one 2 s measurement moved between 177,000 and 314,000 predictions/s
    within minutes, and the ratios are taken against the best (the harder target)."""
    rates = {batch: [] for batch in sorted({*batch_sizes(), BATCHED})}
    for _ in range(rounds):
        for batch, rate in rates.items():
            rate.append(in_process_limit(signature, batch))
    return {batch: (max(r), min(r)) for batch, r in rates.items()}


def limits_main():
    """Runs in a fresh process: `serving_bench.py limits BASE`. The limits with JAX's CPU
    async dispatch off, as the server runs its model calls; the setting is read when the
    CPU client starts, so it needs its own process."""
    import jax
    jax.config.update("jax_cpu_enable_async_dispatch", False)
    import xlaflow as xf
    signature = xf.saved_model.load(os.path.join(sys.argv[2], "1")).signatures[
        "serving_default"]
    print(json.dumps({str(batch): list(rates) for batch, rates in limits(signature).items()}))


def sync_limits(base):
    out = subprocess.run([sys.executable, __file__, "limits", base], capture_output=True,
                         text=True, check=True, env={**os.environ, "JAX_PLATFORMS": platform()})
    return {int(batch): tuple(rates)
            for batch, rates in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def _rest_request(instances):
    """TF Serving REST, row format: what most clients send."""
    x = np.random.default_rng(1).random((instances, 28, 28)).round(4).tolist()
    body = json.dumps({"instances": x}).encode()
    return (f"POST /v1/models/mnist:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


def _v2_binary_request(instances, input_name):
    """KServe v2 with Triton's binary tensor extension (what tritonclient sends): a JSON
    header, then the raw float32 bytes; the answer comes back binary too."""
    x = np.random.default_rng(1).random((instances, 28, 28), np.float32)
    header = json.dumps({"inputs": [{"name": input_name, "shape": list(x.shape),
                                     "datatype": "FP32",
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "parameters": {"binary_data_output": True}}).encode()
    body = header + x.tobytes()
    return (f"POST /v2/models/mnist/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n"
            f"Inference-Header-Content-Length: {len(header)}\r\n\r\n").encode() + body


async def _client(port, request, deadline, latencies):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        data = await reader.readexactly(length)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(data.decode())
        latencies.append(time.perf_counter() - start)
    writer.close()


async def _drive(port, clients, seconds, request):
    latencies = []
    await asyncio.gather(*[_client(port, request, time.perf_counter() + 0.5, [])
                           for _ in range(clients)])  # warm connections and caches
    start = time.perf_counter()
    await asyncio.gather(*[_client(port, request, start + seconds, latencies)
                           for _ in range(clients)])
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p50": latencies[len(latencies) // 2] * 1e3,
            "p99": latencies[int(len(latencies) * 0.99)] * 1e3}


def drive_main():
    """Runs in the client process: `serving_bench.py drive PORT CLIENTS [INSTANCES INPUT]`;
    with INSTANCES, each request carries that many as v2 binary tensors."""
    port, clients = int(sys.argv[2]), int(sys.argv[3])
    request = _v2_binary_request(int(sys.argv[4]), sys.argv[5]) if len(sys.argv) > 4 else \
        _rest_request(1)
    cpu = time.process_time()
    try:  # uvloop (installed with the server's uvicorn[standard]) keeps the client lean
        import uvloop
        result = uvloop.run(_drive(port, clients, SECONDS, request))
    except ImportError:
        result = asyncio.run(_drive(port, clients, SECONDS, request))
    # the load generator's own CPU per request: it shares the machine's two cores
    result["client_us"] = (time.process_time() - cpu) / (result["rps"] * (SECONDS + 0.5)) * 1e6
    print(json.dumps(result))


def cpu_seconds(pid, thread=None):
    """User + system CPU time of a process so far (Linux /proc), to see what the server
    itself spends per request when the load generator shares the machine; with `thread`,
    of that thread only (the main thread's id is the pid: the event loop, whose work is
    serialized by the GIL and so bounds the request rate)."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_server(base, port, batching, workdir):
    flags = [sys.executable, "-m", "xlaflow.cli", "serve", "--model_name=mnist",
             f"--model_base_path={base}", f"--rest_api_port={port}"]
    if batching:
        path = os.path.join(workdir, "batching.txt")
        with open(path, "w") as f:
            f.write(f"max_batch_size {{ value: {MAX_BATCH} }}\n"
                    f"batch_timeout_micros {{ value: {TIMEOUT_US} }}\n"
                    f"max_enqueued_batches {{ value: 64 }}\n"
                    f"num_batch_threads {{ value: {BATCH_THREADS} }}\n"
                    + "".join(f"allowed_batch_sizes: {n}\n" for n in ALLOWED))
        flags += ["--enable_batching", f"--batching_parameters_file={path}"]
    server = subprocess.Popen(flags, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "JAX_PLATFORMS": platform()})
    import urllib.request
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/mnist/ready"):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the server did not become ready")


def main():
    workdir = tempfile.mkdtemp(prefix="xf-serving-bench-")
    base = os.path.join(workdir, "mnist")
    signature = export_model(base)
    # The limit is the faster of JAX's two CPU dispatch modes: asynchronous (JAX's default,
    # what a user's process runs) and synchronous (what the server runs: a call of a few
    # tens of µs then skips the hand-off to XLA's worker thread).
    per_async, per_sync = limits(signature), sync_limits(base)
    per_size = {batch: max(per_async[batch], per_sync[batch]) for batch in per_async}
    limit = max(best for best, _ in per_size.values())
    print(f"platform: {platform()}")
    print(f"batching: max_batch_size {MAX_BATCH}, allowed_batch_sizes {list(ALLOWED)}, "
          f"batch_timeout_micros {TIMEOUT_US}, num_batch_threads {BATCH_THREADS}")
    print("in-process limit (the exported function alone, best and worst of 6 half-second "
          "runs per batch size, JAX's CPU async dispatch on and off), predictions/s:")
    print(f"{'batch':>8s}{'async best':>12s}{'worst':>12s}{'sync best':>12s}{'worst':>12s}")
    for batch in per_size:
        print(f"{batch:8d}{per_async[batch][0]:12,.0f}{per_async[batch][1]:12,.0f}"
              f"{per_sync[batch][0]:12,.0f}{per_sync[batch][1]:12,.0f}")
    at_request = per_size[BATCHED][0]
    print(f"the limit: {limit:,.0f} predictions/s (the best batch size's best run); "
          f"at {BATCHED}, the binary requests' size: {at_request:,.0f}")
    runs = [("1 instance per request, TF REST JSON", ())]
    runs.append((f"{BATCHED} instances per request, KServe v2 binary tensors",
                 (str(BATCHED), signature.input_names[0])))
    for batching in [mode == "batching" for mode in MODES]:
        port = free_port()
        server = run_server(base, port, batching, workdir)
        try:
            for title, extra in runs:
                instances = int(extra[0]) if extra else 1
                print(f"\n{'batching' if batching else 'direct'}, {title}")
                print(f"{'clients':>8s}{'req/s':>10s}{'pred/s':>10s}{'p50 ms':>9s}"
                      f"{'p99 ms':>9s}{'of limit':>10s}{f'of @{BATCHED}':>8s}"
                      f"{'server µs/req':>15s}"
                      f"{'1-core req/s':>14s}{'loop µs/req':>13s}{'client µs/req':>15s}")
                for clients in CLIENTS:
                    before = cpu_seconds(server.pid)
                    loop_before = cpu_seconds(server.pid, server.pid)
                    out = subprocess.run(
                        [sys.executable, __file__, "drive", str(port), str(clients), *extra],
                        capture_output=True, text=True, check=True,
                        env={**os.environ, "SERVING_BENCH_SECONDS": str(SECONDS)})
                    spent = cpu_seconds(server.pid) - before
                    loop_spent = cpu_seconds(server.pid, server.pid) - loop_before
                    r = json.loads(out.stdout.strip().splitlines()[-1])
                    # the warm-up half second is served too: count its requests as the rate's
                    per_request = spent / (r["rps"] * (SECONDS + 0.5))
                    predictions = r["rps"] * instances
                    print(f"{clients:8d}{r['rps']:10,.0f}{predictions:10,.0f}{r['p50']:9.2f}"
                          f"{r['p99']:9.2f}{predictions / limit:9.1%}"
                          f"{predictions / at_request:8.1%}"
                          f"{per_request * 1e6:15,.0f}{1 / per_request:14,.0f}"
                          f"{loop_spent / (r['rps'] * (SECONDS + 0.5)) * 1e6:13,.0f}"
                          f"{r['client_us']:15,.0f}")
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "drive":
        drive_main()
    elif len(sys.argv) > 1 and sys.argv[1] == "limits":
        limits_main()
    else:
        main()
