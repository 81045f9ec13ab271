"""The filesystem Source: which versions of a model exist, and which the policy aspires to.

Stateless by design (TF Serving's): every poll lists `<base_path>/<int64>/` afresh and the
policy picks the aspired set in full; the manager treats a version missing from it as a
request to unload. A base path that cannot be listed is an error that changes nothing.
"""

from __future__ import annotations

import logging
import os
import re

log = logging.getLogger("xlaflow.serving")

_INT64 = re.compile(r"[0-9]{1,19}")  # ASCII digits, the whole name (fullmatch)


def list_versions(base_path):
    """{version: directory} for the children whose whole name is an int64.

    Raises OSError when `base_path` is missing or unreadable. Other names (`.partial-*`,
    `tmp-7`, `7.staging`) are skipped silently; `7` and `007` keep one, with a warning.
    """
    found = {}
    with os.scandir(base_path) as entries:
        for entry in entries:
            if not _INT64.fullmatch(entry.name) or not entry.is_dir():
                continue
            version = int(entry.name)
            if version >= 2 ** 63:
                continue
            if version in found:
                kept = min(found[version], entry.path)
                log.warning("%s: two directories name version %d (%s, %s); serving %s",
                            base_path, version, found[version], entry.path, kept)
                found[version] = kept
            else:
                found[version] = entry.path
    return found


def aspired_versions(policy, available):
    """The versions `policy` serves out of `available` ({version: path}).

    `policy` is ("latest", n) | ("all", None) | ("specific", versions).
    """
    kind, value = policy
    if kind == "latest":
        return {v: available[v] for v in sorted(available)[-max(int(value or 1), 1):]}
    if kind == "all":
        return dict(available)
    if kind == "specific":
        missing = sorted(set(value) - set(available))
        if missing:
            log.warning("version policy names versions %s that are not on disk", missing)
        return {v: available[v] for v in value if v in available}
    raise ValueError(f"unknown version policy {kind!r}")
