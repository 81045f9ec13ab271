"""The twenty-second round, part b (see test_tf2_ports_twentysecond_saving.py): TF's guide
"Training checkpoints" (TF 2.12) as written, imports changed, except where a line says why.
Its relative paths are made under tmp_path.

Where xlaflow differs from TF, the program shows what it does instead: the guide's iterator is
checkpointed as written, but its position is restored by replaying the pipeline up to it (TF
stores the stages' buffers); values restored into an unbuilt model wait for its first call (TF's delayed
restoration, shown with the guide's Net rather than its nested fake_layer); Checkpoints do not nest (TF's partial-graph restore: one array is
read with load_variable instead); a CheckpointManager's checkpoints are numbered directories
(`tf_ckpts/3`, TF: `tf_ckpts/ckpt-3`), and arrays are named `<object>/<position>_<name>`
(`net/0000_kernel`, TF: `net/l1/kernel/.ATTRIBUTES/VARIABLE_VALUE`).

Oracles: the restored values equal the saved ones, a resumed run equal to an uninterrupted one,
the step counter's values, and the kept checkpoint list.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import xlaflow as tf


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the guide saves to relative paths
    tf.keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


class Net(tf.keras.Model):
    """A simple linear model."""

    def __init__(self):
        super(Net, self).__init__()  # noqa: UP008 -- as the guide writes it
        self.l1 = tf.keras.layers.Dense(5)

    def call(self, x):
        return self.l1(x)


def toy_dataset():
    inputs = tf.range(10.)[:, None]
    labels = inputs * 5. + tf.range(5.)[None, :]
    return tf.data.Dataset.from_tensor_slices(
        dict(x=inputs, y=labels)).repeat().batch(2)


def train_step(net, example, optimizer):
    """Trains `net` on `example` using `optimizer`."""
    with tf.GradientTape() as tape:
        output = net(example['x'])
        loss = tf.reduce_mean(tf.abs(output - example['y']))
    variables = net.trainable_variables
    gradients = tape.gradient(loss, variables)
    optimizer.apply_gradients(zip(gradients, variables))
    return loss


def test_saving_from_keras_and_the_iterator_position():
    net = Net()
    # TF writes an (empty) checkpoint of the unbuilt model; xlaflow asks for it built first
    with pytest.raises(ValueError, match="has no weights yet; build it first"):
        net.save_weights('easy_checkpoint')
    net(tf.zeros([1, 1]))
    net.save_weights('easy_checkpoint')
    copy = Net()
    copy(tf.zeros([1, 1]))
    copy.load_weights('easy_checkpoint')
    np.testing.assert_array_equal(copy.l1.kernel.numpy(), net.l1.kernel.numpy())

    opt = tf.keras.optimizers.Adam(0.1)
    iterator = iter(toy_dataset())
    ckpt = tf.train.Checkpoint(step=tf.Variable(1), optimizer=opt, net=net, iterator=iterator)
    for _ in range(3):
        train_step(net, next(iterator), opt)
    path = ckpt.save('./iterator_ckpt')
    oracle = [next(iterator) for _ in range(7)]  # the saved iterator's next batches

    # a fresh dataset and iterator, as the guide rebuilds them, resume at the fourth batch
    net2, opt2 = Net(), tf.keras.optimizers.Adam(0.1)
    net2(tf.zeros([1, 1]))
    iterator2 = iter(toy_dataset())
    restored = tf.train.Checkpoint(step=tf.Variable(1), optimizer=opt2, net=net2,
                                   iterator=iterator2)
    restored.restore(path).assert_consumed()
    for want in oracle:
        got = next(iterator2)
        np.testing.assert_array_equal(got['x'], want['x'])
        np.testing.assert_array_equal(got['y'], want['y'])
    assert oracle[0]['x'].numpy().ravel().tolist() == [6., 7.]  # batches 0-2 were consumed


def _run_guide(capsys):
    """The guide's "Writing checkpoints" and "Restore and continue training" cells, the
    new Net built before the restore (TF defers its values until it is built)."""
    state = {}

    def new_objects():
        opt = tf.keras.optimizers.Adam(0.1)
        net = Net()
        net(tf.zeros([1, 1]))  # not in the guide: built, so restore can assign to it
        dataset = toy_dataset()
        iterator = iter(dataset)
        ckpt = tf.train.Checkpoint(step=tf.Variable(1), optimizer=opt, net=net,
                                   iterator=iterator)
        manager = tf.train.CheckpointManager(ckpt, './tf_ckpts', max_to_keep=3)
        state.update(opt=opt, net=net, ckpt=ckpt, iterator=iterator)
        state.setdefault("initial", net.get_weights())  # for the uninterrupted-run oracle
        return net, manager

    def train_and_checkpoint(net, manager):
        ckpt, opt, iterator = state["ckpt"], state["opt"], state["iterator"]
        ckpt.restore(manager.latest_checkpoint)
        if manager.latest_checkpoint:
            print(f"Restored from {manager.latest_checkpoint}")
        else:
            print("Initializing from scratch.")

        for _ in range(50):
            example = next(iterator)
            loss = train_step(net, example, opt)
            ckpt.step.assign_add(1)
            if int(ckpt.step) % 10 == 0:
                save_path = manager.save()
                print(f"Saved checkpoint for step {int(ckpt.step)}: {save_path}")
                print(f"loss {loss.numpy():1.2f}")

    net, manager = new_objects()
    train_and_checkpoint(net, manager)
    first = capsys.readouterr().out.splitlines()
    at_step_51 = [v.numpy().copy() for v in net.l1.weights]

    # Restore and continue training
    net, manager = new_objects()
    train_and_checkpoint(net, manager)
    return first, capsys.readouterr().out.splitlines(), at_step_51, manager, state


def test_train_checkpoint_restore_and_continue(capsys):
    first, second, at_step_51, manager, state = _run_guide(capsys)
    directory = os.path.abspath('tf_ckpts')
    assert first[0] == "Initializing from scratch."
    assert first[1::2] == [f"Saved checkpoint for step {10 * k}: {directory}/{k}"
                           for k in range(1, 6)]
    losses = [float(line.split()[1]) for line in first[2::2]]
    assert losses == sorted(losses, reverse=True)  # Adam(0.1) on |error|: falling
    # the second run restores the newest save (step 50 done, step counter 50) and goes on
    assert second[0] == f"Restored from {directory}/5"
    assert second[1::2] == [f"Saved checkpoint for step {10 * k}: {directory}/{k}"
                            for k in range(6, 11)]
    assert int(state["ckpt"].step) == 100
    assert int(state["opt"].iterations) == 99  # 49 steps, then 50 after the restore

    print(manager.checkpoints)  # List the three remaining checkpoints
    assert manager.checkpoints == [f"{directory}/{k}" for k in (8, 9, 10)]
    assert sorted(os.listdir('./tf_ckpts')) == ['10', '8', '9', 'checkpoint']

    # The oracle for the restore: one uninterrupted run of 99 steps from the same start
    net, opt = Net(), tf.keras.optimizers.Adam(0.1)
    net(tf.zeros([1, 1]))
    net.set_weights(state["initial"])
    iterator = iter(toy_dataset())
    for step in range(1, 100):
        train_step(net, next(iterator), opt)
        if step == 50:  # where the first run stopped (its checkpoint 5 was taken at 49)
            for first_run, straight in zip(at_step_51, net.l1.weights, strict=True):
                np.testing.assert_allclose(first_run, straight.numpy(), rtol=1e-6, atol=1e-6)
    for restored, straight in zip(state["net"].l1.weights, net.l1.weights, strict=True):
        np.testing.assert_allclose(restored.numpy(), straight.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(
        tf.train.load_variable(directory + "/10", "net/0000_kernel"), state["net"].l1.kernel)


def test_loading_mechanics_partial_restore_and_status_assertions(capsys):
    _, _, _, manager, state = _run_guide(capsys)
    net = state["net"]

    # Loading mechanics: the guide's Checkpoint(net=Checkpoint(l1=Checkpoint(bias=...)))
    to_restore = tf.Variable(tf.zeros([5]))
    print(to_restore.numpy())  # All zeros
    fake_layer = tf.train.Checkpoint(bias=to_restore)
    with pytest.raises(NotImplementedError, match=r"nesting Checkpoints.*load_variable"):
        tf.train.Checkpoint(l1=fake_layer)
    # what the error names instead: the one array, by the name list_variables gives
    to_restore.assign(tf.train.load_variable(tf.train.latest_checkpoint('./tf_ckpts/'),
                                             'net/0001_bias'))
    np.testing.assert_array_equal(to_restore.numpy(), net.l1.bias.numpy())

    # A partial restore of top-level objects: only the net of a file with more in it
    other = Net()
    other(tf.zeros([1, 1]))
    status = tf.train.Checkpoint(net=other).restore(manager.latest_checkpoint)
    status.assert_existing_objects_matched()
    np.testing.assert_array_equal(other.l1.kernel.numpy(), net.l1.kernel.numpy())
    # "status.assert_consumed only passes if the checkpoint and the program match exactly"
    with pytest.raises(AssertionError, match=r"\['iterator', 'optimizer', 'step'\]"):
        status.assert_consumed()
    assert status.expect_partial() is status
    state["ckpt"].restore(manager.latest_checkpoint).assert_consumed()

    # Delayed restorations: a model built after the restore gets its values when its first
    # call creates its variables, before that call computes (the guide shows it with the
    # nested fake_layer; here with its Net)
    unbuilt = Net()
    status = tf.train.Checkpoint(net=unbuilt).restore(manager.latest_checkpoint)
    status.assert_existing_objects_matched()
    with pytest.raises(AssertionError, match="net: the values wait for the first call"):
        status.assert_consumed()
    x = tf.constant([[1.0]])
    np.testing.assert_array_equal(unbuilt(x), net(x))
    np.testing.assert_array_equal(unbuilt.l1.kernel.numpy(), net.l1.kernel.numpy())
    with pytest.raises(AssertionError, match=r"\['iterator', 'optimizer', 'step'\]"):
        status.assert_consumed()  # now only the objects this Checkpoint does not track


def test_manually_inspecting_checkpoints(capsys):
    _, _, _, manager, state = _run_guide(capsys)
    net, opt = state["net"], state["opt"]

    names = tf.train.list_variables(manager.latest_checkpoint)
    pipeline = len(tf.train.load_variable(manager.latest_checkpoint, 'iterator/pipeline'))
    # TF: one 'iterator/.ATTRIBUTES/ITERATOR_STATE'; here the elements handed out and the
    # pipeline's description (to refuse restoring into another), which the replay checks
    assert names == [
        ('iterator/count', []), ('iterator/pipeline', [pipeline]),
        ('net/0000_kernel', [1, 5]), ('net/0001_bias', [5]),
        ('optimizer/0000_iterations', []), ('optimizer/0001_learning_rate', []),
        ('optimizer/0002_state_0', [1, 5]), ('optimizer/0003_state_1', [5]),
        ('optimizer/0004_state_2', [1, 5]), ('optimizer/0005_state_3', [5]),
        ('step/value', [])]
    # the batches handed out: one per step done (the step counter starts at 1)
    assert tf.train.load_variable(manager.latest_checkpoint, 'iterator/count') == \
        tf.train.load_variable(manager.latest_checkpoint, 'step/value') - 1 == 99

    key = 'net/0000_kernel'  # TF: 'net/l1/kernel/.ATTRIBUTES/VARIABLE_VALUE'

    reader = tf.train.load_checkpoint('./tf_ckpts/')
    shape_from_key = reader.get_variable_to_shape_map()
    dtype_from_key = reader.get_variable_to_dtype_map()

    assert sorted(shape_from_key.keys()) == [name for name, _ in names]

    print("Shape:", shape_from_key[key])
    print("Dtype:", dtype_from_key[key].name)
    assert capsys.readouterr().out == "Shape: [1, 5]\nDtype: float32\n"

    np.testing.assert_array_equal(reader.get_tensor(key), net.l1.kernel.numpy())
    assert reader.get_tensor('step/value') == 100
    assert reader.get_tensor('optimizer/0000_iterations') == int(opt.iterations) == 99
    assert dtype_from_key['optimizer/0000_iterations'].name == "int32"
    assert reader.has_tensor(key) and not reader.has_tensor('net/l1/kernel')


def test_load_checkpoint_reads_an_array_written_once_for_two_objects():
    # `Checkpoint(model=m, optimizer=m.optimizer)` writes the optimizer's arrays once,
    # under the model; load_variable called such a file damaged
    model = tf.keras.Sequential([tf.keras.layers.Dense(2, input_shape=(3,))])
    model.compile("adam", "mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    path = tf.train.Checkpoint(model=model, optimizer=model.optimizer).write("both")
    reader = tf.train.load_checkpoint(path)
    for name in ("optimizer/0002_state_0", "model/optimizer/0002_state_0"):
        np.testing.assert_array_equal(reader.get_tensor(name), model.optimizer.variables[2])
    assert int(tf.train.load_variable(path, "optimizer/0000_iterations")) == 1


def test_a_second_manager_sees_the_first_ones_pending_save():
    # Saves are asynchronous; TF's are not: a new manager of the same directory (the
    # guide's "Restore and continue training") must see the newest save, not the one before
    ckpt = tf.train.Checkpoint(step=tf.Variable(0), big=tf.Variable(tf.zeros([400_000])))
    manager = tf.train.CheckpointManager(ckpt, 'pending', max_to_keep=3)
    for step in range(1, 4):
        ckpt.step.assign(step)
        manager.save()
    again = tf.train.Checkpoint(step=tf.Variable(0), big=tf.Variable(tf.zeros([400_000])))
    second = tf.train.CheckpointManager(again, 'pending', max_to_keep=3)
    assert second.latest_checkpoint == os.path.abspath('pending/3')
    again.restore(second.latest_checkpoint).assert_consumed()
    assert int(again.step) == 3
    assert tf.train.latest_checkpoint('pending') == 'pending/3'  # under the path as given


def test_a_pending_save_is_finished_when_the_program_exits(tmp_path):
    # A TF program that saves and exits has its checkpoint; the asynchronous save must
    # not be dropped by the interpreter's shutdown
    script = (
        "import sys\n"
        "import xlaflow as tf\n"
        "ckpt = tf.train.Checkpoint(step=tf.Variable(7), big=tf.Variable(tf.ones([1_000_000])))\n"
        "print(tf.train.CheckpointManager(ckpt, sys.argv[1]).save())\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "exiting")],
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    path = done.stdout.strip().splitlines()[-1]
    assert os.listdir(path) and os.path.exists(os.path.join(path, "xlaflow_seal.json"))
    ckpt = tf.train.Checkpoint(step=tf.Variable(0), big=tf.Variable(tf.zeros([1_000_000])))
    ckpt.restore(tf.train.latest_checkpoint(str(tmp_path / "exiting"))).assert_consumed()
    assert int(ckpt.step) == 7 and float(tf.reduce_sum(ckpt.big)) == 1_000_000
