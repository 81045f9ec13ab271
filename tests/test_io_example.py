"""xf.train.Example and xf.io parsing against the protobuf wire format built by hand (the
encoding spec: varint keys `field << 3 | wire type`, length-delimited submessages, packed
repeated numbers) and TF's documented parse_example behaviour."""

import struct

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.errors import InvalidArgumentError


def _varint(n):
    n &= 2**64 - 1  # negative int64s are ten-byte two's complement varints
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number, payload):  # a length-delimited field (wire type 2)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _feature(kind_field, values_payload):
    # Feature{oneof kind}: bytes_list = 1, float_list = 2, int64_list = 3; each *List has
    # its values in field 1
    return _field(kind_field, values_payload)


def _example(key, feature_bytes):
    entry = _field(1, key.encode()) + _field(2, feature_bytes)  # map entry: key 1, value 2
    return _field(1, _field(1, entry))  # Example.features = 1, Features.feature = 1


INT64 = _example("n", _feature(3, _field(1, b"".join(_varint(v) for v in [1, 300, -2]))))
FLOAT = _example("x", _feature(2, _field(1, struct.pack("<2f", 1.5, -0.25))))
BYTES = _example("s", _feature(1, _field(1, b"ab") + _field(1, b"\x00")))


@pytest.mark.parametrize("wire,feature", [
    (INT64, xf.train.Feature(int64_list=xf.train.Int64List(value=[1, 300, -2]))),
    (FLOAT, xf.train.Feature(float_list=xf.train.FloatList(value=[1.5, -0.25]))),
    (BYTES, xf.train.Feature(bytes_list=xf.train.BytesList(value=[b"ab", b"\x00"]))),
])
def test_example_serializes_to_the_hand_built_wire_bytes(wire, feature):
    key = {INT64: "n", FLOAT: "x", BYTES: "s"}[wire]
    example = xf.train.Example(features=xf.train.Features(feature={key: feature}))
    assert example.SerializeToString() == wire
    assert xf.train.Example.FromString(wire) == example
    assert type(example).DESCRIPTOR.full_name == "tensorflow.Example"  # TF's name


def test_tf_style_values_are_accepted():
    # TF's tutorial stores booleans in an Int64List and passes 0-d tensors
    assert list(xf.train.Int64List(value=[True, np.bool_(False), np.int64(7)]).value) == \
        [1, 0, 7]
    assert list(xf.train.Int64List(value=[xf.constant(5)]).value) == [5]
    assert list(xf.train.FloatList(value=np.array([0.5, 2.0])).value) == [0.5, 2.0]
    assert list(xf.train.BytesList(value=[xf.constant("hé")]).value) == ["hé".encode()]
    lst = xf.train.Int64List(value=[1])
    assert isinstance(lst, xf.train.Int64List)
    assert xf.train.Int64List.FromString(lst.SerializeToString()) == lst
    with pytest.raises(TypeError):
        xf.train.BytesList(value=["text"])  # as TF: bytes fields take bytes, not str


def test_sequence_example_wire():
    seq = xf.train.SequenceExample(
        context=xf.train.Features(feature={"id": xf.train.Feature(
            int64_list=xf.train.Int64List(value=[9]))}),
        feature_lists=xf.train.FeatureLists(feature_list={"w": xf.train.FeatureList(
            feature=[xf.train.Feature(bytes_list=xf.train.BytesList(value=[b"a"]))])}))
    context = _field(1, _field(1, b"id") + _field(2, _feature(3, _field(1, _varint(9)))))
    lists = _field(1, _field(1, b"w") + _field(2, _field(1, _feature(1, _field(1, b"a")))))
    assert seq.SerializeToString() == _field(1, context) + _field(2, lists)


SPEC = {
    "n": xf.io.FixedLenFeature([3], xf.int64),
    "x": xf.io.FixedLenFeature([2], xf.float32),
    "s": xf.io.FixedLenFeature([2], xf.string),
    "missing": xf.io.FixedLenFeature([], xf.float32, default_value=-1.0),
}


def _all_three(**extra):
    feature = {
        "n": xf.train.Feature(int64_list=xf.train.Int64List(value=[1, 300, -2])),
        "x": xf.train.Feature(float_list=xf.train.FloatList(value=[1.5, -0.25])),
        "s": xf.train.Feature(bytes_list=xf.train.BytesList(value=[b"ab", b"\x00"]))}
    feature.update(extra)
    return xf.train.Example(features=xf.train.Features(feature=feature)).SerializeToString()


def test_parse_single_example_gives_the_written_values():
    out = xf.io.parse_single_example(_all_three(), SPEC)
    assert out["n"].dtype == np.int64 and out["n"].tolist() == [1, 300, -2]
    assert out["x"].dtype == np.float32 and out["x"].tolist() == [1.5, -0.25]
    assert out["s"].numpy().tolist() == [b"ab", b"\x00"]
    assert out["missing"].shape == () and out["missing"].numpy() == -1.0
    big = xf.train.Feature(int64_list=xf.train.Int64List(value=[2**40, -2**62]))
    got = xf.io.parse_single_example(_all_three(n=big), {"n": xf.io.FixedLenFeature(
        [2], xf.int64)})
    assert got["n"].tolist() == [2**40, -2**62]  # host int64, not wrapped to 32 bits


def test_parse_errors_name_the_feature():
    with pytest.raises(InvalidArgumentError, match=r"Feature: y \(data type: int64\) is "
                                                   "required but could not be found"):
        xf.io.parse_single_example(_all_three(), {"y": xf.io.FixedLenFeature([], xf.int64)})
    with pytest.raises(InvalidArgumentError, match="Key: n.*Values size: 3 but output shape"):
        xf.io.parse_single_example(_all_three(), {"n": xf.io.FixedLenFeature([2], xf.int64)})
    with pytest.raises(InvalidArgumentError, match="Feature: x.*Data types don't match. "
                                                   "Data type: float32 but expected type: "
                                                   "int64"):
        xf.io.parse_single_example(_all_three(), {"x": xf.io.FixedLenFeature([2], xf.int64)})
    with pytest.raises(ValueError, match="feature 'x' has dtype.*int64, float32 or string"):
        xf.io.parse_single_example(_all_three(), {"x": xf.io.FixedLenFeature([2], xf.int32)})
    with pytest.raises(ValueError, match="default_value of feature 'z' has 2 values"):
        xf.io.parse_single_example(_all_three(), {
            "z": xf.io.FixedLenFeature([3], xf.int64, default_value=[1, 2])})
    with pytest.raises(InvalidArgumentError, match="could not parse example input 0"):
        xf.io.parse_single_example(b"\xff\xff", SPEC)


def test_var_len_and_sequence_features():
    ragged = [
        xf.train.Example(features=xf.train.Features(feature={"v": xf.train.Feature(
            int64_list=xf.train.Int64List(value=values))})).SerializeToString()
        for values in ([1, 2, 3, 4], [5, 6])] + [xf.train.Example().SerializeToString()]
    single = xf.io.parse_single_example(ragged[1], {"v": xf.io.VarLenFeature(xf.int64)})
    # VarLenFeature: TF's SparseTensor, indices [position] for one Example
    assert isinstance(single["v"], xf.SparseTensor)
    assert single["v"].indices.numpy().tolist() == [[0], [1]]
    assert single["v"].values.numpy().tolist() == [5, 6]
    assert single["v"].dense_shape.numpy().tolist() == [2]
    batch = xf.io.parse_example(np.array(ragged, dtype=object), {
        "v": xf.io.VarLenFeature(xf.int64),
        "pairs": xf.io.FixedLenSequenceFeature([2], xf.int64, allow_missing=True),
    })
    # a batch: indices [row, position], dense_shape [batch, longest] (TF's documented form)
    assert batch["v"].indices.numpy().tolist() == [[0, 0], [0, 1], [0, 2], [0, 3], [1, 0],
                                                   [1, 1]]
    assert batch["v"].values.numpy().tolist() == [1, 2, 3, 4, 5, 6]
    assert batch["v"].values.numpy().dtype == np.int64
    assert batch["v"].dense_shape.numpy().tolist() == [3, 4]
    assert xf.sparse.to_dense(batch["v"]).numpy().tolist() == [[1, 2, 3, 4], [5, 6, 0, 0],
                                                                [0, 0, 0, 0]]
    assert batch["pairs"].shape == (3, 0, 2)  # nobody has "pairs": zero items
    seq = xf.io.parse_example(ragged, {"v": xf.io.FixedLenSequenceFeature(
        [2], xf.int64, allow_missing=True, default_value=-1)})
    assert seq["v"].tolist() == [[[1, 2], [3, 4]], [[5, 6], [-1, -1]], [[-1, -1], [-1, -1]]]
    with pytest.raises(ValueError, match="allow_missing=True"):
        xf.io.parse_example(ragged, {"v": xf.io.FixedLenSequenceFeature([2], xf.int64)})


def test_varlen_strings_are_sparse_through_a_dataset_and_densify_on_the_host():
    tokens = [[b"a", b"b\x00"], [], [b"c"]]
    records = np.empty(3, dtype=object)
    records[:] = [xf.train.Example(features=xf.train.Features(feature={
        "t": xf.train.Feature(bytes_list=xf.train.BytesList(value=t))})).SerializeToString()
        for t in tokens]
    desc = {"t": xf.io.VarLenFeature(xf.string)}
    ds = xf.data.Dataset.from_tensor_slices(records).map(
        lambda r: xf.io.parse_single_example(r, desc))
    assert ds.element_spec == {"t": xf.SparseTensorSpec([2], xf.string)}  # the first's
    (batch,) = list(ds.batch(3))
    # the oracle: the written tokens, placed row by row
    want = np.full((3, 2), b"", dtype=object)
    for i, row in enumerate(tokens):
        want[i, :len(row)] = row
    assert batch["t"].dense_shape.numpy().tolist() == [3, 2]
    assert xf.sparse.to_dense(batch["t"]).tolist() == want.tolist()
    direct = xf.io.parse_example(records, desc)["t"]
    assert direct.indices.numpy().tolist() == batch["t"].indices.numpy().tolist()
    assert xf.sparse.to_dense(direct, default_value="?").tolist() == \
        np.where(want == b"", b"?", want).tolist()
    with pytest.raises(TypeError, match="default_value must be a string"):
        xf.sparse.to_dense(direct, default_value=0)


def test_parse_example_batches_and_fills_defaults():
    rows = [_all_three(), _all_three(), xf.train.Example().SerializeToString()]
    spec = {"s": xf.io.FixedLenFeature([2], xf.string, default_value=[b"?", b"!"]),
            "x": xf.io.FixedLenFeature([2], xf.float32, default_value=[0.0, 1.0])}
    out = xf.io.parse_example(rows, spec)
    assert out["s"].numpy().tolist() == [[b"ab", b"\x00"]] * 2 + [[b"?", b"!"]]
    np.testing.assert_array_equal(out["x"], [[1.5, -0.25], [1.5, -0.25], [0.0, 1.0]])
    with pytest.raises(ValueError, match="vector of serialized Examples"):
        xf.io.parse_example(rows[0], spec)


def test_serialize_tensor_wire_and_round_trip():
    # TensorProto{dtype = 1 (DT_FLOAT), tensor_shape = 2 (empty: a scalar),
    # tensor_content = 4 (the little-endian float)}
    assert xf.io.serialize_tensor(xf.constant(1.0)).numpy() == \
        b"\x08\x01" + _field(2, b"") + _field(4, struct.pack("<f", 1.0))
    matrix = np.arange(6, dtype=np.int32).reshape(2, 3)
    shape = _field(2, _field(2, b"\x08\x02") + _field(2, b"\x08\x03"))  # dims 2 and 3
    wire = b"\x08\x03" + shape + _field(4, matrix.astype("<i4").tobytes())
    assert xf.io.serialize_tensor(matrix).numpy() == wire
    np.testing.assert_array_equal(xf.io.parse_tensor(wire, xf.int32), matrix)
    words = np.array([b"a", b"\x00b"], dtype=object)
    back = xf.io.parse_tensor(xf.io.serialize_tensor(words), xf.string)
    assert back.numpy().tolist() == [b"a", b"\x00b"]
    for value in (np.array([True, False]), np.float64(2.5), np.ones((2, 0), np.uint8)):
        got = xf.io.parse_tensor(xf.io.serialize_tensor(value), value.dtype)
        assert got.dtype == value.dtype and np.array_equal(got, value)
    with pytest.raises(InvalidArgumentError, match=r"type mismatch.*\(int32\) and dtype "
                                                   r"\(float32\)"):
        xf.io.parse_tensor(wire, xf.float32)


def test_read_and_write_file(tmp_path):
    path = str(tmp_path / "blob.bin")
    xf.io.write_file(path, b"\x00data\x00")
    assert xf.io.read_file(path).numpy() == b"\x00data\x00"
    xf.io.write_file(path, "text")
    assert xf.io.read_file(path).numpy() == b"text"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob.bin"]  # no temporary left
    # TF's NotFoundError (an OpError), which is also Python's FileNotFoundError
    with pytest.raises(xf.errors.NotFoundError, match=r"missing.bin; No such file") as caught:
        xf.io.read_file(str(tmp_path / "missing.bin"))
    assert isinstance(caught.value, (xf.errors.OpError, FileNotFoundError))

    with pytest.raises(TypeError, match=r"read_file: `filename` must be bytes \(a file name\); "
                                        r"received int"):
        xf.io.read_file(3)


def test_read_file_in_compiled_code_is_refused_by_argument():
    # TF's ExportModel pattern (read_file inside a tf.function traced for a string spec):
    # text never enters XLA here, so the message names the argument and says what to do
    @xf.function
    def load(filename):
        return xf.io.read_file(filename)

    with pytest.raises(TypeError, match=r"read_file: `filename` is a traced value inside a "
                                        r"compiled function \(xf.function\)"):
        load.get_concrete_function(filename=xf.TensorSpec(shape=(), dtype=xf.string))


def test_namespaces():
    assert hasattr(xf, "io") and xf.train.Checkpoint is not None  # added to, not replaced
    assert xf.train.Example.DESCRIPTOR.fields_by_name["features"].number == 1


def test_py_function_passes_host_strings_and_returns_bytes_eagerly():
    # TF's tutorial serializes inside a py_function with Tout=tf.string: the text input
    # has no jax form and the result is binary (trailing NUL kept)
    def serialize(flag, word):
        assert isinstance(word, (bytes, np.ndarray))
        feature = {"w": xf.train.Feature(bytes_list=xf.train.BytesList(value=[word])),
                   "f": xf.train.Feature(int64_list=xf.train.Int64List(value=[flag]))}
        return xf.train.Example(features=xf.train.Features(feature=feature)
                                ).SerializeToString() + b"\x00"

    out = xf.py_function(serialize, (np.bool_(True), np.bytes_(b"cat")), xf.string)
    data = out.numpy()
    assert data.endswith(b"\x00")
    parsed = xf.io.parse_single_example(data[:-1], {
        "w": xf.io.FixedLenFeature([], xf.string), "f": xf.io.FixedLenFeature([], xf.int64)})
    assert parsed["w"].numpy() == b"cat" and parsed["f"] == 1


def test_decode_images_against_the_encoded_pixels():
    import io

    from PIL import Image
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    png = io.BytesIO()
    Image.fromarray(rgb).save(png, format="PNG")
    png = png.getvalue()
    np.testing.assert_array_equal(xf.io.decode_png(png), rgb)  # lossless
    np.testing.assert_array_equal(xf.io.decode_image(png), rgb)
    gray = xf.io.decode_png(png, channels=1)
    expected = np.asarray(Image.fromarray(rgb).convert("L"))[:, :, None]
    np.testing.assert_array_equal(gray, expected)
    jpeg = io.BytesIO()
    Image.fromarray(rgb).save(jpeg, format="JPEG")
    assert xf.io.decode_jpeg(jpeg.getvalue()).shape == (5, 7, 3)
    with pytest.raises(InvalidArgumentError, match="decode_jpeg.*not a decodable JPEG"):
        xf.io.decode_jpeg(png)
    with pytest.raises(ValueError, match="channels.*received 2"):
        xf.io.decode_png(png, channels=2)


def test_names_xf_io_lacks_are_attribute_errors_saying_what_it_has():
    assert not hasattr(xf.io, "decode_raw")
    with pytest.raises(AttributeError, match="tf.io.decode_raw is not provided.*gfile"):
        xf.io.decode_raw  # noqa: B018
