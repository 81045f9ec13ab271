"""The files of a checkpoint directory around its arrays, and the checks made before a
restore trusts them: the seal, the digest manifest, each array's digest, the `checkpoint`
file naming a folder's latest save, and whether a directory is a checkpoint at all.

Kept apart from `Checkpoint` (checkpoint.py), which decides what is saved and restored.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

import jax
import numpy as np

from xlaflow.saving import atomic

# Version 2 adds `same_as` entries (a Variable written once, reached under two objects).
FORMAT, FORMAT_VERSION = "xlaflow.checkpoint", 2
SEAL, _SEALED_ITEMS = "xlaflow_seal.json", ("state", "digest")


class CheckpointIntegrityError(ValueError):
    """A checkpoint is truncated, tampered with, or unreadable (TF's DataLossError)."""


def _digest(array):
    h = hashlib.sha256(f"{array.dtype.name}{list(array.shape)}".encode())
    h.update(np.ascontiguousarray(array).reshape(-1).view(np.uint8))
    return h.hexdigest()


def _check_is_checkpoint(path, what):
    """Refuse, by name, a directory that is not one checkpoint: a folder of them (the
    `file_prefix`'s folder, a CheckpointManager's) or another kind of xlaflow save. One
    that merely lost files goes on to the integrity checks, which call it damaged."""
    if os.path.exists(os.path.join(path, SEAL)) or os.path.isdir(os.path.join(path, "digest")):
        return
    kind = atomic.other_kind(path, SEAL)
    if kind is not None:
        raise ValueError(f"Checkpoint.{what}: {path} is not a checkpoint: it was written by "
                         f"{kind}")
    inside = sorted(entry for entry in os.listdir(path) if os.path.isfile(
        os.path.join(path, entry, SEAL)) or os.path.isdir(os.path.join(path, entry, "digest")))
    if inside:
        numbered = [e for e in inside if e.isdigit()]  # a CheckpointManager's steps
        latest = recorded_latest(path) or (
            os.path.join(path, max(numbered, key=int)) if numbered else None)
        which = f"e.g. xf.train.latest_checkpoint({path!r}) = {latest}" if latest else \
            f"it holds {inside[:4]}"
        raise ValueError(f"Checkpoint.{what}: {path} holds checkpoints, it is not one: pass "
                         f"one of them, {which}")


def _integrity(path, problem):
    return CheckpointIntegrityError(f"checkpoint {path} is damaged and was not restored: "
                                    f"{problem}")


def _brief(exc):
    """An orbax/tensorstore error in a line: without the JSON spec tensorstore appends."""
    text = str(exc).split(" [tensorstore_spec", 1)[0]
    return f"{type(exc).__name__}: {text[:400]}"


def _read_manifest(ocp, checkpointer, path):
    try:
        manifest = checkpointer.restore(
            path, args=ocp.args.Composite(digest=ocp.args.JsonRestore()))["digest"]
    except Exception as exc:  # noqa: BLE001 (orbax and tensorstore raise many types)
        raise _integrity(path, f"its digest item cannot be read ({_brief(exc)}); truncated, "
                               "tampered with, or not written by xf.train.Checkpoint") from None
    if not _well_formed(manifest):
        raise _integrity(path, f"its digest item is not a well-formed {FORMAT!r} manifest")
    if manifest.get("format_version") not in range(1, FORMAT_VERSION + 1):
        raise _integrity(path, f"format_version {manifest.get('format_version')!r} is newer "
                               f"than this xlaflow reads ({FORMAT_VERSION}); upgrade xlaflow")
    return manifest


def _well_formed(manifest):
    """Whether every entry has a shape of sizes, a known dtype and a digest string."""
    try:
        for entries in manifest["objects"].values():
            for entry in entries.values():
                if not isinstance(entry["sha256"], str) or any(
                        int(d) < 0 for d in entry["shape"]):
                    return False
                jax.numpy.dtype(entry["dtype"])
        return manifest["format"] == FORMAT
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


def _read_state(ocp, checkpointer, path, stored):
    """Every stored array (as NumPy), each checked against its digest; a `same_as` entry
    gets the array of the entry it names."""
    target = {name: {key: np.zeros(e["shape"], jax.numpy.dtype(e["dtype"]))
                     for key, e in entries.items() if "same_as" not in e}
              for name, entries in stored.items()}
    target = {name: arrays for name, arrays in target.items() if arrays}
    values = {}
    if target:
        try:
            values = checkpointer.restore(path, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(target)))["state"]
        except Exception as exc:  # noqa: BLE001 (orbax and tensorstore raise many types)
            raise _integrity(path, f"its state item cannot be read ({_brief(exc)})") from None
    values = {name: dict(values.get(name, {})) for name in stored}
    for name, entries in stored.items():
        for key, entry in entries.items():
            if "same_as" in entry:
                owner, owner_key = _alias(path, name, key, entry["same_as"], stored)
                values[name][key] = values[owner].get(owner_key)
            value = values[name].get(key)
            if value is None or _digest(np.asarray(value)) != entry["sha256"]:
                raise _integrity(path, f"{name}.{key} does not match its SHA-256 in the "
                                       "digest item (modified or truncated after saving)")
    return values


def _alias(path, name, key, same_as, stored):
    """(object, key) that a `same_as` entry names, checked to be a stored array."""
    try:
        owner, owner_key = same_as
        if "same_as" not in stored[owner][owner_key]:
            return owner, owner_key
    except (KeyError, TypeError, ValueError):
        pass
    raise _integrity(path, f"{name}.{key} names {same_as!r} as its array, which the digest "
                           "item does not hold")


def _item_files(path):
    for item in _SEALED_ITEMS:
        for parent, _, names in os.walk(os.path.join(path, item)):
            for name in names:
                full = os.path.join(parent, name)
                yield os.path.relpath(full, path).replace(os.sep, "/"), full


STATE_FILE = "checkpoint"  # TF's name: the directory's latest Checkpoint.save


def record_latest(path):
    """Name `path` (a Checkpoint.save result) as its directory's latest, in TF's text form
    (`model_checkpoint_path: "ckpt-3"`), written atomically."""
    directory, name = os.path.split(path)
    atomic.write_text(os.path.join(directory, STATE_FILE), f'model_checkpoint_path: "{name}"\n')


def recorded_latest(directory):
    """The checkpoint its `checkpoint` file names, if that file and checkpoint exist."""
    try:
        with open(os.path.join(directory, STATE_FILE), encoding="utf-8") as f:
            found = re.search(r'^model_checkpoint_path:\s*"([^"]+)"', f.read(), re.MULTILINE)
    except OSError:
        return None
    path = os.path.join(directory, found.group(1)) if found else None
    return path if path is not None and os.path.isdir(path) else None


def seal(path):
    """Record the size and SHA-256 of every item file of the finished checkpoint `path`."""
    files = {rel: {"bytes": os.path.getsize(full), "sha256": atomic.sha256_file(full)}
             for rel, full in sorted(_item_files(path))}
    atomic.write_json(os.path.join(path, SEAL), {"format": FORMAT, "files": files})


def _verify_seal(path):
    sealed = os.path.join(path, SEAL)
    if not os.path.exists(sealed):
        return  # its process stopped before sealing it: the array digests still check it
    try:
        with open(sealed, encoding="utf-8") as f:
            files = json.load(f)["files"]
        items = [(rel, e["bytes"], e["sha256"]) for rel, e in files.items()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _integrity(path, f"its {SEAL} is unreadable ({type(exc).__name__}: {exc})") \
            from None
    for rel, size, sha in items:
        full = os.path.join(path, *rel.split("/"))
        if ".." in rel.split("/") or not os.path.isfile(full):
            raise _integrity(path, f"{rel} (listed in {SEAL}) is missing")
        if os.path.getsize(full) != size:
            raise _integrity(path, f"{rel} has {os.path.getsize(full)} bytes, {SEAL} records "
                                   f"{size} (truncated or replaced)")
        if atomic.sha256_file(full) != sha:
            raise _integrity(path, f"{rel} does not match its SHA-256 in {SEAL} (modified "
                                   "after saving)")
