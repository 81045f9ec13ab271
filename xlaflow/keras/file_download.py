"""keras.utils.get_file with Keras 2's signature: download once into ~/.keras/<cache_subdir>,
verified by MD5 or SHA-256 as Keras pins its files, written under a temporary name."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request


def keras_home():
    """$KERAS_HOME, else ~/.keras (Keras 2's cache root)."""
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def _algorithm(file_hash, hash_algorithm):
    if hash_algorithm not in ("auto", "md5", "sha256"):
        raise ValueError(f"get_file: hash_algorithm must be 'auto', 'md5' or 'sha256'; "
                         f"received {hash_algorithm!r}")
    if hash_algorithm == "auto":  # as Keras: a 32-digit hash is MD5, any other SHA-256
        return "md5" if len(file_hash) == 32 else "sha256"
    return hash_algorithm


def hash_file(fpath, algorithm="sha256"):
    """The hex digest of the file `fpath` ('md5' or 'sha256'), read in 64 KiB chunks."""
    digest = hashlib.md5() if algorithm == "md5" else hashlib.sha256()
    with open(fpath, "rb") as handle:
        for block in iter(lambda: handle.read(65535), b""):
            digest.update(block)
    return digest.hexdigest()


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None,
             cache_subdir="datasets", hash_algorithm="auto", extract=False,
             archive_format="auto", cache_dir=None):
    """The local path of `fname` under `cache_dir/cache_subdir`, downloaded from `origin`
    first unless a copy whose hash matches `file_hash` is there (Keras 2's get_file).

    A cached copy with another hash is downloaded again, as in Keras; a download whose
    hash differs raises ValueError and is not kept.
    """
    if origin is None:
        raise ValueError('get_file: please specify the "origin" argument (the URL of the '
                         'file to download); received origin=None')
    if untar or extract:
        raise NotImplementedError(
            "get_file(untar=True / extract=True) is not supported by xlaflow: download the "
            "archive with get_file(...) and unpack the returned path with "
            "shutil.unpack_archive(path, directory)")
    if archive_format not in ("auto", "tar", "zip", None) and not isinstance(
            archive_format, (list, tuple)):
        raise ValueError(f"get_file: archive_format must be 'auto', 'tar', 'zip', a list of "
                         f"those or None; received {archive_format!r}")
    if md5_hash is not None and file_hash is None:  # Keras 2's deprecated spelling
        file_hash, hash_algorithm = md5_hash, "md5"
    algorithm = _algorithm(file_hash or "", hash_algorithm)
    if not fname:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(f"get_file: can't infer a file name from origin={origin!r}; "
                             "pass fname=")
    fname = os.fspath(fname)
    root = os.path.expanduser(cache_dir) if cache_dir is not None else keras_home()
    directory = os.path.join(root, cache_subdir)
    try:
        os.makedirs(directory, exist_ok=True)
        usable = os.access(directory, os.W_OK)
    except OSError:
        usable = False
    if not usable:  # Keras' fallback for a cache it cannot write
        directory = os.path.join(tempfile.gettempdir(), ".keras", cache_subdir)
        os.makedirs(directory, exist_ok=True)
    fpath = os.path.join(directory, fname)

    if os.path.exists(fpath) and (file_hash is None or
                                  hash_file(fpath, algorithm) == file_hash):
        return fpath
    fd, partial = tempfile.mkstemp(prefix=f".{os.path.basename(fname)}.", suffix=".part",
                                   dir=os.path.dirname(fpath))
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(origin) as src:
                for block in iter(lambda: src.read(1 << 20), b""):
                    out.write(block)
        except (urllib.error.URLError, OSError) as e:
            raise OSError(f"URL fetch failure on {origin}: {getattr(e, 'reason', e)}. "
                            f"If this machine is offline, copy the file to {fpath}") from e
        if file_hash is not None:
            got = hash_file(partial, algorithm)
            if got != file_hash:
                raise ValueError(f"Incomplete or corrupted file detected. The {algorithm} "
                                 f"file hash does not match the provided value of "
                                 f"{file_hash} (downloaded {origin}: {got}); the file was "
                                 "not kept")
        os.replace(partial, fpath)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return fpath
