"""A compiled Keras model carries its optimizer in `xf.train.Checkpoint(model=model)`, as TF.

Oracles: training continued after a restore gives the same weights as training that was
never interrupted, and a hand-written numpy Adam (Keras' formula) for the first steps.
The status object follows TF: assert_consumed fails while saved optimizer values went
unrestored, assert_existing_objects_matched fails while an optimizer here got no values."""

import json
import os

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import random as xf_random
from xlaflow import train
from xlaflow.keras import callbacks, layers, models, optimizers

RNG = np.random.default_rng(11)
X = RNG.normal(size=(32, 5)).astype(np.float32)
Y = (X @ RNG.normal(size=(5, 3)) + 0.5).astype(np.float32)
BATCHES = [(X[i:i + 8], Y[i:i + 8]) for i in range(0, 32, 8)]
HERE = [xf.config.list_physical_devices()[0].device_type.lower()]


def build(seed=0, optimizer="adam", compiled=True):
    xf_random.set_global_seed(seed)
    model = models.Sequential([layers.Dense(6, activation="tanh", input_shape=(5,)),
                               layers.Dense(3)])
    model.predict(X[:1], verbose=0)  # the weights exist; the optimizer has no state yet
    if compiled:
        opt = optimizers.Adam(0.05) if optimizer == "adam" else optimizers.SGD(0.05)
        model.compile(optimizer=opt, loss="mse")
    return model


def train_steps(model, batches):
    for x, y in batches:
        model.train_on_batch(x, y)


def weights(model):
    return [np.asarray(v.numpy()) for v in model.variables]


def manifest(path):
    with open(os.path.join(path, "digest", "metadata")) as f:
        return json.load(f)["objects"]


def test_resuming_from_checkpoint_model_only_equals_uninterrupted_training(tmp_path):
    reference = build()
    train_steps(reference, BATCHES)
    train_steps(reference, BATCHES[:3])

    model = build()
    train_steps(model, BATCHES)
    path = train.Checkpoint(model=model).save(tmp_path / "ckpt")
    keys = sorted(manifest(path)["model"])
    # The documented layout: the model's Variables, then its optimizer's under `optimizer/`.
    assert keys[:4] == ["0000_kernel", "0001_bias", "0002_kernel", "0003_bias"]
    assert keys[4:7] == ["optimizer/0000_iterations", "optimizer/0001_learning_rate",
                         "optimizer/0002_state_0"]
    assert len(keys) == 4 + 2 + 2 * 4  # Adam: m and v for each of the four weights

    fresh = build(seed=5)  # other initial weights, and its Adam has built no slots yet
    assert fresh.optimizer._state is None
    train.Checkpoint(model=fresh).restore(path).assert_consumed()
    assert int(fresh.optimizer.iterations.numpy()) == 4
    for got, want in zip(fresh.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    train_steps(fresh, BATCHES[:3])
    for got, want in zip(weights(fresh), weights(reference)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def numpy_adam(w, b, batches, lr=0.05, b1=0.9, b2=0.999, eps=1e-7):
    """Keras' Adam on a linear model under mean squared error, by hand."""
    params, m, v = [w.copy(), b.copy()], [np.zeros_like(w), np.zeros_like(b)], \
        [np.zeros_like(w), np.zeros_like(b)]
    for t, (x, y) in enumerate(batches, start=1):
        err = x @ params[0] + params[1] - y
        scale = 2.0 / err.size
        grads = [scale * x.T @ err, scale * err.sum(0)]
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            params[i] = params[i] - alpha * m[i] / (np.sqrt(v[i]) + eps)
    return params


def test_a_restored_adam_continues_as_numpy_adam(tmp_path):
    def linear(seed):
        xf_random.set_global_seed(seed)
        model = models.Sequential([layers.Dense(3, input_shape=(5,))])
        model.predict(X[:1], verbose=0)
        model.compile(optimizer=optimizers.Adam(0.05), loss="mse")
        return model

    model = linear(0)
    w0, b0 = (np.asarray(v.numpy(), np.float64) for v in model.variables)
    train_steps(model, BATCHES[:1])
    path = train.Checkpoint(model=model).write(tmp_path / "one_step")
    fresh = linear(3)
    train.Checkpoint(model=fresh).read(path).assert_consumed()
    train_steps(fresh, BATCHES[1:2])  # step 2: needs step 1's moments and t = 2
    want = numpy_adam(w0, b0, [(x.astype(np.float64), y) for x, y in BATCHES[:2]])
    for got, expect in zip(weights(fresh), want):
        np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-6)


def test_separately_tracked_optimizer_and_model_only_restores_agree(tmp_path):
    reference = build()
    train_steps(reference, BATCHES)
    model = build()
    train_steps(model, BATCHES[:2])
    path = train.Checkpoint(optimizer=model.optimizer, model=model).save(tmp_path / "c")
    # Each array is written once: the model's optimizer entries name the optimizer's.
    stored = manifest(path)
    shared = {k: e["same_as"] for k, e in stored["model"].items() if "same_as" in e}
    assert shared and all(k.startswith("optimizer/") for k in shared)
    assert all(o == "optimizer" and k == key.removeprefix("optimizer/")
               for key, (o, k) in shared.items())
    assert sorted(shared) == sorted(k for k in stored["model"] if k.startswith("optimizer/"))
    # A file written with both restores into a Checkpoint of the model alone (TF finds the
    # optimizer through the model), and into one tracking both.
    for track_both in (False, True):
        fresh = build(seed=7)
        objects = {"optimizer": fresh.optimizer} if track_both else {}
        status = train.Checkpoint(model=fresh, **objects).restore(path)
        if track_both:
            status.assert_consumed()
        else:  # the file's top-level `optimizer` object is not tracked here
            status.assert_existing_objects_matched()
            with pytest.raises(AssertionError, match=r"does not track: \['optimizer'\]"):
                status.assert_consumed()
        assert int(fresh.optimizer.iterations.numpy()) == 2
        train_steps(fresh, BATCHES[2:])
        for got, want in zip(weights(fresh), weights(reference)):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_a_model_only_checkpoint_restores_and_leaves_the_optimizer_fresh(tmp_path):
    # The layout of checkpoints written before models carried their optimizer (and of any
    # uncompiled model's): the model's Variables alone.
    source = build(seed=2, compiled=False)
    path = train.Checkpoint(model=source).save(tmp_path / "old")
    assert not any(k.startswith("optimizer/") for k in manifest(path)["model"])
    model = build()
    train_steps(model, BATCHES[:2])
    iterations = int(model.optimizer.iterations.numpy())
    moments = [np.asarray(v.numpy()) for v in model.optimizer.variables]
    status = train.Checkpoint(model=model).restore(path)
    for got, want in zip(weights(model), weights(source)):
        np.testing.assert_array_equal(got, want)
    assert int(model.optimizer.iterations.numpy()) == iterations  # its state is kept
    for got, want in zip(model.optimizer.variables, moments):
        np.testing.assert_array_equal(got.numpy(), want)
    for check in (status.assert_consumed, status.assert_existing_objects_matched):
        with pytest.raises(AssertionError, match=r"no values for \['model.optimizer'\]"):
            check()
    assert status.expect_partial() is status


def test_optimizer_values_into_an_uncompiled_model_are_reported_unused(tmp_path):
    model = build()
    train_steps(model, BATCHES[:1])
    path = train.Checkpoint(model=model).save(tmp_path / "c")
    plain = build(seed=4, compiled=False)
    status = train.Checkpoint(model=plain).restore(path)
    for got, want in zip(weights(plain), weights(model)):
        np.testing.assert_array_equal(got, want)
    status.assert_existing_objects_matched()
    with pytest.raises(AssertionError, match=r"did not restore: \['model.optimizer/0000_"
                                             r"iterations'"):
        status.assert_consumed()
    status.expect_partial()


def test_another_optimizer_is_refused_and_nothing_changes(tmp_path):
    model = build()
    train_steps(model, BATCHES[:1])
    path = train.Checkpoint(model=model).save(tmp_path / "c")
    other = build(seed=9, optimizer="sgd")
    before = weights(other)
    with pytest.raises(ValueError, match=r"model: the checkpoint lacks \[\] and has "
                                         r"unexpected \['optimizer/0002_state_0'"):
        train.Checkpoint(model=other).restore(path)
    for got, want in zip(weights(other), before):
        np.testing.assert_array_equal(got, want)
    assert int(other.optimizer.iterations.numpy()) == 0


def test_loss_scale_optimizer_state_is_restored_before_it_is_built(tmp_path):
    def scaled(seed):
        model = build(seed, compiled=False)
        model.compile(optimizer=xf.keras.mixed_precision.LossScaleOptimizer(
            optimizers.Adam(0.05)), loss="mse")
        return model

    model = scaled(0)
    train_steps(model, BATCHES[:2])
    path = train.Checkpoint(model=model).save(tmp_path / "c")
    fresh = scaled(1)
    train.Checkpoint(model=fresh).restore(path).assert_consumed()
    for got, want in zip(fresh.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    train_steps(model, BATCHES[2:])
    train_steps(fresh, BATCHES[2:])
    for got, want in zip(weights(fresh), weights(model)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_model_checkpoint_full_model_resumes_the_optimizer(tmp_path):
    reference = build()
    reference.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    model = build()
    model.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[
        callbacks.ModelCheckpoint(str(tmp_path / "m{epoch}"), platforms=HERE)])
    loaded = models.load_model(tmp_path / "m1")
    assert int(loaded.optimizer.iterations.numpy()) == 4
    loaded.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(weights(loaded), weights(reference)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_a_shared_entry_naming_a_missing_array_is_refused(tmp_path):
    model = build()
    train_steps(model, BATCHES[:1])
    path = train.Checkpoint(optimizer=model.optimizer, model=model).save(tmp_path / "c")
    file = os.path.join(path, "digest", "metadata")
    with open(file) as f:
        data = json.load(f)
    data["objects"]["model"]["optimizer/0000_iterations"]["same_as"] = ["optimizer", "nope"]
    with open(file, "w") as f:
        json.dump(data, f)
    os.remove(os.path.join(path, "xlaflow_seal.json"))  # as if it died before sealing
    fresh = build(seed=1)
    with pytest.raises(train.CheckpointIntegrityError, match=r"model.optimizer/0000_iterations "
                                                             r"names \['optimizer', 'nope'\]"):
        train.Checkpoint(model=fresh).restore(path)
    assert int(fresh.optimizer.iterations.numpy()) == 0


def test_an_older_backup_with_a_separate_optimizer_still_resumes_exactly(tmp_path):
    # BackupAndRestore tracks `model` and `optimizer`; before models carried their
    # optimizer, its file held the model's Variables alone and the optimizer beside them.
    reference = build()
    train_steps(reference, BATCHES)
    model = build()
    train_steps(model, BATCHES[:2])
    bare = build(seed=3, compiled=False)
    bare.set_weights(model.get_weights())
    path = train.Checkpoint(model=bare, optimizer=model.optimizer).save(tmp_path / "old")
    assert not any(k.startswith("optimizer/") for k in manifest(path)["model"])
    fresh = build(seed=8)
    # The optimizer gets its values as `optimizer`, so nothing is reported unbound.
    train.Checkpoint(model=fresh, optimizer=fresh.optimizer).restore(path).assert_consumed()
    train_steps(fresh, BATCHES[2:])
    for got, want in zip(weights(fresh), weights(reference)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def _gan_pair(seed):
    # two models of different shapes, each trained by its own optimizer in a custom loop
    # (TF's DCGAN tutorial checkpoints generator, discriminator and both optimizers)
    xf_random.set_global_seed(seed)
    gen = models.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(5)])
    disc = models.Sequential([layers.Dense(2, input_shape=(5,))])
    return gen, disc, optimizers.Adam(0.05), optimizers.Adam(0.02)


@xf.function
def _gan_step(gen, disc, g_opt, d_opt, z):
    with xf.GradientTape(persistent=True) as tape:
        out = disc(gen(z))
        g_loss, d_loss = xf.reduce_mean(out), xf.reduce_mean(xf.square(out))
    g_opt.apply_gradients(zip(tape.gradient(g_loss, gen.trainable_variables),
                              gen.trainable_variables))
    d_opt.apply_gradients(zip(tape.gradient(d_loss, disc.trainable_variables),
                              disc.trainable_variables))


def test_two_models_two_fresh_optimizers_pair_by_the_stored_state_shapes(tmp_path):
    z = RNG.normal(size=(8, 3)).astype(np.float32)
    gen, disc, g_opt, d_opt = _gan_pair(0)
    for _ in range(3):
        _gan_step(gen, disc, g_opt, d_opt, z)
    ckpt = train.Checkpoint(generator_optimizer=g_opt, discriminator_optimizer=d_opt,
                            generator=gen, discriminator=disc)
    path = ckpt.save(tmp_path / "ckpt")
    gen2, disc2, g_opt2, d_opt2 = _gan_pair(1)  # other weights; no optimizer state yet
    train.Checkpoint(generator_optimizer=g_opt2, discriminator_optimizer=d_opt2,
                     generator=gen2, discriminator=disc2).restore(path).assert_consumed()
    # oracle: the restored pair continues exactly as the uninterrupted one (Adam moments)
    _gan_step(gen, disc, g_opt, d_opt, z)
    _gan_step(gen2, disc2, g_opt2, d_opt2, z)
    for a, b in zip(weights(gen) + weights(disc), weights(gen2) + weights(disc2)):
        np.testing.assert_array_equal(a, b)
    assert int(g_opt2.iterations) == int(d_opt2.iterations) == 4

    # two models the state fits equally: tests/saving/test_checkpoint_slot_pairing.py
