"""Function.pretty_printed_concrete_signatures(): TF's text of each traced signature, in
trace order, from what the traces recorded (nothing is traced again)."""

import xlaflow as xf


def test_the_guides_example_and_no_retrace(capsys):
    traced = []

    @xf.function
    def my_relu(x):
        traced.append(1)
        return xf.maximum(0., x)

    my_relu(xf.constant(5.5))
    my_relu([1, -1])
    my_relu(xf.constant([3., -3.]))
    my_relu(xf.constant(-2.5))  # no new trace
    text = my_relu.pretty_printed_concrete_signatures()
    assert text == (
        "my_relu(x)\n  Args:\n    x: float32 Tensor, shape=()\n  Returns:\n"
        "    float32 Tensor, shape=()\n\n"
        "my_relu(x=[1, -1])\n  Returns:\n    float32 Tensor, shape=(2,)\n\n"
        "my_relu(x)\n  Args:\n    x: float32 Tensor, shape=(2,)\n  Returns:\n"
        "    float32 Tensor, shape=(2,)")
    assert len(traced) == 3 and my_relu.experimental_get_tracing_count() == 3


def test_structures_defaults_none_and_relaxed_shapes():
    @xf.function
    def step(batch, training=True, scale=2):
        if not training:
            return None
        return {"sum": batch["x"] * scale, "pair": (batch["ids"], batch["x"])}

    batch = {"x": xf.constant(1.0), "ids": xf.constant([1, 2])}
    step(batch, scale=3)
    step(batch, training=False)
    blocks = step.pretty_printed_concrete_signatures().split("\n\n")
    assert blocks[0].splitlines() == [
        "step(batch, training=True, scale=3)", "  Args:",
        "    batch: {'ids': <int32 Tensor, shape=(2,)>, 'x': <float32 Tensor, shape=()>}",
        "  Returns:",
        "    {'pair': (<int32 Tensor, shape=(2,)>, <float32 Tensor, shape=()>), "
        "'sum': <float32 Tensor, shape=()>}"]
    assert blocks[1].splitlines()[0] == "step(batch, training=False, scale=2)"
    assert blocks[1].splitlines()[-1] == "    None"

    @xf.function(input_signature=[xf.TensorSpec([None, 3], xf.float32)])
    def rows(x):
        return xf.reduce_sum(x, axis=1)

    rows(xf.ones([4, 3]))
    assert rows.pretty_printed_concrete_signatures().splitlines()[2:] == [
        "    x: float32 Tensor, shape=(None, 3)", "  Returns:",
        "    float32 Tensor, shape=(None,)"]
