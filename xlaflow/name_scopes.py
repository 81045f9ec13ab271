"""xf.name_scope: TF's prefix for the names of the Variables created inside the block.

XLA programs carry no op names, so the scope's one visible effect is a Variable's name
(`outer/v`), which checkpoints and summaries show; it lives per thread, as TF's does.
"""

from __future__ import annotations

import re
import threading

_local = threading.local()
_VALID = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$")


def current():
    """The active scope, '' or ending in '/' ('outer/inner/')."""
    return getattr(_local, "scope", "")


class name_scope:
    """`with xf.name_scope("outer") as scope:` prefixes Variable names with "outer/".

    A name ending in "/" is an absolute scope (TF's way to re-enter one); "" clears it.

    >>> from xlaflow.variables import Variable
    >>> with name_scope("outer"):
    ...     with name_scope("inner") as scope:
    ...         v = Variable(1.0, name="v")
    >>> scope, v.name
    ('outer/inner/', 'outer/inner/v')
    """

    def __init__(self, name):
        if not isinstance(name, str):
            raise TypeError(f"name_scope: expected a str name, received {name!r}")
        if name and not _VALID.match(name.rstrip("/") or "x"):
            raise ValueError(f"name_scope: {name!r} is not a valid scope name (letters, "
                             "digits, '.', '_', '-', '/'; not starting with '_' or '-')")
        self._name = name
        self._previous = []

    @property
    def name(self):
        return self._name

    def __enter__(self):
        before = current()
        if not self._name:
            scope = ""
        elif self._name.endswith("/"):
            scope = self._name
        else:
            scope = f"{before}{self._name}/"
        self._previous.append(before)
        _local.scope = scope
        return scope

    def __exit__(self, *exc):
        _local.scope = self._previous.pop()
        return False


def scoped(name):
    """`name` inside the active scope (a Variable's full name)."""
    return current() + name
