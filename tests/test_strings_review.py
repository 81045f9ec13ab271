"""Review of xf.strings, xf.string, xf.io.gfile and the lazy file datasets against TF 2.12's
documented behaviour (its kernels' and RE2's rules), for input a TF user gives them."""


import xlaflow as xf


def test_text_lines_that_are_not_utf8_come_back_as_their_bytes(tmp_path):
    """TF's lines are bytes: a Latin-1 line is read, not a UnicodeDecodeError; it batches
    with UTF-8 lines into one object array of bytes."""
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"caf\xe9\nh\xc3\xa9\n\xff\xfe\n")
    ds = xf.data.TextLineDataset(str(path))
    assert list(ds.as_numpy_iterator()) == [b"caf\xe9", b"h\xc3\xa9", b"\xff\xfe"]
    assert [e.numpy() for e in ds] == [b"caf\xe9", b"h\xc3\xa9", b"\xff\xfe"]
    (batch,) = ds.batch(3).as_numpy_iterator()
    assert batch.dtype == object and list(batch) == [b"caf\xe9", b"h\xc3\xa9", b"\xff\xfe"]
    assert list(ds.batch(2).unbatch().as_numpy_iterator()) == [b"caf\xe9", b"h\xc3\xa9",
                                                                b"\xff\xfe"]
    path.write_bytes(b"h\xc3\xa9\ncaf\xe9\n")  # UTF-8 first, then not: bytes all the same
    for batched in (ds.batch(2), ds.padded_batch(2)):
        (batch,) = batched.as_numpy_iterator()
        assert [type(v) for v in batch] == [bytes, bytes]
        assert list(batch) == [b"h\xc3\xa9", b"caf\xe9"]


def test_text_lines_drop_every_carriage_return_as_tf_readline(tmp_path):
    """TF's BufferedInputStream::ReadLine drops each "\\r" of a line and yields no last
    line that is empty after that; an empty line before a "\\n" is still a line."""
    path = tmp_path / "cr.txt"
    path.write_bytes(b"a\rb\r\n\r\n\nend\r")
    assert list(xf.data.TextLineDataset(str(path)).as_numpy_iterator()) == [
        b"ab", b"", b"", b"end"]
    path.write_bytes(b"x\n\r")
    assert list(xf.data.TextLineDataset(str(path)).as_numpy_iterator()) == [b"x"]
