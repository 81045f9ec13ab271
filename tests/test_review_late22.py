"""Review of the late Keras changes (stateful RNN(cell), causal Conv1D, one-output loss
structures, host layers' HostTensors, Hashing and lookups, checkpoints), against Keras 2 /
TF 2.12's documented behaviour, NumPy and closed forms."""

import os
import subprocess
import sys

import numpy as np
import pytest

import xlaflow as xf
from tests.keras.test_stateful_rnn_cell import LeakyCell, leaky_numpy, weights
from xlaflow import keras
from xlaflow.keras import layers

RNG = np.random.default_rng(22)
TOL = {"rtol": 1e-4, "atol": 1e-5}


@pytest.mark.parametrize("make", [lambda: layers.RNN(LeakyCell(3), stateful=True),
                                  lambda: layers.SimpleRNN(3, stateful=True)],
                         ids=["cell", "simple_rnn"])
def test_summary_of_a_called_stateful_model_leaves_its_states(make):
    # summary traces each layer on a placeholder batch of 1: that is no call on another
    # batch size (Keras 2's summary of a stateful model works), nor does it move the states
    model = keras.Sequential([keras.Input((5, 4), batch_size=2), make(), layers.Dense(1)])
    x = RNG.normal(size=(2, 5, 4)).astype(np.float32)
    model.predict(x, verbose=0)
    kept = [np.asarray(s) for s in model.layers[0].states]
    lines = []
    model.summary(print_fn=lines.append)
    assert any("(None, 3)" in line for line in lines)
    for state, before in zip(model.layers[0].states, kept):
        np.testing.assert_array_equal(state, before)
    if isinstance(model.layers[0], layers.RNN):  # and the next call goes on from them
        out = model.layers[0](x)
        expected, _, _ = leaky_numpy(np.concatenate([x, x], 1).astype(np.float64),
                                     *weights(model.layers[0]))
        np.testing.assert_allclose(out, expected[:, -1], **TOL)


@pytest.mark.parametrize("async_save", [False, True])
def test_two_managers_of_one_directory_number_on_from_each_others_saves(tmp_path,
                                                                        async_save):
    # TF numbers each save anew and the newest is the latest; orbax caches a directory's
    # steps, so the second manager numbered its save as the first's and the two collided
    v = xf.Variable(1.0)
    first = xf.train.CheckpointManager(xf.train.Checkpoint(v=v), tmp_path,
                                       async_save=async_save)
    first.save()
    second = xf.train.CheckpointManager(xf.train.Checkpoint(v=v), tmp_path,
                                        async_save=async_save)
    paths = []
    for value, manager in ((2.0, first), (3.0, second), (4.0, first)):
        v.assign(value)
        paths.append(manager.save())
    assert paths == [str(tmp_path / str(n)) for n in (2, 3, 4)]
    assert xf.train.latest_checkpoint(tmp_path) == str(tmp_path / "4")
    w = xf.Variable(0.0)
    for n in (1, 2, 3, 4):  # each save holds the value it was made with
        xf.train.Checkpoint(v=w).restore(str(tmp_path / str(n)))
        assert float(w.numpy()) == n


def test_a_save_in_a_thread_while_the_main_thread_exits_is_written(tmp_path):
    # The interpreter waits for a non-daemon thread, and TF's synchronous save in it
    # completes; orbax's executors refused the save ('cannot schedule new futures after
    # interpreter shutdown') because their exit hook ran before the thread was joined
    script = (
        "import sys, threading, time\n"
        "import xlaflow as xf\n"
        "manager = xf.train.CheckpointManager(xf.train.Checkpoint(v=xf.Variable(5.0)), "
        "sys.argv[1])\n"
        "def work():\n"
        "    time.sleep(0.5)\n"
        "    print(manager.save(), flush=True)\n"
        "threading.Thread(target=work).start()\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "threaded")],
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(tmp_path / "threaded" / "1")
    w = xf.Variable(0.0)
    xf.train.Checkpoint(v=w).restore(xf.train.latest_checkpoint(tmp_path / "threaded"))
    assert float(w.numpy()) == 5.0
