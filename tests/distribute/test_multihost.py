"""MultiWorkerMirroredStrategy for real: two processes on 127.0.0.1 (one CPU device each,
gloo collectives) form one global mesh, each feeds its half of every global batch, and
both end with the weights of a single-process run on the full batches. Plus the cluster
configuration (arguments, TF_CONFIG, JAX_* variables) and its errors, in-process."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.distribute import multihost
from xlaflow.keras import layers, models

ROOT = pathlib.Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 8)).astype(np.float32)
Y = (X[:, 0] - X[:, 1] > 0).astype(np.int32)
GLOBAL_BATCH, PROCESSES = 16, 2
LOCAL = GLOBAL_BATCH // PROCESSES


def build(seed):
    xf.random.set_global_seed(seed)
    model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(8,)),
                               layers.BatchNormalization(),
                               layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def local_rows(pid):
    """Process `pid`'s shard of every global batch: rows pid*LOCAL.. of each batch of 16."""
    starts = range(pid * LOCAL, len(X), GLOBAL_BATCH)
    return np.concatenate([np.arange(s, s + LOCAL) for s in starts])


WORKER = r'''
import json, os, sys
import jax
jax.config.update("jax_num_cpu_devices", 1)
jax.config.update("jax_cpu_collectives_implementation", "gloo")
import numpy as np
import xlaflow as xf
from tests.distribute.test_multihost import LOCAL, X, Y, build, local_rows

pid, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if pid == 0:   # the cluster from arguments
    strategy = xf.distribute.MultiWorkerMirroredStrategy(f"127.0.0.1:{port}", 2, 0)
else:          # the cluster from TF_CONFIG (set by the test)
    strategy = xf.distribute.MultiWorkerMirroredStrategy()
again = xf.distribute.MultiWorkerMirroredStrategy()  # reuses the running jax.distributed
assert strategy.multiprocess and again.multiprocess
assert (strategy.num_replicas_in_sync, strategy.num_workers, strategy.worker_index) == (
    2, 2, pid), (strategy.num_replicas_in_sync, strategy.num_workers, strategy.worker_index)
assert len(jax.devices()) == 2 and len(jax.local_devices()) == 1

rows = local_rows(pid)
x, y = X[rows], Y[rows]
with strategy.scope():
    # Process 1 seeds differently: process 0's initial values must win (as in TF).
    model = build(3 if pid == 0 else 99)
kernel = model.weights[0].value
assert kernel.sharding.is_fully_replicated and not kernel.is_fully_addressable
history = model.fit(x, y, epochs=2, batch_size=LOCAL, shuffle=False, verbose=0)
evaluated = model.evaluate(x, y, batch_size=LOCAL, verbose=0)

predict = xf.function(lambda batch: model(batch, training=False))
out_global = predict(strategy.distribute_batch(x[:LOCAL]))
mine = strategy.to_host(out_global)          # the rows of the examples this process fed
everyone = strategy.gather(out_global)       # the whole global batch, on every process
assert mine.shape == (LOCAL, 2) and everyone.shape == (2 * LOCAL, 2)
np.testing.assert_array_equal(strategy.gather(mine), everyone)
# steps_per_execution=2: two stacked batches per call, sharded along axis 1
with strategy.scope():
    blocked = build(3)
    blocked.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                    steps_per_execution=2)
assert blocked.trainer.block_strategy == "scan"  # the stacked-batch path
blocked.fit(x, y, epochs=1, batch_size=LOCAL, shuffle=False, verbose=0)
context = []
batches = strategy.distribute_datasets_from_function(
    lambda ctx: context.append(ctx) or [(x[:LOCAL], np.float32(2.0))])
(xb, scale), = list(batches)
assert (context[0].num_input_pipelines, context[0].input_pipeline_id) == (2, pid)
# xb is distributed (this process's replica: its own rows); scale has no batch axis
mine_xb, = strategy.experimental_local_results(xb)
np.testing.assert_array_equal(np.asarray(mine_xb), x[:LOCAL])
assert scale.sharding.is_fully_replicated and float(strategy.to_host(scale)) == 2.0
# run splits only the distributed batch: the plain array goes whole to both replicas
doubled, whole = strategy.run(lambda b, s, w: (b * s, w + 0.0),
                              args=(xb, scale, np.arange(3.0, dtype=np.float32)))
both = np.concatenate([X[local_rows(p)][:LOCAL] for p in (0, 1)])
np.testing.assert_allclose(strategy.gather(doubled, axis=0), both * 2.0)
np.testing.assert_array_equal(np.asarray(strategy.experimental_local_results(whole)[0]),
                              np.arange(3.0))
predicted = model.predict(x, batch_size=LOCAL, verbose=0)  # this process's rows
np.savez(out, *model.get_weights(), loss=np.float32(history.history["loss"]),
         evaluated=np.float32(evaluated), mine=mine, everyone=everyone, predicted=predicted,
         **{f"blocked_{i}": w for i, w in enumerate(blocked.get_weights())})
print("done", pid, flush=True)
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_workers(tmp_path, timeout=100):
    """Start both workers; return their outputs. A failed or hung worker fails the test
    and every worker is killed, whatever happens."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    port = free_port()
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("JAX_", "XLA_", "TF_CONFIG"))}
    base.update(JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=1",
                PYTHONPATH=str(ROOT), XLAFLOW_COMPILATION_CACHE_DIR="off")
    tf_config = {"cluster": {"worker": [f"127.0.0.1:{port}", "127.0.0.1:1"]},
                 "task": {"type": "worker", "index": 1}}
    envs = [base, {**base, "TF_CONFIG": json.dumps(tf_config)}]
    procs, logs = [], []
    try:
        for pid, env in enumerate(envs):
            log = open(tmp_path / f"worker{pid}.log", "w+")  # noqa: SIM115 - closed in finally
            logs.append(log)
            procs.append(subprocess.Popen(
                [sys.executable, str(script), str(pid), str(port),
                 str(tmp_path / f"out{pid}.npz")], cwd=ROOT, env=env, stdout=log,
                stderr=subprocess.STDOUT))
        deadline = time.monotonic() + timeout
        while any(p.poll() is None for p in procs):
            failed = [p for p in procs if p.poll() not in (None, 0)]
            if failed or time.monotonic() > deadline:
                break  # one died (the other would wait for it) or the run hung
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        texts = []
        for log in logs:
            log.seek(0)
            texts.append(log.read()[-4000:])
            log.close()
    codes = [p.returncode for p in procs]
    assert codes == [0, 0], f"worker exit codes {codes}:\n" + "\n---\n".join(texts)
    return [dict(np.load(tmp_path / f"out{pid}.npz")) for pid in range(PROCESSES)]


@pytest.mark.slow
def test_two_processes_train_like_one_on_the_full_batches(tmp_path):
    outs = run_workers(tmp_path)
    with xf.device("cpu:0"):  # where the workers ran: like is compared with like on a GPU
        _compare_with_one_process(outs)


def _compare_with_one_process(outs):
    single = build(3)
    # the weights after epoch 1 too: what one epoch from the same start gives, the
    # reference for the steps_per_execution=2 model (trained one epoch) below
    after_epoch = []
    history = single.fit(X, Y, epochs=2, batch_size=GLOBAL_BATCH, shuffle=False, verbose=0,
                         callbacks=[xf.keras.callbacks.LambdaCallback(
                             on_epoch_end=lambda epoch, logs: after_epoch.append(
                                 single.get_weights()))])
    expected = single.get_weights()
    for out in outs:
        weights = [out[f"arr_{i}"] for i in range(len(expected))]
        for got, want in zip(weights, expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out["loss"], history.history["loss"], rtol=1e-5)
        np.testing.assert_allclose(out["evaluated"], single.evaluate(
            X, Y, batch_size=GLOBAL_BATCH, verbose=0), rtol=1e-5)
    for i in range(len(expected)):  # the replicas are bit-identical
        np.testing.assert_array_equal(outs[0][f"arr_{i}"], outs[1][f"arr_{i}"])
    for out in outs:  # steps_per_execution=2 trains like one step at a time
        for i, want in enumerate(after_epoch[0]):
            np.testing.assert_allclose(out[f"blocked_{i}"], want, rtol=1e-5, atol=1e-5)
    # predict gives each process the rows of its own examples; gather joins them
    predictions = single.predict(X, verbose=0)
    for pid, out in enumerate(outs):
        np.testing.assert_allclose(out["predicted"], predictions[local_rows(pid)],
                                   rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out["mine"], predictions[pid * LOCAL:(pid + 1) * LOCAL],
                                   rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out["everyone"], predictions[:GLOBAL_BATCH], rtol=1e-5,
                                   atol=1e-5)


# -- the cluster configuration, in-process -------------------------------------------------
def test_tf_config_names_the_coordinator_and_the_process():
    config = {"cluster": {"chief": ["10.0.0.1:2222"], "worker": ["10.0.0.2:2222",
                                                                 "10.0.0.3:2222"]},
              "task": {"type": "worker", "index": 1}}
    found = multihost.cluster_from_environment({"TF_CONFIG": json.dumps(config)})
    assert found == {"coordinator_address": "10.0.0.1:2222", "num_processes": 3,
                     "process_id": 2}
    # TF_CONFIG wins; JAX's variables fill in what it leaves out
    found = multihost.cluster_from_environment(
        {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "4", "JAX_PROCESS_ID": "3"})
    assert found == {"coordinator_address": "h:1", "num_processes": 4, "process_id": 3}
    assert multihost.cluster_from_environment({}) == dict.fromkeys(
        ("coordinator_address", "num_processes", "process_id"))


@pytest.mark.parametrize("environ, message", [
    ({"TF_CONFIG": "{not json"}, "TF_CONFIG must be JSON"),
    ({"TF_CONFIG": json.dumps({"cluster": {"ps": ["a:1"]}})}, "must list 'worker'"),
    ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1"]},
                               "task": {"type": "ps", "index": 0}})}, "received 'ps'"),
    ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1"]},
                               "task": {"type": "worker", "index": 3}})},
     "task worker:3 is not in the cluster"),
    ({"JAX_NUM_PROCESSES": "two"}, "JAX_NUM_PROCESSES must be an integer; received 'two'"),
])
def test_bad_cluster_configurations_are_named(environ, message):
    with pytest.raises(ValueError, match=message):
        multihost.cluster_from_environment(environ)


@pytest.fixture
def no_cluster_env(monkeypatch):
    for name in ("TF_CONFIG", "JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES",
                 "JAX_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.two_devices
def test_without_a_cluster_it_is_a_local_mirrored_strategy(no_cluster_env):
    strategy = xf.distribute.MultiWorkerMirroredStrategy()
    assert not strategy.multiprocess and strategy.num_replicas_in_sync == 2
    assert (strategy.num_workers, strategy.worker_index) == (1, 0)
    with pytest.raises(ValueError, match="num_processes, process_id not set"):
        xf.distribute.MultiWorkerMirroredStrategy("127.0.0.1:1234")


def test_a_cluster_after_jax_started_is_refused_clearly(no_cluster_env):
    xf.constant(1.0)  # JAX's backend is running in this process
    with pytest.raises(RuntimeError, match="must be created before any JAX computation"):
        xf.distribute.MultiWorkerMirroredStrategy("127.0.0.1:1234", 2, 0)
    if not multihost._on_cloud_tpu():
        with pytest.raises(ValueError, match="TPUStrategy.. found no Cloud TPU VM"):
            xf.distribute.TPUStrategy(num_processes=2)
        with pytest.raises(ValueError, match="coordinator_address, num_processes, process_id"):
            xf.distribute.TPUStrategy()
