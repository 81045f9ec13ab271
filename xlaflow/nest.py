"""tf.nest: flatten and rebuild nested structures by TF's rules, which differ from
jax.tree_util's (None is a leaf, not an empty subtree; dict values go in sorted-key order).

Nested: lists, tuples, namedtuples, mappings (values in sorted-key order; the rebuilt
mapping keeps the original key order) and other non-string `collections.abc.Sequence`s.
Everything else is a leaf: None, strings, sets, NumPy and jax arrays, Variables.
"""

from __future__ import annotations

import collections
from collections import abc

__all__ = ["assert_same_structure", "flatten", "is_nested", "map_structure",
           "pack_sequence_as"]


def is_nested(seq):
    """Whether `seq` is a structure tf.nest descends into (rather than a leaf)."""
    if isinstance(seq, (str, bytes, bytearray)):
        return False
    return isinstance(seq, (abc.Mapping, abc.MappingView, abc.Sequence))


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _sorted_keys(mapping):
    try:
        return sorted(mapping)
    except TypeError as e:
        raise TypeError(f"nest only supports dicts with sortable keys; received keys "
                        f"{list(mapping)!r}") from e


def _children(structure):
    """The immediate children of a nested `structure`, in tf.nest's order."""
    if isinstance(structure, abc.Mapping):
        return [structure[k] for k in _sorted_keys(structure)]
    if isinstance(structure, abc.MappingView):
        return list(structure)
    return list(structure)


def _sequence_like(instance, children):
    """A structure of `instance`'s type holding `children` (in tf.nest's order)."""
    if isinstance(instance, abc.Mapping):
        by_key = dict(zip(_sorted_keys(instance), children))
        if isinstance(instance, collections.defaultdict):
            rebuilt = collections.defaultdict(instance.default_factory)
            for key in instance:  # the original insertion order, as TF keeps it
                rebuilt[key] = by_key[key]
            return rebuilt
        return type(instance)((key, by_key[key]) for key in instance)
    if isinstance(instance, abc.MappingView):
        return list(children)
    if _is_namedtuple(instance):
        return type(instance)(*children)
    if isinstance(instance, range):
        return list(children)
    return type(instance)(children)


def _components(value, expand):
    """With expand_composites, a RaggedTensor's or SparseTensor's tensors in TF's order
    ([flat_values, *nested_row_splits]; [indices, values, dense_shape]), else None."""
    if not expand:
        return None
    from xlaflow.ragged_tensor import RaggedTensor
    from xlaflow.sparse_tensor import SparseTensor

    if isinstance(value, RaggedTensor):
        return [value.flat_values, *value.nested_row_splits]
    if isinstance(value, SparseTensor):
        return [value.indices, value.values, value.dense_shape]
    return None


def _from_components(template, parts):
    """A composite like `template` over new component tensors `parts`."""
    from xlaflow.ragged_tensor import RaggedTensor
    from xlaflow.sparse_tensor import SparseTensor

    if isinstance(template, SparseTensor):
        return SparseTensor._unchecked(*parts)
    uniforms, level = [], template
    while isinstance(level, RaggedTensor):  # each level keeps its uniform row length
        uniforms.append(level._uniform)
        level = level.values
    out = parts[0]
    for splits, uniform in reversed(list(zip(parts[1:], uniforms))):
        out = RaggedTensor._unchecked(out, splits, uniform)
    return out


def flatten(structure, expand_composites=False):
    """The leaves of `structure`, depth first (a leaf alone gives `[leaf]`); with
    expand_composites, a RaggedTensor or SparseTensor gives its component tensors."""
    parts = _components(structure, expand_composites)
    if parts is not None:
        return parts
    if not is_nested(structure):
        return [structure]
    out = []
    for child in _children(structure):
        out.extend(flatten(child, expand_composites))
    return out


def _count(structure, expand=False):
    parts = _components(structure, expand)
    if parts is not None:
        return len(parts)
    if not is_nested(structure):
        return 1
    return sum(_count(c, expand) for c in _children(structure))


def pack_sequence_as(structure, flat_sequence, expand_composites=False):
    """`flat_sequence`'s items arranged in `structure`'s nesting (the inverse of flatten)."""
    if not is_nested(flat_sequence):
        raise TypeError(f"pack_sequence_as: flat_sequence must be a sequence; received "
                        f"{type(flat_sequence).__name__}")
    flat = list(flat_sequence)
    if not is_nested(structure) and _components(structure, expand_composites) is None:
        if len(flat) != 1:
            raise ValueError(f"pack_sequence_as: structure is a leaf ({structure!r}), so "
                             f"flat_sequence must have 1 item; it has {len(flat)}")
        return flat[0]
    atoms = _count(structure, expand_composites)
    if atoms != len(flat):
        raise ValueError(f"Could not pack sequence. Structure had {atoms} atoms, but "
                         f"flat_sequence had {len(flat)} items. Structure: {structure!r}")
    items = iter(flat)

    def build(node):
        parts = _components(node, expand_composites)
        if parts is not None:
            return _from_components(node, [next(items) for _ in parts])
        if not is_nested(node):
            return next(items)
        return _sequence_like(node, [build(c) for c in _children(node)])

    return build(structure)


def _same_type(a, b):
    if type(a) is type(b):
        return True
    if isinstance(a, list) and isinstance(b, list):  # a list subclass matches a list
        return True
    if isinstance(a, abc.Mapping) and isinstance(b, abc.Mapping):
        return True  # TF lets any two mapping types match (dict and OrderedDict)
    if _is_namedtuple(a) and _is_namedtuple(b):  # same name and fields count as one type
        return (type(a).__name__ == type(b).__name__
                and type(a)._fields == type(b)._fields)
    return False


def _assert_same(a, b, check_types, path):
    where = f" at {path}" if path else ""
    if is_nested(a) != is_nested(b):
        raise ValueError(f"The two structures don't have the same nested structure{where}: "
                         f"{a!r} is {'a sequence' if is_nested(a) else 'a leaf'}, {b!r} is "
                         f"{'a sequence' if is_nested(b) else 'a leaf'}")
    if not is_nested(a):
        return
    if check_types:
        if not _same_type(a, b):
            raise TypeError(f"The two structures don't have the same sequence type{where}: "
                            f"{type(a).__name__} ({a!r}) and {type(b).__name__} ({b!r})")
        if isinstance(a, abc.Mapping) and set(a) != set(b):
            raise ValueError(f"The two dictionaries don't have the same set of keys{where}: "
                             f"{sorted(a, key=repr)} and {sorted(b, key=repr)}")
    ca, cb = _children(a), _children(b)
    if len(ca) != len(cb):
        raise ValueError(f"The two structures don't have the same nested structure{where}: "
                         f"{len(ca)} and {len(cb)} elements ({a!r} and {b!r})")
    keys = _sorted_keys(a) if isinstance(a, abc.Mapping) else range(len(ca))
    for key, x, y in zip(keys, ca, cb):
        _assert_same(x, y, check_types, f"{path}[{key!r}]")


def assert_same_structure(nest1, nest2, check_types=True, expand_composites=False):
    """Raise ValueError unless `nest1` and `nest2` nest alike (TypeError, with
    `check_types`, when sequence types or dict keys differ; a list and a tuple do)."""
    _assert_same(nest1, nest2, check_types, "")


def map_structure(func, *structure, **kwargs):
    """`func` applied to the leaves at the same place in each of `structure` (which must
    nest alike), the results packed in the first structure's nesting."""
    if not callable(func):
        raise TypeError(f"map_structure: func must be callable; received {func!r}")
    if not structure:
        raise ValueError("map_structure: must provide at least one structure")
    unknown = set(kwargs) - {"check_types", "expand_composites"}
    if unknown:
        raise ValueError(f"map_structure: the only valid keyword arguments are "
                         f"`check_types` and `expand_composites`, not {sorted(unknown)}")
    check_types = kwargs.get("check_types", True)
    expand = kwargs.get("expand_composites", False)
    for other in structure[1:]:
        assert_same_structure(structure[0], other, check_types=check_types)
    flats = [flatten(s, expand) for s in structure]
    if expand and len({len(f) for f in flats}) > 1:
        raise ValueError(f"map_structure: with expand_composites the structures' "
                         f"components differ in number: {[len(f) for f in flats]}")
    return pack_sequence_as(structure[0], [func(*leaves) for leaves in zip(*flats)],
                            expand_composites=expand)
