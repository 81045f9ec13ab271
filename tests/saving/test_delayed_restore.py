"""TF's delayed restoration: values restored into a model or layer with no variables yet
are assigned when its first call creates them, before that call computes.

Oracles: the saved arrays themselves (a Dense output is `x @ kernel + bias` in NumPy), the
optimizer's saved state, and TF's documented status behaviour ("Training checkpoints":
assert_consumed fails until the variables exist, assert_existing_objects_matched passes)."""

import gc
import weakref

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import train
from xlaflow.keras import layers, optimizers
from xlaflow.layers import base

X = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)


class Net(xf.keras.Model):
    """The guide's simple linear model."""

    def __init__(self):
        super().__init__()
        self.l1 = layers.Dense(5)

    def call(self, x):
        return self.l1(x)


def trained(seed=0):
    """A built Net and its Adam after one step, and the arrays they hold."""
    xf.keras.utils.set_random_seed(seed)
    net, opt = Net(), optimizers.Adam(0.1)
    with xf.GradientTape() as tape:
        loss = xf.reduce_sum(net(X) ** 2)
    opt.apply_gradients(zip(tape.gradient(loss, net.trainable_variables),
                            net.trainable_variables))
    return net, opt, [v.numpy().copy() for v in net.variables], \
        [np.asarray(v.numpy()).copy() for v in opt.variables]


def dense(x, kernel, bias):
    return x @ kernel + bias


def test_the_guides_net_restored_before_it_is_built(tmp_path):
    net, opt, (kernel, bias), opt_state = trained()
    path = train.Checkpoint(step=xf.Variable(1), optimizer=opt, net=net).save(
        tmp_path / "ckpt")
    new_net, new_opt, step = Net(), optimizers.Adam(0.1), xf.Variable(0)
    status = train.Checkpoint(step=step, optimizer=new_opt, net=new_net).restore(path)
    assert int(step.numpy()) == 1 and not new_net.variables  # the step now, the net later
    status.assert_existing_objects_matched()
    with pytest.raises(AssertionError, match=r"net, optimizer: the values wait for the "
                                             r"first call"):
        status.assert_consumed()
    # the first call computes with the restored values
    np.testing.assert_allclose(new_net(X), dense(X, kernel, bias), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(new_net.l1.kernel.numpy(), kernel)
    np.testing.assert_array_equal(new_net.l1.bias.numpy(), bias)
    for saved, restored in zip(opt_state, new_opt.variables, strict=True):
        np.testing.assert_array_equal(saved, restored.numpy())
    status.assert_consumed()


def test_a_dense_layer_restored_before_it_is_built(tmp_path):
    layer = layers.Dense(2)
    layer(X)
    path = train.Checkpoint(layer=layer).write(tmp_path / "c")
    fresh = layers.Dense(2)
    status = train.Checkpoint(layer=fresh).restore(path)
    out = fresh(X)
    np.testing.assert_allclose(out, dense(X, layer.kernel.numpy(), layer.bias.numpy()),
                               rtol=1e-6, atol=1e-6)
    status.assert_consumed()


def test_a_first_call_traced_by_xf_function_gets_the_values(tmp_path):
    net, _, (kernel, bias), _ = trained()
    path = train.Checkpoint(net=net).write(tmp_path / "c")
    new_net = Net()
    status = train.Checkpoint(net=new_net).restore(path)
    np.testing.assert_allclose(xf.function(lambda x: new_net(x))(X), dense(X, kernel, bias),
                               rtol=1e-6, atol=1e-6)
    status.assert_consumed()


def test_load_weights_into_an_unbuilt_subclassed_model(tmp_path):
    net, _, (kernel, bias), _ = trained()
    net.save_weights(str(tmp_path / "w"))
    new_net = Net()
    status = new_net.load_weights(str(tmp_path / "w"))
    with pytest.raises(AssertionError, match="the values wait for the first call"):
        status.assert_consumed()
    np.testing.assert_allclose(new_net.predict(X, verbose=0), dense(X, kernel, bias),
                               rtol=1e-6, atol=1e-6)
    status.assert_consumed()


def test_explicit_build_applies_the_values(tmp_path):
    net, _, (kernel, _), _ = trained()
    path = train.Checkpoint(net=net).write(tmp_path / "c")
    new_net = Net()
    status = train.Checkpoint(net=new_net).restore(path)
    new_net.build((None, 3))
    np.testing.assert_array_equal(new_net.l1.kernel.numpy(), kernel)
    status.assert_consumed()


def test_a_shape_mismatch_at_build_names_the_variable_and_assigns_nothing(tmp_path):
    net, _, _, _ = trained()
    path = train.Checkpoint(net=net).write(tmp_path / "c")
    new_net = Net()
    status = train.Checkpoint(net=new_net).restore(path)
    wider = np.ones((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"(?s)does not match 'net', whose values waited.*"
                                         r"net\.0000_kernel \(dense_\d+/kernel\): the variable "
                                         r"is shape \(4, 5\) dtype float32, the checkpoint "
                                         r"holds shape \(3, 5\)"):
        new_net(wider)
    np.testing.assert_array_equal(new_net.l1.bias.numpy(), np.zeros(5, np.float32))
    with pytest.raises(AssertionError, match="the first call failed before the values"):
        status.assert_consumed()
    # load_weights names the weight the same way
    net.save_weights(str(tmp_path / "w"))
    other = Net()
    other.load_weights(str(tmp_path / "w"))
    with pytest.raises(ValueError, match=r"dense_\d+/kernel has shape \(4, 5\), the "
                                         r"checkpoint's 0000_kernel has \(3, 5\)"):
        other(wider)


def test_a_restored_then_deleted_model_leaves_nothing_waiting(tmp_path):
    net, opt, _, _ = trained()
    path = train.Checkpoint(net=net, optimizer=opt).write(tmp_path / "c")
    before = len(base.first_call_hooks)
    new_net, new_opt = Net(), optimizers.Adam()
    status = train.Checkpoint(net=new_net, optimizer=new_opt).restore(path)
    assert len(base.first_call_hooks) == before + 1
    refs = weakref.ref(new_net), weakref.ref(new_opt)
    del new_net, new_opt
    gc.collect()
    assert [r() for r in refs] == [None, None]
    assert len(base.first_call_hooks) == before
    with pytest.raises(AssertionError, match="the values wait"):
        status.assert_consumed()  # they never found their variables


def test_a_second_restore_replaces_the_waiting_values(tmp_path):
    first, _, _, _ = trained(seed=1)
    second, _, (kernel, bias), _ = trained(seed=2)
    path_1 = train.Checkpoint(net=first).write(tmp_path / "a")
    path_2 = train.Checkpoint(net=second).write(tmp_path / "b")
    new_net = Net()
    ckpt = train.Checkpoint(net=new_net)
    status_1, status_2 = ckpt.restore(path_1), ckpt.restore(path_2)
    np.testing.assert_allclose(new_net(X), dense(X, kernel, bias), rtol=1e-6, atol=1e-6)
    status_2.assert_consumed()
    with pytest.raises(AssertionError, match="a later restore replaced the values"):
        status_1.assert_consumed()


def test_a_built_model_is_restored_at_once_as_before(tmp_path):
    net, _, (kernel, bias), _ = trained()
    path = train.Checkpoint(net=net).write(tmp_path / "c")
    built = Net()
    built(X)
    before = len(base.first_call_hooks)
    train.Checkpoint(net=built).restore(path).assert_consumed()
    assert len(base.first_call_hooks) == before
    np.testing.assert_array_equal(built.l1.kernel.numpy(), kernel)
    np.testing.assert_array_equal(built.l1.bias.numpy(), bias)
    # a list of unbuilt layers is not a layer: still refused, with the hint
    with pytest.raises(ValueError, match="it has no variables yet: build it first"):
        train.Checkpoint(net=[layers.Dense(5)]).restore(path)


@pytest.mark.parametrize("first", ["call", "build", "fit"])
def test_a_compiled_sequential_gets_its_optimizer_state_too(tmp_path, first):
    def make():
        model = xf.keras.models.Sequential([layers.Dense(4, activation="relu"),
                                            layers.BatchNormalization(), layers.Dense(2)])
        model.compile(optimizer=optimizers.Adam(0.01), loss="mse")
        return model
    y = np.ones((4, 2), np.float32)
    saved = make()
    saved.fit(X, y, epochs=2, verbose=0)
    path = train.Checkpoint(model=saved).write(tmp_path / "c")
    model = make()
    status = train.Checkpoint(model=model).restore(path)
    if first == "call":
        model(X)
    elif first == "build":
        model.build((None, 3))
    else:
        model.fit(X, y, epochs=0, verbose=0)
    status.assert_consumed()
    for a, b in zip([*saved.variables, *saved.optimizer.variables],
                    [*model.variables, *model.optimizer.variables], strict=True):
        np.testing.assert_array_equal(np.asarray(a.numpy()), np.asarray(b.numpy()))
