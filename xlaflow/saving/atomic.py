"""Directories that are complete or absent: write to a temporary sibling, seal it with a
manifest of every file's size and SHA-256, then rename it into place.

A reader trusts a directory only through its manifest, so a crash mid-save, a copy that
is still arriving (a model pushed to a bucket file by file) or a flipped byte is refused
with an error naming the file, instead of loading and failing later at inference.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import uuid

_CHUNK = 1 << 22


class CorruptSaveError(ValueError):
    """A saved directory is partial, tampered with, or not the kind the reader expected."""


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _files(root):
    for parent, _, names in os.walk(root):
        for name in names:
            full = os.path.join(parent, name)
            yield os.path.relpath(full, root).replace(os.sep, "/"), full


def write_json(path, data):
    """Write JSON to `path` through a temporary name, so readers never see half of it."""
    write_text(path, json.dumps(data, indent=1, sort_keys=False, allow_nan=False) + "\n")


def write_text(path, text):
    """Write `text` to `path` through a temporary name (flushed to disk, then renamed).
    A symlink at `path` keeps pointing at the file, which gets the new text."""
    with replacing(os.path.realpath(path)) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def replacing(path):
    """A temporary sibling of the file `path` to write: renamed over `path` when the block
    ends cleanly, removed otherwise, so readers never see half a file (a full disk or an
    interrupt leaves the old file whole and no temporary behind)."""
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


# The sealing files of xlaflow's directory formats (export, weights, checkpoint): a
# directory holding one is an earlier save, which a new save may replace.
SEALS = ("xlaflow_export.json", "xlaflow_weights.json", "xlaflow_seal.json")
# What wrote each kind, and what reads it: named when a directory reaches the wrong reader.
_KINDS = {
    "xlaflow_export.json": "model.save or an export (xf.saved_model.save, model.export); "
                           "read it with xf.keras.models.load_model or xf.saved_model.load",
    "xlaflow_weights.json": "model.save_weights; read it with model.load_weights",
    "xlaflow_seal.json": "xf.train.Checkpoint (write, save or a CheckpointManager); read "
                         "it with Checkpoint.restore",
}


def other_kind(path, expected):
    """How the xlaflow save at `path` was written and is read, when it is sealed by another
    format than `expected` (a sealing file name); None otherwise."""
    for seal, kind in _KINDS.items():
        if seal != expected and os.path.isfile(os.path.join(path, seal)):
            return kind
    return None


def check_replaceable(path, what):
    """Refuse to replace `path` unless it is an earlier save or an empty directory:
    overwrite=True must never delete a folder of the user's own files."""
    if not os.path.isdir(path):
        raise FileExistsError(f"{what}: {path} is a file; this format is a directory")
    entries = sorted(os.listdir(path))
    if entries and not any(seal in entries for seal in SEALS):
        raise FileExistsError(
            f"{what}: {path} exists and is not an xlaflow save (it holds {len(entries)} "
            f"entries, e.g. {entries[0]!r}); refusing to replace it. Save to a new path, "
            "or delete it first.")


def write_directory(path, fill, *, manifest, header, overwrite=True, what="save"):
    """Create the directory `path` by calling `fill(tmp_dir)`, then seal and rename it.

    `manifest` is the name of the sealing file, `header` the fields it starts with (the
    format name and version). An existing `path` is replaced only when `overwrite`, and
    only if it is an earlier save or empty.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path):
        if not overwrite:
            raise FileExistsError(f"{what}: {path} exists and overwrite=False")
        check_replaceable(path, what)
    # A symlinked path (or parent) saves into the folder it points at, as TF does; the
    # renames happen beside that folder, so the link itself stays.
    target = os.path.realpath(path)
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    partial = f"{target}.partial-{uuid.uuid4().hex[:8]}"
    os.mkdir(partial)
    try:
        fill(partial)
        files = {rel: {"bytes": os.path.getsize(full), "sha256": sha256_file(full)}
                 for rel, full in sorted(_files(partial))}
        write_json(os.path.join(partial, manifest), {**header, "files": files})
        replace_directory(partial, target)
    finally:
        if os.path.exists(partial):
            shutil.rmtree(partial, ignore_errors=True)
    return path


def replace_directory(new, path):
    """Rename the finished directory `new` to `path`, replacing what is there. Two renames:
    a crash between them leaves `path.old-*`, which complete() finds; once `path` is in
    place, every such leftover of earlier crashes goes."""
    old = None
    if os.path.exists(path):
        old = f"{path}.old-{uuid.uuid4().hex[:8]}"
        os.replace(path, old)
    os.replace(new, path)
    if old is not None:  # ours, sealed or not (an empty folder the save replaced)
        shutil.rmtree(old, ignore_errors=True)
    for stale in _leftovers(path):
        shutil.rmtree(stale, ignore_errors=True)



def _leftovers(path):
    """This code's own `path.old-<8 hex>` directories, each an earlier save (sealed): a
    user's folder that merely starts with the name is never touched or loaded."""
    parent, name = os.path.split(path)
    if not os.path.isdir(parent):
        return []
    own = re.compile(re.escape(name) + r"\.old-[0-9a-f]{8}")
    found = []
    for entry in os.listdir(parent):
        full = os.path.join(parent, entry)
        if own.fullmatch(entry) and not os.path.islink(full) and os.path.isdir(full) and \
                any(os.path.isfile(os.path.join(full, seal)) for seal in SEALS):
            found.append(full)
    return found


def read_stable(path, read, what):
    """`read(directory)` for the save at `path`, made again if a save replaced the directory
    meanwhile: a reader never mixes two saves (their files are read at different times)."""
    for _ in range(3):
        found = complete(path)
        before = _identity(found)
        if before is None:
            return read(found)  # nothing there: the reader says so
        try:
            result = read(found)
        except Exception:
            if _identity(found) == before:
                raise  # the save itself is at fault, not a save landing meanwhile
            continue
        if _identity(found) == before:
            return result
    raise RuntimeError(f"{what}: {path} kept being replaced by new saves while it was read; "
                       "read it again once they stop")


def _identity(path):
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def complete(path):
    """`path`, or the previous directory if a save died between its two renames (the
    newest, should several crashes have left some)."""
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path):
        return path
    olds = _leftovers(path)
    return max(olds, key=os.path.getmtime) if olds else path


def verify_directory(path, *, manifest, format_name, max_version, what="load"):
    """Check `path` against its manifest (every file present, same size and SHA-256) and
    return the manifest's contents. Raises CorruptSaveError naming the first bad file."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{what}: {path} does not exist or is not a directory")
    sealed = os.path.join(path, manifest)
    if not os.path.isfile(sealed):
        kind = other_kind(path, manifest)
        if kind is not None:
            raise CorruptSaveError(f"{what}: {path} is not the kind of save {what} reads: it "
                                   f"was written by {kind}")
        raise CorruptSaveError(
            f"{what}: {path} has no {manifest}: it is incomplete (a save or copy still in "
            "progress, or one that died) or was not written by xlaflow")
    try:
        with open(sealed, encoding="utf-8") as f:
            header = json.load(f)
    except (OSError, ValueError) as exc:
        raise CorruptSaveError(f"{what}: {sealed} is not valid JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != format_name:
        raise CorruptSaveError(f"{what}: {sealed} does not describe a {format_name!r} "
                               f"directory (format={_get(header, 'format')!r})")
    version = header.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= max_version:
        raise CorruptSaveError(f"{what}: {sealed} has format_version {version!r}; this "
                               f"xlaflow reads versions 1 to {max_version} (upgrade xlaflow)")
    files = header.get("files")
    if not isinstance(files, dict):
        raise CorruptSaveError(f"{what}: {sealed} lists no files")
    for rel, expected in files.items():
        if not isinstance(expected, dict):
            raise CorruptSaveError(f"{what}: {sealed} records {rel!r} as {expected!r}, not "
                                   "as {\"bytes\": ..., \"sha256\": ...}")
        full = os.path.normpath(os.path.join(path, rel))
        if os.path.commonpath([full, os.path.abspath(path)]) != os.path.abspath(path):
            raise CorruptSaveError(f"{what}: {sealed} names a file outside the directory: "
                                   f"{rel!r}")
        if not os.path.isfile(full):
            raise CorruptSaveError(f"{what}: {path} is missing {rel} (listed in {manifest})")
        size = os.path.getsize(full)
        if size != expected.get("bytes"):
            raise CorruptSaveError(f"{what}: {path}/{rel} has {size} bytes; {manifest} "
                                   f"records {expected.get('bytes')} (truncated or replaced)")
        if sha256_file(full) != expected.get("sha256"):
            raise CorruptSaveError(f"{what}: {path}/{rel} does not match its SHA-256 in "
                                   f"{manifest} (modified after saving)")
    return header


def _get(mapping, key):
    return mapping.get(key) if isinstance(mapping, dict) else None
