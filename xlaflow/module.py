"""Module: a named owner of Variables and sub-modules that it finds by walking its attributes."""

from __future__ import annotations

from xlaflow.variables import Variable


class Module:
    """Base for objects that own state (TF's `tf.Module`).

    `variables` walks the instance's attributes (and lists, tuples and dicts in them,
    and nested Modules) in attribute order, each Variable once.

    >>> class Scale(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w = Variable(2.0)
    >>> [v.name for v in Scale().variables]
    ['Variable']
    """

    def __init__(self, name=None):
        self._module_name = type(self).__name__.lower() if name is None else str(name)

    @property
    def name(self):
        return self._module_name

    @property
    def variables(self):
        """Every Variable reachable from this module, each once, in attribute order."""
        found = {}
        _walk(self, found, {id(self)}, Variable)
        return tuple(found.values())

    @property
    def trainable_variables(self):
        return tuple(v for v in self.variables if v.trainable)

    @property
    def non_trainable_variables(self):
        return tuple(v for v in self.variables if not v.trainable)

    @property
    def submodules(self):
        """Every Module reachable from this one (not including itself)."""
        found = {}
        _walk(self, found, {id(self)}, Module)
        return tuple(found.values())


def _walk(obj, found, seen, kind):
    values = vars(obj).values() if isinstance(obj, Module) else (
        obj.values() if isinstance(obj, dict) else obj)
    for value in values:
        if isinstance(value, kind) and not isinstance(value, (list, tuple, dict)):
            found.setdefault(id(value), value)
        if isinstance(value, (Module, list, tuple, dict)) and id(value) not in seen:
            seen.add(id(value))
            _walk(value, found, seen, kind)
