"""xf.summary writes TensorBoard event files that read back (tensorboardX's protos): the
values, tags and steps written, eagerly and from inside a compiled function."""

import struct

import numpy as np
import pytest

import xlaflow as xf


def read_events(folder):
    """{tag: [(step, value)]} from every event file under `folder` (TFRecord framing)."""
    from tensorboardX.proto import event_pb2
    found = {}
    for path in sorted(p for p in folder.rglob("*") if "tfevents" in p.name):
        data, offset = path.read_bytes(), 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset:offset + 8])
            event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 16 + length
            for value in event.summary.value:
                payload = value.simple_value if value.HasField("simple_value") else (
                    value.histo if value.HasField("histo") else value.tensor)
                found.setdefault(value.tag, []).append((event.step, payload))
    return found


def test_scalars_histograms_and_steps_read_back(tmp_path):
    writer = xf.summary.create_file_writer(str(tmp_path / "logs"))
    assert xf.summary.scalar("outside", 1.0, step=0) is False  # no default writer: no-op
    with writer.as_default():
        for step in range(3):
            assert xf.summary.scalar("loss", 1.0 / (step + 1), step=step)
        xf.summary.histogram("weights", np.arange(10.0), step=2)
        with pytest.raises(ValueError, match="no step"):
            xf.summary.scalar("loss", 0.0)
    with writer.as_default(step=7):
        xf.summary.scalar("later", xf.constant(2.5))
    writer.close()
    events = read_events(tmp_path / "logs")
    assert [s for s, _ in events["loss"]] == [0, 1, 2]
    np.testing.assert_allclose([v for _, v in events["loss"]], [1.0, 0.5, 1 / 3], rtol=1e-6)
    assert events["later"] == [(7, 2.5)]
    histo = events["weights"][0][1]
    assert histo.num == 10 and histo.sum == 45.0 and histo.min == 0.0 and histo.max == 9.0
    assert "outside" not in events


def test_summaries_inside_a_compiled_function_write_each_call(tmp_path):
    writer = xf.summary.create_file_writer(str(tmp_path))
    step = xf.Variable(0)

    @xf.function
    def train(x):
        step.assign_add(1)
        with writer.as_default():
            xf.summary.scalar("mean", xf.reduce_mean(x), step=step)
        return x

    for i in range(3):
        train(np.full((4,), float(i), np.float32))
    writer.flush()
    assert train.tracing_count == 1
    assert read_events(tmp_path)["mean"] == [(1, 0.0), (2, 1.0), (3, 2.0)]
    with pytest.raises(ValueError, match=r"data must be a scalar; received shape \(2,\)"), \
            writer.as_default():
        xf.summary.scalar("bad", np.zeros(2), step=0)
    writer.close()
    with pytest.raises(RuntimeError, match="is closed"):
        writer._write("scalar", "late", 1.0, 0)
