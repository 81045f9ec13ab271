"""A real `python -m http.server` on 127.0.0.1 for the keras.applications download tests:
weight files and the class index are served from a folder the test fills."""

import contextlib
import hashlib
import socket
import subprocess
import sys
import time
import urllib.request


@contextlib.contextmanager
def serving(directory, probe):
    """Serve `directory` over HTTP; yields its base URL (ending in '/') once `probe` (a
    file name in it) can be fetched."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                             "127.0.0.1", "--directory", str(directory)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + probe, timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def write_keras2_h5(path, model, rng):
    """A weights file as Keras 2 writes one (every layer listed in layer_names, weights
    named '<layer>/<weight>:0'), holding random values; returns {weight name: value}."""
    import h5py
    import numpy as np
    values = {}
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([layer.name.encode() for layer in model.layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.12.0"
        for layer in model.layers:
            group = f.create_group(layer.name)
            weights = layer.trainable_weights + layer.non_trainable_weights
            names = [f"{layer.name}/{w.name.split('/')[-1].split(':')[0]}:0" for w in weights]
            group.attrs["weight_names"] = np.array([n.encode() for n in names], dtype="S")
            for name, weight in zip(names, weights):
                # positive values: a moving variance takes a square root
                value = rng.uniform(0.5, 1.5, weight.shape).astype("float32")
                group.create_dataset(name, data=value)
                values[name] = value
    return values
