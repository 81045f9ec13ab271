"""Model.summary's Keras 2.12 options: show_trainable (a Y/N column), expand_nested (the
rows of nested models inside '|' frames), layer_range (rows between two names or regexes)."""

import pytest

from xlaflow import keras

L = keras.layers


def _lines(model, **options):
    printed = []
    model.summary(print_fn=printed.append, **options)
    return printed


def _nested():
    inner = keras.Sequential([L.Dense(4, name="in_a"), L.Dense(2, name="in_b")], name="inner")
    inputs = keras.Input((3,), name="features")
    outputs = L.Dense(1, name="head")(inner(L.Dense(5, name="pre")(inputs)))
    return keras.Model(inputs, outputs, name="outer"), inner  # (inner: built, not declared)


def test_show_trainable_adds_keras_column():
    model, _ = _nested()
    model.get_layer("pre").trainable = False
    plain, lines = _lines(model), _lines(model, show_trainable=True)
    assert len(lines[1]) == len(plain[1]) + 11  # the rule widens by the column
    assert lines[2].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#",
                                "Trainable"]
    flags = {line.split()[0]: line.split()[-1] for line in lines
             if line.startswith(" ") and line.split() and line.split()[-1] in "YN"}
    assert flags == {"features": "Y", "pre": "N", "inner": "Y", "head": "Y"}


def test_expand_nested_frames_the_inner_rows():
    model, _ = _nested()
    lines = _lines(model, expand_nested=True)
    width = len(lines[1])
    assert all(len(line) == width for line in lines[1:-4] if line)  # rows, frames, blanks
    start = next(i for i, line in enumerate(lines) if line.startswith(" inner (Sequential)"))
    assert lines[start + 1] == "|" + "\u00af" * (width - 2) + "|"
    inner_rows = [line for line in lines if line.startswith("| ") and "(" in line]
    assert [row.split()[1] for row in inner_rows] == ["in_a", "in_b"]
    assert all(row.endswith("|") for row in inner_rows)
    # the nested layers' shapes, traced from the input the outer model gives them
    assert "(None, 4)" in inner_rows[0] and "(None, 2)" in inner_rows[1]
    assert lines[start + 5] == "\u00af" * width
    assert _lines(model)[-3:] == lines[-3:]  # the totals are the model's either way


def test_layer_range_keeps_the_rows_between_two_names():
    inputs = keras.Input((3,))
    a = L.Dense(2, name="branch_a")(inputs)
    b = L.Dense(2, name="branch_b")(inputs)
    model = keras.Model(inputs, L.Add(name="add")([a, b]))

    def names(**options):
        return [line.split()[0] for line in _lines(model, **options)
                if line.startswith(" ") and "(" in line and "Layer (type)" not in line]

    assert names(layer_range=["branch_a", "branch_b"]) == ["branch_a", "branch_b"]
    assert names(layer_range=["branch_.*", "add"]) == ["branch_a", "branch_b", "add"]
    assert names(layer_range=("add", "branch_b")) == ["branch_b", "add"]  # either order
    with pytest.raises(ValueError, match="Passed layer_names do not match the layer names "
                                         "in the model"):
        model.summary(layer_range=["nope", "add"])
    with pytest.raises(ValueError, match="layer_range must be a list or tuple of length 2"):
        model.summary(layer_range=["add"])
    with pytest.raises(ValueError, match="layer_range should contain string type only"):
        model.summary(layer_range=[0, 1])
