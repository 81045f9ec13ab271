"""Reading TFRecord files of tf.train.Example: xf.data's pipeline against a hand-written
reader, same run.

Writes MNIST-shaped Examples (784 uint8 pixels as bytes, an int64 label) with
xf.io.TFRecordWriter, then reads them back three ways, alternating rounds: the plain
Python loop a user would write without tf.data (struct framing, google-crc32c, protobuf's
Example.FromString, np.frombuffer), TF's per-record pipeline
`TFRecordDataset.map(parse_single_example).batch(32)`, and the batched one
`TFRecordDataset.batch(256).map(parse_example)`. Prints median records/s and ratios
(xlaflow / hand-written). All host work: there is no XLA in a record's path.
"""

from __future__ import annotations

import os
import statistics
import struct
import tempfile
import time

import google_crc32c
import numpy as np

import xlaflow as xf

RECORDS = int(os.environ.get("TFRECORD_BENCH_RECORDS", "20000"))
ROUNDS = 5
FEATURES = {"image": xf.io.FixedLenFeature([], xf.string),
            "label": xf.io.FixedLenFeature([], xf.int64)}


def write(path):
    rng = np.random.default_rng(0)
    with xf.io.TFRecordWriter(path) as writer:
        for _ in range(RECORDS):
            image = rng.integers(0, 256, 784, dtype=np.uint8).tobytes()
            example = xf.train.Example(features=xf.train.Features(feature={
                "image": xf.train.Feature(bytes_list=xf.train.BytesList(value=[image])),
                "label": xf.train.Feature(int64_list=xf.train.Int64List(
                    value=[int(rng.integers(10))]))}))
            writer.write(example.SerializeToString())


def _masked(data):
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def hand_written(path):
    """The records as (image uint8[784], label) without tf.data: checked framing, parsed."""
    count = 0
    with open(path, "rb") as f:
        while header := f.read(12):
            (length,), (crc,) = struct.unpack("<Q", header[:8]), struct.unpack("<I", header[8:])
            assert _masked(header[:8]) == crc
            data, (data_crc,) = f.read(length), struct.unpack("<I", f.read(4))
            assert _masked(data) == data_crc
            feature = xf.train.Example.FromString(data).features.feature
            image = np.frombuffer(feature["image"].bytes_list.value[0], np.uint8)
            label = feature["label"].int64_list.value[0]
            count += image.size > 0 and label >= 0
    return count


def per_record(path):
    ds = xf.data.TFRecordDataset(path).map(
        lambda s: xf.io.parse_single_example(s, FEATURES)).batch(32)
    return sum(len(batch["label"]) for batch in ds.as_numpy_iterator())


def batched(path):
    ds = xf.data.TFRecordDataset(path).batch(256).map(
        lambda s: xf.io.parse_example(s, FEATURES))
    return sum(len(batch["label"]) for batch in ds.as_numpy_iterator())


def main():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mnist.tfrecord")
        start = time.perf_counter()
        write(path)
        write_rate = RECORDS / (time.perf_counter() - start)
        ways = {"hand-written reader": hand_written,
                "map(parse_single_example).batch(32)": per_record,
                "batch(256).map(parse_example)": batched}
        rates = {name: [] for name in ways}
        for _ in range(ROUNDS):
            for name, read in ways.items():
                start = time.perf_counter()
                assert read(path) == RECORDS
                rates[name].append(RECORDS / (time.perf_counter() - start))
        size = os.path.getsize(path) / 1e6
    base = statistics.median(rates["hand-written reader"])
    print(f"{RECORDS} Examples ({size:.1f} MB), median of {ROUNDS} interleaved rounds")
    print(f"  TFRecordWriter (Example built and written)   {write_rate:10,.0f} records/s")
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"  {name:44s} {rate:10,.0f} records/s  ratio {rate / base:.2f}")


if __name__ == "__main__":
    main()
