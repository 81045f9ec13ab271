"""tf.io.gfile on local files, checked against TF's documented behaviour (tf.io.gfile API
docs) with Python's os module as the oracle for what is on disk."""

import os

import pytest

import xlaflow as xf
from xlaflow.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError

gfile = xf.io.gfile


def test_exists_isdir_makedirs_mkdir_and_listdir(tmp_path):
    """TF: makedirs creates parents and accepts an existing directory; mkdir raises
    AlreadyExistsError for an existing one; listdir has no '.'/'..' and raises
    NotFoundError for a missing directory."""
    deep = tmp_path / "a" / "b" / "c"
    assert not gfile.exists(str(deep)) and not gfile.isdir(deep)
    gfile.makedirs(str(deep))
    gfile.makedirs(str(deep))  # already there: fine, as TF
    assert os.path.isdir(deep) and gfile.isdir(str(deep)) and gfile.exists(deep)
    gfile.mkdir(str(tmp_path / "a" / "d"))
    with pytest.raises(AlreadyExistsError, match="already exists"):
        gfile.mkdir(str(tmp_path / "a" / "d"))
    (tmp_path / "a" / "f.txt").write_text("x")
    assert not gfile.isdir(str(tmp_path / "a" / "f.txt"))
    assert sorted(gfile.listdir(str(tmp_path / "a"))) == ["b", "d", "f.txt"]
    assert gfile.listdir(os.fsencode(tmp_path / "a" / "d")) == []  # bytes paths, as TF
    with pytest.raises(NotFoundError, match="nope"):
        gfile.listdir(str(tmp_path / "nope"))
    assert gfile.exists("file://" + str(tmp_path / "a" / "f.txt"))  # file:// is local


def test_glob_matches_within_components_and_takes_a_list(tmp_path):
    """TF: glob returns the matching paths ([] when none); a list of patterns is their
    union."""
    for name in ("x1.csv", "x2.csv", "y.txt"):
        (tmp_path / name).write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x3.csv").write_text("")
    assert gfile.glob(str(tmp_path / "*.csv")) == [str(tmp_path / "x1.csv"),
                                                   str(tmp_path / "x2.csv")]
    assert gfile.glob(str(tmp_path / "*.json")) == []
    both = gfile.glob([str(tmp_path / "x?.csv"), str(tmp_path / "*" / "*.csv")])
    assert both == sorted(str(p) for p in (tmp_path / "x1.csv", tmp_path / "x2.csv",
                                           tmp_path / "sub" / "x3.csv"))


def test_remove_and_rmtree(tmp_path):
    """TF: remove deletes a file and raises NotFoundError for a missing one; rmtree deletes
    a directory recursively."""
    f = tmp_path / "f"
    f.write_text("x")
    gfile.remove(str(f))
    assert not f.exists()
    with pytest.raises(NotFoundError, match="f"):
        gfile.remove(str(f))
    (tmp_path / "t" / "u").mkdir(parents=True)
    (tmp_path / "t" / "u" / "g").write_text("y")
    with pytest.raises(IsADirectoryError, match="rmtree"):
        gfile.remove(str(tmp_path / "t"))
    gfile.rmtree(str(tmp_path / "t"))
    assert not (tmp_path / "t").exists()
    with pytest.raises(NotFoundError):
        gfile.rmtree(str(tmp_path / "t"))


def test_rename_and_copy_refuse_to_overwrite_unless_asked(tmp_path):
    """TF: rename/copy onto an existing path raise AlreadyExistsError unless overwrite=True;
    a missing source is NotFoundError."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(b"new")
    dst.write_bytes(b"old")
    with pytest.raises(AlreadyExistsError, match="overwrite=True"):
        gfile.copy(str(src), str(dst))
    with pytest.raises(AlreadyExistsError, match="overwrite=True"):
        gfile.rename(str(src), str(dst))
    assert dst.read_bytes() == b"old" and src.read_bytes() == b"new"
    gfile.copy(str(src), str(dst), overwrite=True)
    assert dst.read_bytes() == b"new" and src.exists()
    gfile.copy(str(src), str(tmp_path / "fresh"))
    assert (tmp_path / "fresh").read_bytes() == b"new"
    gfile.rename(str(src), str(dst), overwrite=True)
    assert dst.read_bytes() == b"new" and not src.exists()
    gfile.rename(str(dst), str(tmp_path / "moved"))
    assert (tmp_path / "moved").read_bytes() == b"new"
    with pytest.raises(NotFoundError, match="src"):
        gfile.copy(str(src), str(tmp_path / "other"))
    with pytest.raises(NotFoundError, match="src"):
        gfile.rename(str(src), str(tmp_path / "other"))
    assert sorted(os.listdir(tmp_path)) == ["fresh", "moved"]  # no temporaries left


def test_gfile_reads_text_bytes_lines_and_iterates(tmp_path):
    """TF: GFile(path) reads str, GFile(path, 'rb') bytes; readline keeps the newline and
    gives '' at the end; iteration yields lines; a missing file is NotFoundError."""
    path = tmp_path / "t.txt"
    path.write_bytes("héllo\nworld\r\nend".encode())
    with gfile.GFile(str(path)) as f:
        assert f.readline() == "héllo\n"
        assert f.read() == "world\r\nend"
        assert f.readline() == ""
    with gfile.GFile(str(path), "rb") as f:
        assert f.read(2) == b"h\xc3" and f.tell() == 2 and f.size() == path.stat().st_size
        f.seek(0)
        assert f.read() == path.read_bytes()
    assert list(gfile.GFile(str(path))) == ["héllo\n", "world\r\n", "end"]
    assert gfile.GFile(str(path)).readlines() == ["héllo\n", "world\r\n", "end"]
    with pytest.raises(NotFoundError, match="missing"):
        gfile.GFile(str(tmp_path / "missing"))


def test_gfile_write_lands_atomically_on_close(tmp_path):
    """TF: GFile(path, 'w') writes the file (str or bytes); xlaflow's contract on top: the
    file changes only when closed, and an error inside the with block leaves it whole."""
    path = tmp_path / "out.txt"
    path.write_text("old")
    f = gfile.GFile(str(path), "w")
    f.write("line 1\n")
    f.write(b"line 2\n")  # TF's text mode takes bytes too
    assert path.read_text() == "old"  # not yet: it lands on close
    f.close()
    assert path.read_text() == "line 1\nline 2\n" and os.listdir(tmp_path) == ["out.txt"]
    with pytest.raises(RuntimeError, match="boom"), gfile.GFile(str(path), "wb") as f:
        f.write(b"partial")
        raise RuntimeError("boom")
    assert path.read_text() == "line 1\nline 2\n" and os.listdir(tmp_path) == ["out.txt"]
    with gfile.GFile(str(path), "a") as f:
        f.write("line 3\n")
    assert path.read_text() == "line 1\nline 2\nline 3\n"
    dropped = gfile.GFile(str(tmp_path / "dropped.txt"), "w")
    dropped.write("never closed")
    del dropped  # close() is what writes: nothing lands, no temporary is left
    assert os.listdir(tmp_path) == ["out.txt"]
    with pytest.raises(NotFoundError, match="makedirs"):
        gfile.GFile(str(tmp_path / "no" / "dir.txt"), "w")


def test_other_file_systems_and_bad_arguments_are_named(tmp_path):
    """Remote schemes are not provided: NotImplementedError naming the local path way."""
    with pytest.raises(NotImplementedError, match="gs://.*local path"):
        gfile.exists("gs://bucket/file")
    with pytest.raises(NotImplementedError, match="hdfs://"):
        gfile.GFile("hdfs://host/x", "w")
    with pytest.raises(InvalidArgumentError, match="'mode'.*'rw'"):
        gfile.GFile(str(tmp_path / "x"), "rw")
    with pytest.raises(TypeError, match="'path'.*int"):
        gfile.exists(3)
    with pytest.raises(AttributeError, match="walk.*GFile"):
        gfile.walk  # noqa: B018
    assert not os.listdir(tmp_path)
