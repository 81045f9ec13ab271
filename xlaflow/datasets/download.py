"""Download a file once into a cache directory, verified by SHA-256, written atomically."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request


def cache_dir():
    """~/.xlaflow/datasets, or $XLAFLOW_DATASETS_DIR."""
    return os.environ.get("XLAFLOW_DATASETS_DIR") or os.path.join(
        os.path.expanduser("~"), ".xlaflow", "datasets")


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def get_file(fname, origin, file_hash, directory=None, timeout=30):
    """The local path of `fname`, downloading it from `origin` first if it is not cached.

    The download goes to a temporary file in the cache directory and is renamed into place
    only when its SHA-256 equals `file_hash`, so an interrupted or corrupted download never
    looks like a cached file.
    """
    directory = directory or cache_dir()
    path = os.path.join(directory, fname)
    if os.path.exists(path):
        if sha256(path) == file_hash:
            return path
        raise ValueError(f"{path} exists but its SHA-256 is {sha256(path)}, not {file_hash}; "
                         "delete it to download it again")
    os.makedirs(directory, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{fname}.", suffix=".part", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(origin, timeout=timeout) as src:
            for block in iter(lambda: src.read(1 << 20), b""):
                out.write(block)
        got = sha256(partial)
        if got != file_hash:
            raise ValueError(f"downloaded {origin} but its SHA-256 is {got}, expected "
                             f"{file_hash}; the file was not kept")
        os.replace(partial, path)
    except (urllib.error.URLError, OSError) as e:
        raise OSError(
            f"could not download {fname} from {origin} ({getattr(e, 'reason', e)}). If this "
            f"machine is offline, copy the file to {path} (SHA-256 {file_hash}) or set "
            "XLAFLOW_DATASETS_DIR to a directory that holds it.") from e
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path
