"""Module: a named owner of Variables and sub-modules that it finds by walking its attributes."""

from __future__ import annotations

import functools
import re

from xlaflow import name_scopes as _scopes
from xlaflow.variables import Variable


def _snake(name):
    """TF's default module name: the class name in snake case (SequentialModule ->
    sequential_module)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


class Module:
    """Base for objects that own state (TF's `tf.Module`).

    `variables` walks the instance's attributes in TF's order: attribute names sorted, the
    module's own values (inside lists, tuples and dicts too) before those of its
    submodules, each Variable once. Keras layers keep creation order instead (Layer).

    >>> class Scale(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w = Variable(2.0, name="w")
    ...         self.b = Variable(0.0, name="b")
    >>> [v.name for v in Scale().variables], Scale().name
    (['b', 'w'], 'scale')
    """

    def __init__(self, name=None):
        self._module_name = _snake(type(self).__name__) if name is None else str(name)
        outer = _scopes.current()
        if outer:  # tf.Module fixes its scope where it is made ('outer/'); kept only if any
            self._outer_scope = outer

    @property
    def name(self):
        return self._module_name

    @property
    def name_scope(self):
        """TF's `with module.name_scope:`: Variables created inside are named
        '<scope the module was made in>/<module name>/...', wherever it is entered."""
        return _scopes.name_scope(f"{getattr(self, '_outer_scope', '')}{self.name}/")

    @classmethod
    def with_name_scope(cls, method):
        """Decorator (TF's `@tf.Module.with_name_scope`): `method` runs inside the module's
        name_scope, so the Variables it creates carry the module's name."""
        @functools.wraps(method)
        def scoped(self, *args, **kwargs):
            with self.name_scope:
                return method(self, *args, **kwargs)
        return scoped

    @property
    def variables(self):
        """Every Variable reachable from this module, each once (see the class docstring)."""
        return tuple(self._found(Variable).values())

    @property
    def trainable_variables(self):
        return tuple(v for v in self.variables if v.trainable)

    @property
    def non_trainable_variables(self):
        return tuple(v for v in self.variables if not v.trainable)

    @property
    def submodules(self):
        """Every Module reachable from this one (not including itself)."""
        return tuple(self._found(Module).values())

    def _found(self, kind):
        """{id: object} of every `kind` reachable, in this class's walking order."""
        found = {}
        _walk_sorted(self, found, {id(self)}, kind)
        return found


def _leaves(value, seen):
    """The non-container values in `value` (lists, tuples and dicts walked, dict keys
    sorted where they compare, as TF's nest flattens them)."""
    if isinstance(value, (list, tuple, dict)):
        if id(value) in seen:
            return
        seen.add(id(value))
        items = value.values() if isinstance(value, dict) else value
        if isinstance(value, dict):
            try:
                items = [value[k] for k in sorted(value)]
            except TypeError:  # keys of several types: insertion order
                pass
        for item in items:
            yield from _leaves(item, seen)
    else:
        yield value


def _walk_sorted(module, found, seen, kind):
    """TF's `_flatten_module`: own values by sorted attribute name, then each submodule."""
    submodules = []
    attributes = vars(module)
    for key in sorted(attributes):
        for leaf in _leaves(attributes[key], seen):
            if isinstance(leaf, kind):
                found.setdefault(id(leaf), leaf)
            if isinstance(leaf, Module) and id(leaf) not in seen:
                seen.add(id(leaf))
                submodules.append(leaf)
    for sub in submodules:
        _walk_sorted(sub, found, seen, kind)


def walk_in_attribute_order(obj, found, seen, kind):
    """Depth first in attribute (creation) order: the order Keras layers keep."""
    values = vars(obj).values() if isinstance(obj, Module) else (
        obj.values() if isinstance(obj, dict) else obj)
    for value in values:
        if isinstance(value, kind) and not isinstance(value, (list, tuple, dict)):
            found.setdefault(id(value), value)
        if isinstance(value, (Module, list, tuple, dict)) and id(value) not in seen:
            seen.add(id(value))
            walk_in_attribute_order(value, found, seen, kind)
