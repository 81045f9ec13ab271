"""Plots for notebooks: `plot_history` (matplotlib) and `plot_model` / `model_to_dot`
(Graphviz). Exposed as `xf.keras.utils.plot_history`, `plot_model` and `model_to_dot`.

Both need the `notebooks` extra (`pip install 'xlaflow[notebooks]'`: matplotlib, and the
`graphviz` Python package); `plot_model` also needs Graphviz's `dot` program, a system
package (`apt-get install graphviz`, `brew install graphviz`, `conda install graphviz`).
Each is imported on first use, so `import xlaflow` never pays for them.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil

_EXTRA = "pip install 'xlaflow[notebooks]'"


def _require(module, what):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as e:
        raise ImportError(f"{what} needs the {module.split('.')[0]!r} package, which is not "
                          f"installed: {_EXTRA}") from e


# -- plot_history ---------------------------------------------------------------------------
_FIGURE = None


def _figure_class(figure_mod):
    """A matplotlib Figure that IPython shows as a PNG even when pyplot (whose inline
    backend registers Figure's formatter) has not been imported."""
    global _FIGURE
    if _FIGURE is None:
        class Figure(figure_mod.Figure):
            def _repr_png_(self):
                import io
                buffer = io.BytesIO()
                self.savefig(buffer, format="png")
                return buffer.getvalue()
        _FIGURE = Figure
    return _FIGURE


def _history_dict(history):
    """{name: [value per epoch]} and the epoch numbers (1-based) of a History or a dict."""
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict):
        raise TypeError("plot_history: pass the History that fit returns (or its .history "
                        f"dict); received {type(history).__name__}")
    logs = {k: [float(v) for v in vs] for k, vs in logs.items()}
    epochs = getattr(history, "epoch", None)
    n = max((len(v) for v in logs.values()), default=0)
    epochs = [e + 1 for e in epochs] if epochs and len(epochs) == n else list(range(1, n + 1))
    return logs, epochs


def plot_history(history, metrics=None, *, ncols=None, figsize=None):
    """A matplotlib Figure of the training history: one subplot per metric (`loss`,
    `accuracy`, ...) with its training curve and, when `fit` validated, its `val_` curve,
    against the epoch.

    `history` is what `model.fit` returns (or its `.history` dict); `metrics` names the
    subplots (default: every logged metric without the `val_` prefix, in logging order).
    The figure is made without pyplot (no global state, no window, not drawn a second time
    by an inline backend): a notebook shows it as the value of the cell; elsewhere, use
    `fig.savefig(path)`.
    """
    figure_mod = _require("matplotlib.figure", "plot_history")
    logs, epochs = _history_dict(history)
    if metrics is None:
        metrics = [k for k in logs if not k.startswith("val_")]
        metrics += [k[4:] for k in logs if k.startswith("val_") and k[4:] not in logs]
    elif isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(metrics)
    missing = [m for m in metrics if m not in logs and f"val_{m}" not in logs]
    if missing or not metrics:
        raise ValueError(f"plot_history: no logged values for {missing or 'any metric'}; "
                         f"the history has {sorted(logs)}")
    ncols = ncols or min(len(metrics), 3)
    nrows = math.ceil(len(metrics) / ncols)
    fig = _figure_class(figure_mod)(figsize=figsize or (4.2 * ncols, 3.2 * nrows),
                                    layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, name in zip(axes, metrics):
        for key, label in ((name, "train"), (f"val_{name}", "validation")):
            if key in logs:
                ax.plot(epochs[:len(logs[key])], logs[key], marker="o", markersize=3,
                        label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend()
        if len(epochs) < 12:
            ax.set_xticks(epochs)
    for ax in axes[len(metrics):]:
        fig.delaxes(ax)
    return fig


# -- plot_model -----------------------------------------------------------------------------
def _shape_text(model):
    """{layer name: output shape text} as model.summary() shows them (empty if unknown)."""
    try:
        from xlaflow.models.summary import _layer_rows
        return {name: shape for name, _, shape, *_ in _layer_rows(model)}
    except Exception:  # noqa: BLE001 -- shapes are decoration; the graph draws without them
        return {}


def _label(name, kind, shape, show_layer_names, show_shapes):
    head = f"{name} ({kind})" if show_layer_names else kind
    return f"{head}\\n{shape}" if show_shapes and shape else head  # DOT's line break


def _graph_edges(model):
    """(nodes, edges): nodes as [(id, name, class name, input shape or None)] in order,
    edges as [(id, id)]."""
    import jax

    from xlaflow.layers.symbolic import is_symbolic
    from xlaflow.models.summary import keras_class_name
    graph = getattr(model, "_graph", None)
    if graph is not None:  # functional: the recorded layer calls
        nodes, edges = [], []
        for t in jax.tree_util.tree_leaves(graph.inputs, is_leaf=is_symbolic):
            nodes.append((f"t{id(t)}", t.name or "input", "InputLayer", str(t.shape)))
        seen = set()
        for node in graph.nodes:
            lid = f"l{id(node.layer)}"
            if lid not in seen:  # a shared layer is one box, with an edge per call
                seen.add(lid)
                nodes.append((lid, node.layer.name, keras_class_name(node.layer), None))
            for parent in jax.tree_util.tree_leaves(node.inputs, is_leaf=is_symbolic):
                if is_symbolic(parent):
                    src = f"t{id(parent)}" if parent.node is None else \
                        f"l{id(parent.node.layer)}"
                    if (src, lid) not in edges:
                        edges.append((src, lid))
        return nodes, edges
    layers = getattr(model, "_layers", None)
    if layers is not None:  # Sequential: a chain
        nodes = [(f"l{id(layer)}", layer.name, keras_class_name(layer), None)
                 for layer in layers]
        shape = getattr(model, "_build_input_shape", None)
        if nodes and nodes[0][2] != "InputLayer" and shape is not None:
            nodes.insert(0, ("input", "input", "InputLayer", str(tuple(shape))))
        return nodes, [(a[0], b[0]) for a, b in itertools.pairwise(nodes)]
    # Subclassed: its connections are Python code in call(); one box, as Keras draws it.
    return [(f"l{id(model)}", model.name, keras_class_name(model), None)], []


def model_to_dot(model, show_shapes=False, show_layer_names=True, rankdir="TB", dpi=96):
    """The layer graph of a Sequential or functional model as a `graphviz.Digraph`
    (Keras' model_to_dot returns a pydot graph; this one needs only the `graphviz` Python
    package to build, and its `.source` is the DOT text). A subclassed model is one box."""
    graphviz = _require("graphviz", "model_to_dot")
    shapes = _shape_text(model) if show_shapes else {}
    dot = graphviz.Digraph(name=model.name, graph_attr={"rankdir": rankdir, "dpi": str(dpi)},
                           node_attr={"shape": "box", "style": "rounded,filled",
                                      "fillcolor": "#f2f2f2", "fontname": "Helvetica",
                                      "fontsize": "11"})
    nodes, edges = _graph_edges(model)
    ids = {node_id: f"n{i}" for i, (node_id, *_) in enumerate(nodes)}  # stable DOT names
    for node_id, name, kind, input_shape in nodes:
        dot.node(ids[node_id], _label(name, kind, input_shape or shapes.get(name),
                                      show_layer_names, show_shapes))
    for src, dst in edges:
        dot.edge(ids[src], ids[dst])
    return dot


def plot_model(model, to_file=None, show_shapes=False, show_layer_names=True, rankdir="TB",
               dpi=96):
    """Draw the model's layer graph with Graphviz.

    With `to_file=None` it returns an `IPython.display.SVG` (a notebook shows it as the
    cell's value); with a file name it writes that file in the format its extension names
    (`.png`, `.svg`, `.pdf`, ...) and returns an `IPython.display.Image`/`SVG` of it (None
    for other formats). Needs the `graphviz` Python package (`xlaflow[notebooks]`) and
    Graphviz's `dot` program; without them it raises ImportError saying what to install.
    """
    dot = model_to_dot(model, show_shapes, show_layer_names, rankdir, dpi)
    if shutil.which("dot") is None:
        raise ImportError(
            "plot_model needs Graphviz's `dot` program, which is not on PATH. Install "
            "Graphviz (a system package: `apt-get install graphviz`, `brew install "
            "graphviz` or `conda install graphviz`), then run plot_model again. "
            "model_to_dot(model).source gives the DOT text without it.")
    fmt = "svg" if to_file is None else (os.path.splitext(os.fspath(to_file))[1][1:].lower()
                                        or "png")
    data = dot.pipe(format=fmt)
    if to_file is not None:
        with open(to_file, "wb") as f:
            f.write(data)
    try:
        from IPython.display import SVG, Image
    except ImportError:
        return data.decode() if fmt == "svg" and to_file is None else None
    if fmt == "svg":
        return SVG(data=data)
    if fmt in ("png", "jpg", "jpeg", "gif"):
        return Image(data=data, format="jpeg" if fmt == "jpg" else fmt)
    return None
