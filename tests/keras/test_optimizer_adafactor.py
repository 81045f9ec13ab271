"""Adafactor against a float64 NumPy oracle of Keras' (2.11+) update rule, written here
from the formulas: factored second moments for variables of 2+ axes, a full one below;
through fit, saving in TF 2.12's optimizer layout, and Keras' names."""

import numpy as np
import pytest

import xlaflow as xf
from tests.keras.test_optimizers_adadelta_ftrl_lion import check_fit_save_resume
from xlaflow.keras import optimizers

RNG = np.random.default_rng(12)
SHAPES = [(3,), (4, 5), (2, 3, 4)]
W0 = [RNG.normal(size=s).astype(np.float32) for s in SHAPES]
GRADS = [[(RNG.normal(size=s) * scale).astype(np.float32) for s in SHAPES]
         for scale in (1.0, 0.5, 0.1, 2.0, 1e-2)]


def rms(x):
    return np.sqrt(np.mean(np.square(x)))


def oracle(lr=0.001, decay=-0.8, eps1=1e-30, eps2=1e-3, clip=1.0):
    ws = [w.astype(np.float64) for w in W0]
    r = [np.zeros(w.shape[:-1]) for w in ws]
    c = [np.zeros(w.shape[:-2] + w.shape[-1:]) for w in ws]
    v = [np.zeros(w.shape) for w in ws]
    for t, grads in enumerate(GRADS, start=1):
        rho = min(lr, 1 / np.sqrt(t))
        beta = 1 - t ** decay
        for i, (w, g) in enumerate(zip(ws, grads)):
            g = g.astype(np.float64)
            sq = g * g + eps1
            if w.ndim >= 2:
                r[i] = beta * r[i] + (1 - beta) * sq.mean(-1)
                c[i] = beta * c[i] + (1 - beta) * sq.mean(-2)
                v[i] = (r[i] / r[i].mean(-1, keepdims=True))[..., None] * c[i][..., None, :]
            else:
                v[i] = beta * v[i] + (1 - beta) * sq
            u = g / np.sqrt(v[i])
            u = u / max(1.0, rms(u) / clip)
            ws[i] = w - max(eps2, rms(w)) * rho * u
    return ws


def ours(opt):
    variables = [xf.Variable(w.copy()) for w in W0]
    for grads in GRADS:
        opt.apply_gradients(zip(grads, variables))
    return [np.asarray(v.numpy(), np.float64) for v in variables]


@pytest.mark.parametrize("kwargs", [
    {},
    {"learning_rate": 0.5},  # 1/sqrt(t) is the smaller rate from step 5
    {"learning_rate": 0.05, "beta_2_decay": -0.5, "epsilon_2": 0.1, "clip_threshold": 0.3},
], ids=["defaults", "relative_step", "options"])
def test_update_rule_matches_keras(kwargs):
    names = {"learning_rate": "lr", "beta_2_decay": "decay", "epsilon_2": "eps2",
             "clip_threshold": "clip"}
    expected = oracle(**{names[k]: v for k, v in kwargs.items()})
    # relative to how far the weights moved (~1e-3 a step at the default rate); the atol is
    # float32's rounding of weights near 1 over five steps
    for got, want, w0 in zip(ours(optimizers.Adafactor(**kwargs)), expected, W0):
        np.testing.assert_allclose(got - w0, want - w0, rtol=2e-5, atol=1e-6)


def test_slots_are_factored_for_two_or_more_axes():
    variables = [xf.Variable(w) for w in W0]
    opt = optimizers.Adafactor()
    opt.build(variables)
    by_id = {id(s): s for s in opt.variables}
    shapes = {(owner.shape, name): by_id[key].shape
              for key, (owner, name) in opt.slot_owners().items()}
    assert shapes[((4, 5), "r")] == (4,) and shapes[((4, 5), "c")] == (5,)
    assert shapes[((2, 3, 4), "r")] == (2, 3) and shapes[((2, 3, 4), "c")] == (2, 4)
    assert shapes[((3,), "v")] == (3,) and shapes[((3,), "r")] == ()  # Keras' placeholder


def test_names_and_config():
    assert type(optimizers.get("adafactor")) is optimizers.Adafactor
    opt = optimizers.Adafactor(0.01, beta_2_decay=-0.6, relative_step=False)
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert type(again) is optimizers.Adafactor and again.get_config() == opt.get_config()
    assert opt.get_config()["relative_step"] is False


def test_fit_learns_and_the_saved_model_resumes_identically(tmp_path):
    # a hidden layer: a 2-axis kernel, so the factored slots are saved and restored too
    check_fit_save_resume(lambda: optimizers.Adafactor(0.05), tmp_path, hidden=3)


def test_the_file_holds_tf_212s_optimizer_variables(tmp_path):
    import zipfile

    import h5py

    model = xf.keras.Sequential([xf.keras.layers.Dense(3, input_shape=(4,))])
    model.compile(optimizer=optimizers.Adafactor(), loss="mse")
    model.fit(np.ones((8, 4), np.float32), np.ones((8, 3), np.float32), verbose=0)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        archive.extract("model.weights.h5", tmp_path)
    with h5py.File(tmp_path / "model.weights.h5") as f:
        group = f["optimizer/vars"]
        shapes = [tuple(group[str(i)].shape) for i in range(len(group))]
    # iterations, then per weight r, c, v, with no r and c for the (3,) bias (TF's order)
    assert shapes == [(), (4,), (3,), (4, 3), (3,)]
