"""`items = ag__.list_append(items, x)`: Python append, or collecting a tensor loop's items."""

from __future__ import annotations


class Accumulator:
    """Stands in for a list inside a traced loop body: it only collects appended values,
    which the loop stacks along its iterations and turns back into list items afterwards."""

    __slots__ = ("name", "items")

    def __init__(self, name):
        self.name = name
        self.items = []

    def _fail(self, *args, **kwargs):
        raise TypeError(
            f"inside a loop over a tensor, list '{self.name}' only supports .append(); its "
            "items (one per iteration, stacked by the loop) are available after the loop")

    __len__ = __getitem__ = __iter__ = __setitem__ = __contains__ = _fail

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        self._fail()


def list_append(target, item):
    """Append `item` to `target` and return it (the converted `target.append(item)`)."""
    if isinstance(target, Accumulator):
        target.items.append(item)
        return target
    target.append(item)
    return target
