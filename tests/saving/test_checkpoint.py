"""xf.train.Checkpoint / CheckpointManager and the BackupAndRestore callback.

The oracle for a restore is the saved object itself: every value equal bit for bit, and
the next training step after a restore equal to the next step of the original. A damaged
checkpoint (flipped or truncated data file, swapped state) must be refused by name, and
the manager must fall back to the previous one."""

import functools
import glob
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import random as xf_random
from xlaflow import train
from xlaflow.keras import callbacks, layers, models

RNG = np.random.default_rng(3)
X = RNG.normal(size=(48, 8)).astype(np.float32)
Y = (X[:, :4].sum(-1) > 0).astype(np.int32)


def build(units=32, seed=0, spe=1):
    xf_random.set_global_seed(seed)
    model = models.Sequential([layers.Dense(units, activation="relu", input_shape=(8,)),
                               layers.BatchNormalization(), layers.Dropout(0.3),
                               layers.Dense(2, activation="softmax")])
    model.compile(optimizer=xf.keras.optimizers.Adam(0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=spe)
    return model


def state_of(model):
    return [np.asarray(v.numpy()) for v in (*model.variables, *model.optimizer.variables)]


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_round_trip_and_the_next_step_match(tmp_path):
    model = build()
    model.fit(X, Y, batch_size=16, epochs=2, verbose=0)
    ckpt = train.Checkpoint(model=model, optimizer=model.optimizer, step=7, lr=0.5)
    path = ckpt.save(tmp_path / "ckpt")
    assert path.endswith("ckpt-1") and ckpt.save_counter == 1
    copy = build(seed=1)  # other initial weights; its optimizer has no state yet
    copy.predict(X[:2], verbose=0)
    restored = train.Checkpoint(model=copy, optimizer=copy.optimizer, step=0, lr=0.0)
    restored.restore(path).assert_consumed()
    assert restored.step == 7 and isinstance(restored.step, int) and restored.lr == 0.5
    assert restored.save_counter == 1
    assert_same(state_of(model), state_of(copy))  # incl. the Dropout seed and Adam moments
    model.train_on_batch(X[:16], Y[:16])
    copy.train_on_batch(X[:16], Y[:16])
    assert_same(state_of(model), state_of(copy))


def test_variables_lists_and_overwrite(tmp_path):
    v = xf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3))
    metrics = [xf.keras.metrics.Mean(), xf.keras.metrics.Mean()]
    metrics[1].update_state(3.0)
    ckpt = train.Checkpoint(v=v, metrics=metrics, table=np.arange(4))
    ckpt.write(tmp_path / "c")
    v.assign(v + 1.0)
    ckpt.write(tmp_path / "c")  # replaces the first one whole
    assert sorted(os.listdir(tmp_path)) == ["c"]
    v.assign(v * 0.0)
    metrics[1].reset_state()
    ckpt.table = np.zeros(4, np.int64)
    ckpt.restore(tmp_path / "c")
    np.testing.assert_array_equal(v.numpy(), np.arange(1, 7, dtype=np.float32).reshape(2, 3))
    assert float(metrics[1].result()) == 3.0
    np.testing.assert_array_equal(ckpt.table, np.arange(4))
    # Restoring part of a checkpoint works; assert_consumed names what was left.
    with pytest.raises(AssertionError, match=r"does not track: \['metrics', 'table'\]"):
        train.Checkpoint(v=v).restore(tmp_path / "c").assert_consumed()


def test_mismatches_are_named_and_change_nothing(tmp_path):
    model = build()
    model.fit(X, Y, batch_size=16, verbose=0)
    path = train.Checkpoint(model=model, optimizer=model.optimizer).write(tmp_path / "c")
    other = build(units=16)
    other.fit(X, Y, batch_size=16, verbose=0)
    before = state_of(other)
    with pytest.raises(ValueError, match=r"model\.0000_kernel \(dense_\d+/kernel\): the "
                                         r"variable is shape \(8, 16\) dtype float32, the "
                                         r"checkpoint holds shape \(8, 32\) dtype float32"):
        train.Checkpoint(model=other, optimizer=other.optimizer).restore(path)
    assert_same(before, state_of(other))
    with pytest.raises(ValueError, match=r"has no object 'step'; it holds \['model', "
                                         r"'optimizer'\]"):
        train.Checkpoint(model=other, step=1).restore(path)
    # An unbuilt model's values wait for its first call (TF's delayed restoration), which
    # names what does not fit, before computing anything
    unbuilt = models.Sequential([layers.Dense(32)])
    train.Checkpoint(model=unbuilt).restore(path).assert_existing_objects_matched()
    with pytest.raises(ValueError, match=r"(?s)does not match 'model', whose values "
                                         r"waited for a first call.*has unexpected "
                                         r"\['0002_gamma'"):
        unbuilt(X[:2])
    with pytest.raises(ValueError, match="optimizer 'optimizer' has no state yet"):
        train.Checkpoint(optimizer=xf.keras.optimizers.Adam()).restore(path)
    with pytest.raises(TypeError, match="Checkpoint: name is a str; expected a Module"):
        train.Checkpoint(name="x")
    with pytest.raises(FileNotFoundError, match="is not a checkpoint directory"):
        train.Checkpoint(model=other).restore(tmp_path / "missing")


def test_manager_max_to_keep_interval_and_latest(tmp_path):
    step = xf.Variable(0)
    manager = train.CheckpointManager(train.Checkpoint(step=step), tmp_path / "m",
                                      max_to_keep=2)
    assert manager.latest_checkpoint is None and manager.restore_or_initialize() is None
    for i in range(1, 6):
        step.assign(i)
        assert manager.save() == os.path.join(manager.directory, str(i))
    assert manager.checkpoints == [os.path.join(manager.directory, s) for s in ("4", "5")]
    assert train.latest_checkpoint(tmp_path / "m") == manager.latest_checkpoint
    os.mkdir(tmp_path / "m" / "6.orbax-checkpoint-tmp-1")  # a save that died: ignored
    assert train.latest_checkpoint(tmp_path / "m").endswith("5")
    with pytest.raises(ValueError, match="already exists; pass a new checkpoint_number"):
        manager.save(5, check_interval=False)
    manager.close()
    assert train.latest_checkpoint(tmp_path / "nothing") is None

    spaced = train.CheckpointManager(train.Checkpoint(step=step), tmp_path / "s",
                                     max_to_keep=None, save_interval_steps=3)
    saved = [spaced.save(int(step.assign(n))) for n in range(1, 8)]
    assert [s is not None for s in saved] == [True, False, True, False, False, True, False]
    spaced.close()  # its last save may still be in flight: another manager would miss it
    step.assign(-1)
    initialized = []
    fresh = train.CheckpointManager(train.Checkpoint(step=step), tmp_path / "s",
                                    init_fn=lambda: initialized.append(1))
    assert fresh.restore_or_initialize().endswith("6") and int(step) == 6 and not initialized
    assert train.CheckpointManager(train.Checkpoint(step=step), tmp_path / "e",
                                   init_fn=lambda: initialized.append(1)
                                   ).restore_or_initialize() is None and initialized == [1]
    with pytest.raises(ValueError, match="save_interval_steps must be a positive int"):
        train.CheckpointManager(train.Checkpoint(step=step), tmp_path / "x",
                                save_interval_steps=0)


def flip(path):
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        for i in range(len(data) // 2, len(data) // 2 + 8):
            data[i] ^= 0x5A
        f.seek(0)
        f.write(data)


def truncate(path):
    os.truncate(path, os.path.getsize(path) // 2)


def swap_state(step_dir):
    """Replace the arrays by another checkpoint's, which orbax reads without complaint,
    and drop the seal (as if the process died before sealing): the array digests catch it."""
    other = os.path.join(os.path.dirname(step_dir), "1", "state")
    shutil.rmtree(os.path.join(step_dir, "state"))
    shutil.copytree(other, os.path.join(step_dir, "state"))
    os.remove(os.path.join(step_dir, "xlaflow_seal.json"))


def data_files(step_dir):
    # The arrays' key-value store (OCDBT): small arrays may live in the merged root tree
    # (state/d) or in the writer's files (state/ocdbt.process_0/d), so damage them all.
    return glob.glob(os.path.join(step_dir, "state", "**", "d", "*"), recursive=True)


@pytest.fixture(scope="module")
def three_saves(tmp_path_factory):
    """A manager's three checkpoints of one model, an epoch of training apart, and the
    model's state at each: written once, copied by each kind of damage below."""
    directory = tmp_path_factory.mktemp("three_saves")
    model = build()
    manager = train.CheckpointManager(train.Checkpoint(model=model, optimizer=model.optimizer),
                                      directory, max_to_keep=3)
    saved = []
    for _ in range(3):
        model.fit(X, Y, batch_size=16, verbose=0)
        saved.append(state_of(model))
        manager.save()
    manager.close()
    return directory, saved


@pytest.mark.parametrize("damage", ["flip", "truncate", "swap"])
def test_damaged_newest_is_refused_and_the_previous_restored(tmp_path, damage, three_saves):
    source, saved = three_saves
    shutil.copytree(source, tmp_path, dirs_exist_ok=True)  # a copy of its own to damage
    assert sorted(os.listdir(tmp_path)) == ["1", "2", "3", "checkpoint"]
    newest = os.path.join(str(tmp_path), "3")
    if damage == "swap":
        swap_state(newest)
    for path in data_files(newest) if damage != "swap" else ():
        (flip if damage == "flip" else truncate)(path)

    copy = build(seed=1)
    copy.predict(X[:2], verbose=0)
    ckpt = train.Checkpoint(model=copy, optimizer=copy.optimizer)
    with pytest.raises(train.CheckpointIntegrityError, match=f"checkpoint {newest} is damaged"):
        ckpt.restore(newest)
    resumed = train.CheckpointManager(ckpt, tmp_path, max_to_keep=3)
    with pytest.warns(RuntimeWarning, match=f"(?s)checkpoint {newest} is damaged.*falling back"):
        assert resumed.restore_or_initialize() == os.path.join(str(tmp_path), "2")
    assert_same(saved[1], state_of(copy))
    assert resumed.save() == newest  # the damaged one was moved aside, not in the way
    resumed.close()
    assert len(glob.glob(os.path.join(str(tmp_path), "corrupt-3-*"))) == 1


FIT = {"batch_size": 6, "epochs": 3, "verbose": 0, "shuffle": True}  # 8 batches an epoch


@functools.cache
def uninterrupted(spe):
    model = build(spe=spe)
    np.random.seed(0)  # fit draws its shuffle seed here
    history = model.fit(X, Y, **FIT).history
    return state_of(model), history


# save_freq=4 backs up at the end of epoch 0 (a resume with no batch left in the epoch);
# with steps_per_execution=3, batches come in blocks and the backups fall at block ends.
@pytest.mark.parametrize("spe,save_freq,crash_at", [(1, 4, 10), (1, "epoch", 12), (3, 3, 5)])
def test_backup_and_restore_resumes_exactly_in_process(tmp_path, spe, save_freq, crash_at):
    backup = str(tmp_path / "backup")
    backup_cb = callbacks.BackupAndRestore(backup, save_freq=save_freq)

    def crash(batch, logs):  # after `crash_at` batch-end hooks (a block counts once)
        crash.count += 1
        if crash.count == crash_at:
            raise KeyboardInterrupt
    crash.count = 0
    model = build(spe=spe)
    np.random.seed(0)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, callbacks=[backup_cb, callbacks.LambdaCallback(
            on_train_batch_end=crash)], **FIT)
    # Run again in the same session (a fresh process is the SIGKILL test below): the
    # weights, optimizer and metrics are all past the backup and must all be restored.
    np.random.seed(1)  # another shuffle seed would be drawn: the backup's must win
    history = model.fit(X, Y, callbacks=[backup_cb], **FIT).history  # the same callback
    assert not os.path.exists(backup)  # deleted once fit completed
    want_state, want_history = uninterrupted(spe)
    assert_same(want_state, state_of(model))
    # The resumed epochs' logs match too (a resumed epoch keeps its metric state).
    assert 0 < len(history["loss"]) <= 3  # from the epoch of the backup on
    for key, values in history.items():
        assert values == want_history[key][-len(values):]


SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from xlaflow import random as xf_random
    from xlaflow.keras import callbacks, layers, models

    backup, out, shuffle_seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    xf_random.set_global_seed(0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 8)).astype(np.float32)  # 8 full batches: one compiled step
    y = (x[:, :4].sum(-1) > 0).astype(np.int32)
    model = models.Sequential([layers.Dense(32, activation="relu", input_shape=(8,)),
                               layers.Dropout(0.3), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    np.random.seed(shuffle_seed)  # fit draws its shuffle seed here: a resume must not

    def report(batch, logs):
        print("batch", batch, flush=True)

    backup_cb = [] if backup == "-" else [callbacks.BackupAndRestore(backup, save_freq=4)]
    model.fit(x, y, batch_size=8, epochs=3, shuffle=True, verbose=0, callbacks=[
        *backup_cb, callbacks.LambdaCallback(on_train_batch_end=report)])
    np.savez(out, *[v.numpy() for v in (*model.variables, *model.optimizer.variables)])
    print("done", flush=True)
""")


@pytest.mark.slow
def test_backup_and_restore_survives_sigkill_bit_for_bit(tmp_path):
    """A training process killed twice (SIGKILL) and restarted ends bit-identical to one
    that was never interrupted; AutoGraph needs the script's source in a file."""
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    # One CPU thread for XLA: the same reductions in the same order in every run.
    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}

    def start(name, backup, shuffle_seed):
        with open(tmp_path / f"{name}.log", "w") as log:  # the child keeps its own handle
            return subprocess.Popen([sys.executable, str(script), str(backup),
                                     str(tmp_path / f"{name}.npz"), str(shuffle_seed)],
                                    stdout=subprocess.PIPE, stderr=log, text=True, env=env)

    def backed_up():
        backup = tmp_path / "backup"
        return backup.is_dir() and any(name.isdigit() for name in os.listdir(backup))

    reference = start("reference", "-", 0)  # a plain fit, running alongside
    # Kill after 2-12, then 1-10 more batches (of 24): never past the end. The seed is
    # fixed so the kill points are reproducible (11, then 6). Each restart would draw
    # another shuffle seed (1, 2): the backup's seed 0 must win.
    rng = random.Random(20240611)
    for attempt, kill_after in enumerate((rng.randint(2, 12), rng.randint(1, 10))):
        proc = start(f"killed{attempt}", tmp_path / "backup", attempt)
        lines = 0
        # At least `kill_after` batches, and once a first backup is complete: a restart
        # without one would start afresh with its own seed.
        while lines < kill_after or not backed_up():
            assert proc.stdout.readline().startswith("batch"), (
                tmp_path / f"killed{attempt}.log").read_text()
            lines += 1
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        assert proc.returncode == -signal.SIGKILL
    final = start("final", tmp_path / "backup", 2)
    for proc, name in ((final, "final"), (reference, "reference")):
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.endswith("done\n"), (
            tmp_path / f"{name}.log").read_text()
    assert not os.path.exists(tmp_path / "backup")
    want, got = np.load(tmp_path / "reference.npz"), np.load(tmp_path / "final.npz")
    assert want.files == got.files
    for key in want.files:
        np.testing.assert_array_equal(got[key], want[key])


def test_the_tf_resume_loop_with_latest_checkpoint(tmp_path):
    """`ckpt.restore(tf.train.latest_checkpoint(dir))`: nothing on the first run, then the
    last `save`."""
    def run(step_value):
        v = xf.Variable(0.0)
        ckpt = xf.train.Checkpoint(v=v)
        status = ckpt.restore(xf.train.latest_checkpoint(tmp_path))
        restored = float(v.numpy())
        v.assign(step_value)
        ckpt.save(str(tmp_path / "ckpt"))
        return restored, status

    restored, status = run(1.0)
    assert restored == 0.0
    with pytest.raises(AssertionError, match="nothing was restored"):
        status.assert_consumed()
    assert run(2.0)[0] == 1.0
    assert run(3.0)[0] == 2.0
    # save_counter is restored with the rest, so the numbering continues (as in TF)
    assert xf.train.latest_checkpoint(tmp_path) == str(tmp_path / "ckpt-3")
    assert (tmp_path / "checkpoint").read_text() == 'model_checkpoint_path: "ckpt-3"\n'


def test_manager_takes_tfs_step_counter_and_checkpoint_interval(tmp_path):
    step = xf.Variable(0, dtype=xf.int32)
    ckpt = xf.train.Checkpoint(step=step)
    manager = xf.train.CheckpointManager(ckpt, tmp_path, max_to_keep=None, async_save=False,
                                         step_counter=step, checkpoint_interval=3,
                                         keep_checkpoint_every_n_hours=1.0)
    saved = []
    for _ in range(8):
        step.assign_add(1)
        saved.append(manager.save() is not None)
    assert saved == [True, False, False, True, False, False, True, False]  # steps 1, 4, 7
    assert len(manager.checkpoints) == 3
    assert xf.train.latest_checkpoint(tmp_path) == manager.latest_checkpoint
    with pytest.raises(ValueError, match="checkpoint_interval needs step_counter"):
        xf.train.CheckpointManager(ckpt, tmp_path / "b", checkpoint_interval=2)
    with pytest.raises(NotImplementedError, match="checkpoint_name is not supported"):
        xf.train.CheckpointManager(ckpt, tmp_path / "c", checkpoint_name="model")
    manager.close()


def test_list_variables_and_load_variable_read_a_checkpoint_without_its_objects(tmp_path):
    class Pair(xf.Module):
        def __init__(self):
            super().__init__()
            self.w = xf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="w")
            self.b = xf.Variable(np.ones(3, np.float32), name="b")

    pair = Pair()
    path = train.Checkpoint(model=pair).write(os.fspath(tmp_path / "ckpt"))
    listed = train.list_variables(path)
    assert [shape for _, shape in listed] == [[3], [2, 3]]  # sorted names: b, then w
    (b_name, _), (w_name, _) = listed
    np.testing.assert_array_equal(train.load_variable(path, w_name), pair.w.numpy())
    np.testing.assert_array_equal(train.load_variable(path, b_name), pair.b.numpy())
    with pytest.raises(ValueError, match="holds no variable 'model/nothing'"):
        train.load_variable(path, "model/nothing")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train.list_variables(os.fspath(tmp_path / "missing"))
