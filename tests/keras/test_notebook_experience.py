"""What xlaflow looks like in a notebook: the progress bar as one live display in a Jupyter
kernel (a fake kernel here; tests/test_notebooks.py runs real ones), plot_history,
plot_model / model_to_dot, and summary()'s fixed-width table."""

import shutil
import sys
import types

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models
from xlaflow.training import progress

RNG = np.random.default_rng(0)
X = RNG.normal(size=(100, 6)).astype(np.float32)
Y = (X[:, :3].sum(-1) > 0).astype(np.int32)


def mlp():
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)),
                               layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


# -- the progress bar in a kernel -------------------------------------------------------------
class FakeHandle:
    def __init__(self, bundle):
        self.shown = [bundle]

    def update(self, bundle, raw=False):
        assert raw
        self.shown.append(bundle)


class FakeDisplay:
    """IPython.display.display with display_id=True: records one handle per display."""

    def __init__(self):
        self.handles = []

    def __call__(self, bundle, raw=False, display_id=None):
        assert raw and display_id is True
        self.handles.append(FakeHandle(bundle))
        return self.handles[-1]


@pytest.fixture
def fake_kernel(monkeypatch):
    pytest.importorskip("IPython")
    import IPython.display
    display = FakeDisplay()
    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    return display


def test_notebook_detection(monkeypatch):
    IPython = pytest.importorskip("IPython")
    assert not progress.in_notebook()  # pytest is no kernel
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert not progress.in_notebook()  # ipykernel imported, but no shell
    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace(kernel=None))
    assert not progress.in_notebook()  # a terminal IPython
    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace(kernel=object()))
    assert progress.in_notebook()


def test_progbar_in_a_kernel_updates_one_display(fake_kernel, capsys):
    bar = progress.Progbar(10, verbose=1, interval=0.0)
    for step in range(1, 10):
        bar.update(step, {"loss": 1.0 / step})
    bar.update(10, {"loss": 0.1}, final=True)
    assert capsys.readouterr().out == ""  # nothing printed: all of it in the display
    [handle] = fake_kernel.handles
    texts = [b["text/plain"] for b in handle.shown]
    assert len(texts) == 10
    assert texts[0].startswith(" 1/10 [==>") and "ETA:" in texts[0]
    assert texts[-1].startswith("10/10 [==============================] - ")
    assert texts[-1].endswith("/step - loss: 0.1000")
    html = handle.shown[-1]["text/html"]
    assert html.startswith("<pre") and "==&gt;" not in html and "10/10 [====" in html
    assert "&gt;" in handle.shown[0]["text/html"]  # the bar's head, escaped


def test_progbar_redraws_at_most_every_interval(fake_kernel):
    bar = progress.Progbar(1000, verbose=1, interval=3600.0)
    for step in range(1, 1000):
        bar.update(step, {"loss": 1.0})
    bar.update(1000, {"loss": 1.0}, final=True)
    [handle] = fake_kernel.handles
    assert len(handle.shown) == 2  # the first step (due at once), then the final line


def test_the_first_step_draws_on_a_machine_booted_moments_ago(fake_kernel, monkeypatch):
    # perf_counter counts from boot: a fresh VM reads a few seconds
    monkeypatch.setattr(progress.time, "perf_counter", lambda: 5.0)
    bar = progress.Progbar(10, verbose=1, interval=60.0)
    bar.update(1, {"loss": 1.0})
    [handle] = fake_kernel.handles
    assert handle.shown[0]["text/plain"].startswith(" 1/10 [")


def test_fit_in_a_kernel_one_display_per_epoch(fake_kernel, capsys):
    model = mlp()
    model.fit(X, Y, epochs=2, batch_size=50, verbose=1, validation_split=0.2)
    out = capsys.readouterr().out
    assert "Epoch 1/1" not in out and "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "[===" not in out  # the bars went to the displays
    assert len(fake_kernel.handles) == 2
    for handle in fake_kernel.handles:
        final = handle.shown[-1]["text/plain"]
        assert final.startswith("2/2 [==============================] - ")
        assert "loss:" in final and "val_accuracy:" in final
    model.evaluate(X, Y, verbose=1)
    assert len(fake_kernel.handles) == 3
    assert fake_kernel.handles[-1].shown[-1]["text/plain"].startswith("4/4 [====")


def test_verbose_2_in_a_kernel_prints_lines(fake_kernel, capsys):
    mlp().fit(X, Y, epochs=2, batch_size=50, verbose=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if "loss:" in line]
    # Keras 2's verbose=2 line: no bar; the epoch's time and the time per step at the end
    assert len(lines) == 2 and lines[0].startswith("2/2 - ") and "[" not in lines[0]
    assert lines[0].split(" - ")[-2].endswith("/epoch") and lines[0].endswith("/step")
    assert fake_kernel.handles == []


def test_an_explicit_stream_gets_text_even_in_a_kernel(fake_kernel):
    import io
    stream = io.StringIO()
    bar = progress.Progbar(2, verbose=1, stream=stream)
    bar.update(2, {"loss": 0.5}, final=True)
    assert stream.getvalue().startswith("2/2 [====") and fake_kernel.handles == []


def test_pipe_output_is_unchanged(capsys):
    """Not a terminal, not a kernel (pytest's captured stdout): final lines only."""
    mlp().fit(X, Y, epochs=1, batch_size=10, verbose=1)
    out = capsys.readouterr().out
    assert "\r" not in out
    assert [line for line in out.splitlines() if "[" in line] == [
        line for line in out.splitlines() if line.startswith("10/10 [")]


# -- plot_history -----------------------------------------------------------------------------
@pytest.fixture
def history():
    pytest.importorskip("matplotlib")
    model = mlp()
    return model.fit(X, Y, epochs=3, batch_size=20, verbose=0, validation_split=0.2)


def test_plot_history_draws_each_metric_with_its_validation_curve(history):
    fig = xf.keras.utils.plot_history(history)
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy"]
    for ax in axes:
        name = ax.get_title()
        train, val = ax.get_lines()
        assert train.get_label() == "train" and val.get_label() == "validation"
        np.testing.assert_allclose(train.get_ydata(), history.history[name])
        np.testing.assert_allclose(val.get_ydata(), history.history[f"val_{name}"])
        np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3])
        assert ax.get_xlabel() == "epoch"
    assert fig._repr_png_().startswith(b"\x89PNG")  # what a notebook shows


def test_plot_history_chosen_metrics_and_dicts(history):
    fig = xf.keras.utils.plot_history(history.history, metrics="accuracy")
    [ax] = fig.get_axes()
    assert ax.get_title() == "accuracy" and len(ax.get_lines()) == 2
    fig = xf.keras.utils.plot_history({"loss": [3.0, 2.0, 1.0, 0.5], "mae": [1, 1, 1, 1],
                                       "lr": [1, 1, 1, 1], "val_loss": [3, 3, 3, 3]})
    assert [ax.get_title() for ax in fig.get_axes()] == ["loss", "mae", "lr"]
    assert [len(ax.get_lines()) for ax in fig.get_axes()] == [2, 1, 1]
    with pytest.raises(ValueError, match=r"no logged values for \['auc'\]"):
        xf.keras.utils.plot_history(history, metrics=["auc"])
    with pytest.raises(TypeError, match="the History that fit returns"):
        xf.keras.utils.plot_history([1.0, 2.0])


def test_plot_history_without_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    with pytest.raises(ImportError, match=r"pip install 'xlaflow\[notebooks\]'"):
        xf.keras.utils.plot_history({"loss": [1.0]})


# -- plot_model -------------------------------------------------------------------------------
def functional():
    a = xf.keras.Input((4,), name="a")
    b = xf.keras.Input((3,), name="b")
    shared = layers.Dense(5, name="shared")
    h = layers.Concatenate(name="join")([shared(a), layers.Dense(5, name="side")(b)])
    return models.Model([a, b], layers.Dense(2, name="head")(h))


def edges(dot):
    """{(from label, to label)} of a graphviz.Digraph, by the nodes' first label line."""
    labels = {}
    pairs = []
    for line in dot.body:
        line = line.strip()
        if " -> " in line:
            pairs.append(tuple(line.split(" -> ")))
        elif "[label=" in line:
            node, label = line.split(" [label=", 1)
            labels[node] = label.strip('"]').split("\\n")[0].split(" (")[0]
    return {(labels[a], labels[b]) for a, b in pairs}


def test_model_to_dot_sequential_and_functional():
    pytest.importorskip("graphviz")
    seq = models.Sequential([layers.Dense(8, input_shape=(6,), name="d1"),
                             layers.Dense(2, name="d2")])
    dot = xf.keras.utils.model_to_dot(seq, show_shapes=True)
    assert edges(dot) == {("input", "d1"), ("d1", "d2")}
    assert "d1 (Dense)\\n(None, 8)" in dot.source and "(None, 6)" in dot.source
    dot = xf.keras.utils.model_to_dot(functional())
    assert edges(dot) == {("a", "shared"), ("b", "side"), ("shared", "join"),
                          ("side", "join"), ("join", "head")}
    assert "(None," not in dot.source  # no shapes unless asked


def test_plot_model_without_dot_says_what_to_install(monkeypatch):
    pytest.importorskip("graphviz")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ImportError, match=r"Graphviz's `dot` program.*apt-get install graphviz"):
        xf.keras.utils.plot_model(functional())


def test_plot_model_without_the_graphviz_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)
    with pytest.raises(ImportError, match=r"'graphviz' package.*xlaflow\[notebooks\]"):
        xf.keras.utils.plot_model(functional())


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_plot_model_draws_svg_and_png(tmp_path):
    pytest.importorskip("graphviz")
    IPython_display = pytest.importorskip("IPython.display")
    svg = xf.keras.utils.plot_model(functional(), show_shapes=True)
    assert isinstance(svg, IPython_display.SVG)
    assert "<svg" in svg.data and "head (Dense)" in svg.data
    png = xf.keras.utils.plot_model(mlp(), to_file=tmp_path / "model.png")
    assert isinstance(png, IPython_display.Image)
    assert (tmp_path / "model.png").read_bytes().startswith(b"\x89PNG")


# -- summary ----------------------------------------------------------------------------------
def test_summary_is_a_fixed_width_table(capsys):
    functional().summary()
    lines = capsys.readouterr().out.splitlines()
    table = lines[1:]
    # Keras 2.12's rules and rows: every line of the table but the totals is as wide
    assert len({len(line) for line in table if not line.startswith(("Total", "Trainable",
                                                                     "Non-trainable"))}) == 1
    assert not any("\t" in line or "\r" in line for line in lines)


def test_keras_2_number_and_time_formats():
    # 4 decimals above 1e-3, else 4 significant digits; negatives too, as Keras 2
    assert progress.format_logs({"loss": 0.25, "tiny": 2e-5, "neg": -1.5}) == \
        "loss: 0.2500 - tiny: 2.0000e-05 - neg: -1.5000e+00"
    assert [progress.format_time(t, "step") for t in (0.0, 2.4, 0.0123, 4.2e-5)] == \
        ["0s/step", "2s/step", "12ms/step", "42us/step"]


def test_predict_shows_a_bar_as_keras_2(capsys):
    model = mlp()
    model.predict(X, batch_size=50, verbose=2)
    assert next(line for line in capsys.readouterr().out.splitlines() if "/step" in line) \
        .startswith("2/2 - ")
    model.predict(X, batch_size=50)  # verbose "auto": the bar's final line
    assert capsys.readouterr().out.startswith("2/2 [==============================] - ")
    model.predict(X, batch_size=50, verbose=0)
    assert capsys.readouterr().out == ""
