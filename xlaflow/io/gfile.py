"""tf.io.gfile on the local file system: exists, isdir, listdir, glob, makedirs, mkdir,
remove, rmtree, rename, copy and GFile, with TF's errors (NotFoundError, AlreadyExistsError).

TF programs reach files through gfile so that the same code reads GCS or HDFS; xlaflow reads
local paths (and file:// URLs) only, and names the local alternative for any other scheme.
A GFile opened for writing lands atomically when closed: a temporary sibling, then a rename.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import shutil
import uuid

from xlaflow.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError

__all__ = ["GFile", "copy", "exists", "glob", "isdir", "join", "listdir", "makedirs",
           "mkdir", "remove", "rename", "rmtree"]


_MAGIC = re.compile(r"[*?[]")


def _local(path, what, argument="path"):
    """`path` (str, bytes or os.PathLike) as a local path; file:// is local too."""
    if isinstance(path, bytes):
        path = path.decode("utf-8")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"tf.io.gfile.{what}: argument '{argument}' must be a path (str, "
                        f"bytes or os.PathLike); received {type(path).__name__} {path!r:.60}")
    path = os.fspath(path)
    scheme, sep, rest = path.partition("://")
    if sep and scheme.isidentifier():
        if scheme == "file":
            return rest
        raise NotImplementedError(
            f"tf.io.gfile.{what}: {path!r} uses the {scheme}:// file system, which xlaflow "
            "does not provide; gfile reads local paths only. Copy the files to a local "
            f"directory (e.g. with the {scheme} provider's own tools) and pass a local path "
            "such as '/data/train.tfrecord'")
    return path


@contextlib.contextmanager
def _tf_errors(what, path):
    # TF's error types for the OSErrors of the local calls; both stay OSErrors too.
    try:
        yield
    except FileNotFoundError as error:
        raise NotFoundError(None, None, f"tf.io.gfile.{what}: {path}: no such file or "
                                        f"directory ({error.strerror})") from None
    except FileExistsError as error:
        raise AlreadyExistsError(None, None, f"tf.io.gfile.{what}: {path} already exists "
                                             f"({error.strerror})") from None


def exists(path):
    """Whether a file or directory exists at `path`."""
    return os.path.exists(_local(path, "exists"))


def isdir(path):
    """Whether `path` is a directory."""
    return os.path.isdir(_local(path, "isdir"))


def join(path, *paths):
    """The path components joined with '/', as TF's gfile.join (os.path.join locally)."""
    return os.path.join(os.fspath(path), *(os.fspath(p) for p in paths))


def listdir(path):
    """The names in directory `path` (no '.' or '..'; in no particular order, as TF).
    NotFoundError when it is not a directory."""
    local = _local(path, "listdir")
    if not os.path.isdir(local):
        raise NotFoundError(None, None, f"tf.io.gfile.listdir: {local}: no such directory")
    return os.listdir(local)


def glob(pattern):
    """The paths matching `pattern` (or any of a list of patterns): '*', '?' and '[...]'
    within one path component, as TF's glob; an empty list when nothing matches."""
    patterns = [pattern] if isinstance(pattern, (str, bytes, os.PathLike)) else list(pattern)
    matches = []
    for p in patterns:
        matches.extend(_matching(_local(p, "glob", "pattern")))
    return sorted(set(matches))


def _matching(pattern):
    # TF matches each component with fnmatch(FNM_PATHNAME), where '*' matches a leading
    # '.' too: hidden files match, as Python's glob (before 3.11's include_hidden) skips
    if not _MAGIC.search(pattern):
        return [pattern] if os.path.lexists(pattern) else []
    head, tail = os.path.split(pattern)
    out = []
    for directory in _matching(head) if _MAGIC.search(head) else [head]:
        if not _MAGIC.search(tail):
            if os.path.lexists(os.path.join(directory, tail)):
                out.append(os.path.join(directory, tail))
            continue
        try:
            names = os.listdir(directory or os.curdir)
        except OSError:  # not a directory, or unreadable: nothing under it matches
            continue
        out.extend(os.path.join(directory, name) for name in names
                   if fnmatch.fnmatchcase(name, tail))
    return out


def makedirs(path):
    """Create directory `path` and any missing parents; an existing directory is fine."""
    local = _local(path, "makedirs")
    with _tf_errors("makedirs", local):
        os.makedirs(local, exist_ok=True)


def mkdir(path):
    """Create directory `path`; its parent must exist. AlreadyExistsError if `path` does."""
    local = _local(path, "mkdir")
    with _tf_errors("mkdir", local):
        os.mkdir(local)


def remove(path):
    """Delete the file `path`; NotFoundError if there is none (a directory: rmtree)."""
    local = _local(path, "remove")
    if os.path.isdir(local):
        raise IsADirectoryError(f"tf.io.gfile.remove: {local} is a directory; remove "
                                "deletes files: use tf.io.gfile.rmtree for a directory")
    with _tf_errors("remove", local):
        os.remove(local)


def rmtree(path):
    """Delete the directory `path` and everything under it; NotFoundError if missing."""
    local = _local(path, "rmtree")
    if not os.path.isdir(local):
        raise NotFoundError(None, None, f"tf.io.gfile.rmtree: {local}: no such directory")
    shutil.rmtree(local)


def _check_target(what, src, dst, overwrite):
    if not os.path.exists(src):
        raise NotFoundError(None, None, f"tf.io.gfile.{what}: {src}: no such file or directory")
    if os.path.exists(dst) and not overwrite:
        raise AlreadyExistsError(None, None, f"tf.io.gfile.{what}: {dst} already exists; "
                                             "pass overwrite=True to replace it")


def rename(src, dst, overwrite=False):
    """Move `src` to `dst` (one rename, atomic on one file system). AlreadyExistsError when
    `dst` exists, unless `overwrite`."""
    src, dst = _local(src, "rename", "src"), _local(dst, "rename", "dst")
    _check_target("rename", src, dst, overwrite)
    with _tf_errors("rename", dst):
        os.replace(src, dst)  # `dst` is absent unless overwrite was asked for


def copy(src, dst, overwrite=False):
    """Copy the file `src` to `dst`, through a temporary sibling renamed into place (a
    reader never sees half a copy). AlreadyExistsError when `dst` exists, unless
    `overwrite`."""
    src, dst = _local(src, "copy", "src"), _local(dst, "copy", "dst")
    _check_target("copy", src, dst, overwrite)
    if os.path.isdir(src):
        raise IsADirectoryError(f"tf.io.gfile.copy: {src} is a directory; copy copies one "
                                "file (use shutil.copytree for a directory)")
    tmp = _temporary(dst)
    try:
        with _tf_errors("copy", dst):
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _temporary(path):
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{name}.tmp-{uuid.uuid4().hex[:8]}")


_MODES = ("r", "w", "a", "r+", "w+", "a+")  # TF's, each with or without a "b" anywhere


def _python_mode(mode):
    """TF's GFile `mode` as Python's open() mode; TF's InvalidArgumentError for others."""
    base = mode.replace("b", "", 1) if isinstance(mode, str) else None
    if base not in _MODES:
        raise InvalidArgumentError(
            None, None, f"tf.io.gfile.GFile: argument 'mode' must be 'r', 'w', 'a', 'r+', "
            f"'w+' or 'a+', with or without 'b'; received {mode!r}")
    return base + ("b" if "b" in mode else "")


def _open(path, mode):
    # text as TF's GFile has it: UTF-8, and line endings kept as they are ("\r\n" too)
    if "b" in mode:
        return open(path, mode)  # closed by GFile.close
    return open(path, mode, encoding="utf-8", newline="")


class GFile:
    """TF's tf.io.gfile.GFile: a file object for `name` in `mode` ('r', 'w', 'a', 'r+',
    'w+', 'a+', with 'b' for bytes), a context manager and an iterator over lines.

    'w' and 'w+' write to a temporary sibling that replaces `name` when the file is closed (the
    `with` block ends without an error): readers see the old file or the whole new one,
    and an error inside the block leaves the old file as it was. 'a', 'a+' and 'r+' write
    in place.
    """

    def __init__(self, name, mode="r"):
        opened = _python_mode(mode)
        self.name, self.mode = _local(name, "GFile", "name"), mode
        self._binary = "b" in opened
        self._tmp = None
        if os.path.isdir(self.name):
            raise IsADirectoryError(f"tf.io.gfile.GFile: {self.name} is a directory; GFile "
                                    "opens files (listdir lists a directory)")
        if opened[0] == "r":
            if not os.path.isfile(self.name):
                raise NotFoundError(None, None, f"tf.io.gfile.GFile: {self.name}: no such file")
            path = self.name
        elif opened[0] == "w":
            parent = os.path.dirname(os.path.abspath(self.name))
            if not os.path.isdir(parent):
                raise NotFoundError(None, None, f"tf.io.gfile.GFile: {self.name}: directory "
                                                f"{parent} does not exist (makedirs first)")
            path = self._tmp = _temporary(self.name)
        else:
            path = self.name
        with _tf_errors("GFile", self.name):
            self._file = _open(path, opened)

    # -- reading --
    def read(self, n=-1):
        """Up to `n` characters (bytes in 'rb'); everything left when `n` is -1."""
        return self._file.read(n)

    def readline(self):
        """The next line with its newline; '' (b'') at the end."""
        return self._file.readline()

    def readlines(self):
        return self._file.readlines()

    def __iter__(self):
        return iter(self._file)

    def __next__(self):
        return next(self._file)

    def size(self):
        """The file's size in bytes."""
        if self._tmp is not None:
            self._file.flush()
            return os.path.getsize(self._tmp)
        return os.path.getsize(self.name)

    # -- writing --
    def write(self, data):
        """Write `data`: str or bytes in any mode, as TF's (str is written as UTF-8)."""
        if not self._binary and isinstance(data, bytes):
            data = data.decode("utf-8")
        elif self._binary and isinstance(data, str):  # TF's binary modes take str as UTF-8
            data = data.encode("utf-8")
        return self._file.write(data)

    def flush(self):
        self._file.flush()

    def seek(self, offset=None, whence=0, position=None):
        """Move to `offset` (TF's older name: `position`)."""
        return self._file.seek(position if offset is None else offset, whence)

    def tell(self):
        return self._file.tell()

    def seekable(self):
        return True

    @property
    def closed(self):
        return self._file.closed

    def close(self):
        """Close the file; in 'w' mode, move what was written to `name`."""
        if self._file.closed:
            return
        self._file.flush()
        if self._tmp is not None:
            os.fsync(self._file.fileno())
        self._file.close()
        if self._tmp is not None:
            tmp, self._tmp = self._tmp, None
            try:
                os.replace(tmp, self.name)
            except BaseException:  # `name` became a directory meanwhile, say: no temporary left
                with contextlib.suppress(OSError):
                    os.remove(tmp)
                raise

    def _discard(self):
        self._file.close()
        if self._tmp is not None:
            tmp, self._tmp = self._tmp, None
            with contextlib.suppress(OSError):
                os.remove(tmp)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is not None and self._tmp is not None:
            self._discard()  # the old file stays whole, as after a failed save
        else:
            self.close()

    def __del__(self):
        # `GFile(p).read()` is common TF code: a dropped reader closes quietly, as TF's. A
        # writer never closed lands nothing (close() is what writes) and leaves no temporary.
        if getattr(self, "_file", None) is not None and not self._file.closed:
            self._discard()



def __getattr__(name):
    # still an AttributeError (hasattr stays False), naming what gfile does provide
    if name.startswith("__"):
        raise AttributeError(name)
    raise AttributeError(
        f"module 'xlaflow.io.gfile' has no attribute {name!r}: tf.io.gfile.{name} is not "
        f"provided; xf.io.gfile has {', '.join(__all__)} (local files); for anything else "
        "use Python's os, shutil and glob modules")
