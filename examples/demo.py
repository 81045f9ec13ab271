"""The xlaflow demo, end to end (`make demo`; `make demo DEMO_FAST=1` for a quick run).

1. The TF2 program users start from, with only its imports changed: load MNIST (or,
   offline, the bundled handwritten digits in MNIST's format), train a Keras model with
   `fit`, evaluate it.
2. AutoGraph compiles a Python `while` on tensors into one XLA loop.
3. `model.save("saved_model/mnist/1")` writes a SavedModel-style directory (architecture,
   weights, optimizer, and a `serving_default` signature as jax.export StableHLO).
4. `xlaflow serve` (TensorFlow Serving's flags and REST API) serves it; we query it the way
   TF Serving clients do (`/v1/models/mnist:predict`) and the way KServe/Triton clients do
   (Open Inference Protocol v2, `/v2/models/mnist/infer`), check the answers equal
   `model.predict`, then stop the server with SIGTERM.

DEMO_FAST=1 trains one epoch on a subset, so the whole run takes a few tens of seconds.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import numpy as np

import xlaflow as tf
from xlaflow.keras import layers, models

FAST = os.environ.get("DEMO_FAST", "").lower() in ("1", "true", "yes")
N_QUERY = 10  # test digits sent to the server


def load_digits():
    try:
        data = tf.keras.datasets.mnist.load_data(timeout=10)
        print("data: MNIST (cached or downloaded)")
        return data
    except (OSError, ValueError) as e:  # offline, or a cached file that fails its hash
        print(f"data: MNIST unavailable ({e.__cause__ or e}); using the offline handwritten "
              "digits (scikit-learn's set in MNIST's 28x28 format)")
        return tf.keras.datasets.digits.load_data()


LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def http_json(method, url, body=None, timeout=30):
    """(status, decoded JSON body) for one request; HTTP errors are returned, not raised."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with LOCAL.open(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_available(server, url, timeout=90):
    """Poll the model status until a version is AVAILABLE; None if the server died or
    the time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            status, body = http_json("GET", url, timeout=5)
            states = [v["state"] for v in body.get("model_version_status", [])]
            if status == 200 and "AVAILABLE" in states:
                return body
        except (OSError, ValueError):
            pass  # not listening yet
        time.sleep(0.2)
    return None


def serve_and_query(model, signature, x, y):
    """Serve saved_model/mnist with `xlaflow serve`, query it over REST and v2, stop it."""
    port, base_path = free_port(), os.path.abspath("saved_model/mnist")
    url = f"http://127.0.0.1:{port}"
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 -- the server's log, read on failure
    command = [sys.executable, "-m", "xlaflow.cli", "serve", "--model_name=mnist",
               f"--model_base_path={base_path}", f"--rest_api_port={port}",
               "--rest_api_host=127.0.0.1"]
    print("$ xlaflow serve " + " ".join(command[4:]))
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def fail(message):
        log.seek(0)
        print(f"FAILED: {message}\n--- server log ---\n{log.read()[-4000:]}")
        return 1

    try:
        status = wait_available(server, f"{url}/v1/models/mnist")
        if status is None:
            return fail("the model did not become AVAILABLE")
        for v in status["model_version_status"]:
            print(f"GET /v1/models/mnist: version {v['version']} is {v['state']}")

        expected = model.predict(x, verbose=0).argmax(axis=1)
        # TF Serving REST, row format: one 28x28 image per instance.
        code, rest = http_json("POST", f"{url}/v1/models/mnist:predict",
                               {"instances": x.tolist()})
        if code != 200:
            return fail(f"REST predict answered {code}: {rest}")
        rest_digits = np.argmax(rest["predictions"], axis=1)
        # Open Inference Protocol v2: flat row-major data plus shape and datatype.
        code, v2 = http_json("POST", f"{url}/v2/models/mnist/infer", {"inputs": [
            {"name": signature.input_names[0], "shape": list(x.shape), "datatype": "FP32",
             "data": x.ravel().tolist()}]})
        if code != 200:
            return fail(f"v2 infer answered {code}: {v2}")
        out = v2["outputs"][0]
        v2_digits = np.reshape(out["data"], out["shape"]).argmax(axis=1)

        print("\n  #  label  REST  v2  model.predict")
        for i in range(len(x)):
            print(f"{i:3d}  {y[i]:5d}  {rest_digits[i]:4d}  {v2_digits[i]:2d}  "
                  f"{expected[i]:13d}")
        correct = int((rest_digits == y).sum())
        print(f"served predictions: {correct}/{len(x)} correct")
        if not (np.array_equal(rest_digits, expected) and np.array_equal(v2_digits, expected)):
            return fail("the served predictions differ from model.predict")
        print("served predictions equal model.predict (REST and v2)")
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)  # graceful: in-flight requests finish
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    # uvicorn re-raises SIGTERM after its graceful shutdown, so -SIGTERM is clean too.
    if server.returncode not in (0, -signal.SIGTERM):
        return fail(f"the server exited with {server.returncode}")
    print(f"server stopped cleanly (SIGTERM, exit status {server.returncode})")
    return 0


def main():
    (x_train, y_train), (x_test, y_test) = load_digits()
    x_train, x_test = x_train / 255.0, x_test / 255.0
    epochs = 5
    if FAST:  # one epoch on a subset: a quick check that everything works
        x_train, y_train, epochs = x_train[:3000], y_train[:3000], 1
        print(f"DEMO_FAST: 1 epoch on {len(x_train)} training images")

    model = models.Sequential([
        layers.Flatten(input_shape=(28, 28)),
        layers.Dense(128, activation='relu'),
        layers.Dense(10, activation='softmax')
    ])
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=2)
    print(f"trained in {time.perf_counter() - start:.1f}s "
          f"({model.trainer._compiled_train_step.tracing_count} compiled step program(s))")
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"Test accuracy: {acc:.4f}")

    # AutoGraph: plain Python control flow on tensors compiles to XLA control flow.
    @tf.function
    def confident_prefix(probabilities, threshold):
        count = 0
        while count < probabilities.shape[0] and tf.reduce_max(probabilities[count]) > \
                threshold:
            count += 1
        return count

    probs = tf.constant(model.predict(x_test[:100], verbose=0))
    n = confident_prefix(probs, tf.constant(0.5))
    loops = {e.primitive.name for e in confident_prefix.get_concrete_function(
        probs, tf.constant(0.5)).jaxpr.eqns}
    print(f"AutoGraph: the first {int(n)} test predictions are confident (> 0.5), counted "
          f"by a Python `while` compiled to one XLA loop: {'while' in loops}")

    # Save: one directory per version, written atomically (an existing one is replaced).
    model.save("saved_model/mnist/1")
    files = sorted(os.listdir("saved_model/mnist/1"))
    print(f"\nmodel.save wrote saved_model/mnist/1: {', '.join(files)}")
    signature = tf.saved_model.load("saved_model/mnist/1").signatures["serving_default"]
    print("signature:", signature)

    # Serve and query it, as TensorFlow Serving / KServe clients would.
    return serve_and_query(model, signature, x_test[:N_QUERY].astype(np.float32),
                           y_test[:N_QUERY])


if __name__ == "__main__":
    raise SystemExit(main())
