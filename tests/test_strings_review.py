"""Review of xf.strings, xf.string, xf.io.gfile and the lazy file datasets against TF 2.12's
documented behaviour (its kernels' and RE2's rules), for input a TF user gives them."""


import operator
import os

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.errors import InvalidArgumentError, NotFoundError


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


def test_text_lines_keep_nul_bytes_through_batching(tmp_path):
    """A line ending in NUL keeps it after batch/padded_batch (NumPy's str arrays drop
    trailing NULs); TF's strings are bytes."""
    path = tmp_path / "nul.txt"
    path.write_bytes(b"a\x00\nb\n")
    ds = xf.data.TextLineDataset(str(path))
    for batched in (ds.batch(2), ds.padded_batch(2)):
        assert [list(b) for b in batched.as_numpy_iterator()] == [[b"a\x00", b"b"]]
    assert [e.numpy() for e in ds.batch(2).unbatch()] == [b"a\x00", b"b"]


def test_text_lines_drop_every_carriage_return_as_tf_readline(tmp_path):
    """TF's BufferedInputStream::ReadLine drops each "\\r" of a line and yields no last
    line that is empty after that; an empty line before a "\\n" is still a line."""
    path = tmp_path / "cr.txt"
    path.write_bytes(b"a\rb\r\n\r\n\nend\r")
    assert list(xf.data.TextLineDataset(str(path)).as_numpy_iterator()) == [
        b"ab", b"", b"", b"end"]
    path.write_bytes(b"x\n\r")
    assert list(xf.data.TextLineDataset(str(path)).as_numpy_iterator()) == [b"x"]


S = xf.strings


def test_as_string_refuses_scientific_and_shortest_for_integers():
    """TF's AsString kernel: scientific/shortest are float formats; for int32 or bool they
    are InvalidArgumentError, not ignored."""
    for flags in ({"scientific": True}, {"shortest": True}):
        for value in (np.int32(3), np.array([True])):
            with pytest.raises(InvalidArgumentError, match="scientific and shortest format "
                                                           "not supported for datatype"):
                S.as_string(value, **flags)
    assert S.as_string(np.float32(1234.5), scientific=True).numpy() == b"1.234500e+03"
    assert S.as_string(np.float64(0.1), shortest=True).numpy() == b"0.1"


@pytest.mark.parametrize("op", [lambda p: S.regex_replace("ab", p, "x"),
                                lambda p: S.regex_full_match("ab", p)],
                         ids=["regex_replace", "regex_full_match"])
def test_regex_ops_take_one_pattern_as_tf_kernels(op):
    """TF's Regex* kernels: "Pattern must be scalar" (InvalidArgumentError), no broadcast."""
    with pytest.raises(InvalidArgumentError, match=r"Pattern must be scalar.*\[2\]"):
        op(["a", "b"])
    with pytest.raises(InvalidArgumentError, match="Rewrite must be scalar"):
        S.regex_replace("ab", "a", ["x", "y"])


def test_regex_re2_syntax_python_reads_otherwise():
    """RE2 (re2/syntax): `\\x{41}` is a code point, `\\12` octal, a `{` starting no repeat a
    literal (Python's {,n} is 0..n), \\s excludes \\v, and a (?i) in mid-pattern lasts to
    the end of its group, across its alternatives."""
    assert S.regex_replace("ABC", r"\x{41}", "x").numpy() == b"xBC"
    assert S.regex_replace("ABC", r"[\x{41}-\x{42}]", "x").numpy() == b"xxC"
    assert S.regex_replace("a\nb", r"\12", "x").numpy() == b"axb"
    assert S.regex_replace("aaa{,2}", r"a{,2}", "x").numpy() == b"aax"
    assert S.regex_replace("a{x", r"a{x", "_").numpy() == b"_"
    assert S.regex_replace("aaa", r"a{2}", "x").numpy() == b"xa"
    assert S.regex_replace("a\vb c", r"\s", "_").numpy() == b"a\vb_c"
    assert S.regex_replace("a\vb c", r"[\s]", "_").numpy() == b"a\vb_c"
    assert S.regex_replace("a\vb c", r"\S", "_").numpy() == b"___ _"
    assert S.regex_replace("a\vb c", r"[^\S]", "_").numpy() == b"a\vb_c"
    assert S.regex_full_match(["aB", "AB", "C", "ab"], r"a(?i)b|c").tolist() == [
        True, False, True, True]
    assert S.regex_full_match(["xYz", "xYZ"], r"(x(?i)y)z").tolist() == [True, False]
    assert S.regex_full_match(["AB"], r"(?i)ab").tolist() == [True]


@pytest.mark.parametrize("pattern", [
    r"(?x) a b", r"a(?#note)", r"(?>a)", r"(a)?(?(1)a|b)", r"(?P<n>a)(?P=n)", r"(?a)a",
    r"c\Z", r"\u0061", r"a*+", r"a++", r"a???", r"a{1001}", r"(?U)a+", r"\x{110000}"])
def test_regex_refuses_what_re2_refuses(pattern):
    """Python-only syntax is RE2's (TF's) InvalidArgumentError, never another meaning."""
    with pytest.raises(InvalidArgumentError, match="Invalid pattern"):
        S.regex_replace("aab", pattern, "x")


def test_gfile_takes_tfs_plus_modes_and_str_in_binary_modes(tmp_path):
    """TF's GFile: modes r, w, a, r+, w+, a+ (each with b), str written in a binary mode
    as UTF-8; another mode is InvalidArgumentError naming it."""
    from xlaflow.io import gfile
    path = str(tmp_path / "f.bin")
    with gfile.GFile(path, "wb") as f:
        f.write("héllo")
    with open(path, "rb") as f:
        assert f.read() == "héllo".encode()
    with gfile.GFile(path, "w+") as f:  # read back what was written, before it lands
        f.write("abc")
        f.seek(0)
        assert f.read() == "abc"
    with open(path) as f:
        assert f.read() == "abc"
    with gfile.GFile(path, "r+") as f:
        assert f.read(1) == "a"
        f.seek(0)
        f.write("X")
    with gfile.GFile(path, "a+b") as f:
        f.write(b"!")
        f.seek(0)
        assert f.read() == b"Xbc!"
    with gfile.GFile(path, "rb+") as f:
        assert f.read() == b"Xbc!"
    with pytest.raises(InvalidArgumentError, match=r"'mode'.*'x'"):
        gfile.GFile(path, "x")
    with pytest.raises(NotFoundError):
        gfile.GFile(str(tmp_path / "missing"), "r+")
    assert sorted(os.listdir(tmp_path)) == ["f.bin"]


def test_gfile_for_writing_a_directory_fails_before_any_temporary(tmp_path):
    """A directory is no file to write: the error comes when opening, and no temporary
    sibling is left behind (the rename at close used to fail and leave it)."""
    from xlaflow.io import gfile
    (tmp_path / "d").mkdir()
    for mode in ("w", "a", "r"):
        with pytest.raises(IsADirectoryError, match="is a directory"):
            gfile.GFile(str(tmp_path / "d"), mode)
    assert os.listdir(tmp_path) == ["d"]


def test_text_dtypes_are_one_tf_string_in_comparisons_sets_and_dicts():
    """TF: every string tensor's dtype is tf.string, so two of them compare equal whatever
    their lengths, and a dict or set keyed by tf.string finds them."""
    short, long = xf.constant(["ab"]), xf.constant(["abcdef", "g"])
    assert short.dtype == long.dtype and operator.ne(short.dtype, long.dtype) is False
    assert {xf.string: "text"}[short.dtype] == "text"
    assert short.dtype in {xf.string} and long.dtype in {xf.string, xf.int32}
    assert len({xf.string, short.dtype, long.dtype}) == 1
    a, b = list(xf.data.Dataset.from_tensor_slices(["a", "bcd"]))
    assert a.dtype == b.dtype and hash(a.dtype) == hash(xf.string)
    assert short.dtype != xf.constant([1]).dtype and short.dtype != np.int32


def test_glob_and_list_files_match_hidden_files_as_tfs_fnmatch(tmp_path):
    """TF matches each path component with fnmatch(FNM_PATHNAME): '*' matches a leading
    '.', so hidden files match; wildcards work in directory components too."""
    from xlaflow.io import gfile
    for name in ("a/x.txt", "a/.h.txt", "b/y.txt", ".c/z.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("1\n")
    root = str(tmp_path)
    assert gfile.glob(os.path.join(root, "a", "*.txt")) == [
        os.path.join(root, "a", ".h.txt"), os.path.join(root, "a", "x.txt")]
    assert gfile.glob(os.path.join(root, "*", "[xz].txt")) == [
        os.path.join(root, ".c", "z.txt"), os.path.join(root, "a", "x.txt")]
    assert gfile.glob(os.path.join(root, "a", "x.txt", "*")) == []  # a file: nothing under
    assert gfile.glob(os.path.join(root, "?", "")) == [os.path.join(root, "a", ""),
                                                        os.path.join(root, "b", "")]
    files = xf.data.Dataset.list_files(os.path.join(root, "*", "*.txt"), shuffle=False)
    assert [os.path.relpath(f.decode(), root) for f in files.as_numpy_iterator()] == [
        ".c/z.txt", "a/.h.txt", "a/x.txt", "b/y.txt"]
