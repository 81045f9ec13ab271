"""xf.nest against tf.nest's documented behaviour (the examples of its API docs)."""

import collections

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf

Point = collections.namedtuple("Point", ["x", "y"])


def test_flatten_sorts_dict_keys_and_keeps_none_as_a_leaf():
    # tf.nest docs: flatten({"key3": "value3", "key1": "value1", "key2": "value2"})
    # -> ['value1', 'value2', 'value3']; None is a leaf (jax.tree_util drops it)
    assert xf.nest.flatten({"key3": "v3", "key1": "v1", "key2": "v2"}) == ["v1", "v2", "v3"]
    assert xf.nest.flatten(None) == [None]
    assert xf.nest.flatten([None, (1, None)]) == [None, 1, None]
    assert xf.nest.flatten("abc") == ["abc"]
    assert xf.nest.flatten({1, 2}) == [{1, 2}]  # sets are leaves
    arr = np.arange(3)
    assert xf.nest.flatten(arr)[0] is arr
    assert xf.nest.flatten(Point(1, [2, 3])) == [1, 2, 3]
    od = collections.OrderedDict([("b", 1), ("a", 2)])
    assert xf.nest.flatten(od) == [2, 1]  # sorted keys for every mapping, as TF


def test_pack_sequence_as_inverts_flatten_and_keeps_types_and_key_order():
    structure = {"b": [1, Point(2, None)], "a": (3,)}
    flat = xf.nest.flatten(structure)
    assert flat == [3, 1, 2, None]
    packed = xf.nest.pack_sequence_as(structure, ["A", "B", "C", "D"])
    assert packed == {"b": ["B", Point("C", "D")], "a": ("A",)}
    assert list(packed) == ["b", "a"]  # the structure's key order
    assert type(packed["b"][1]) is Point
    od = collections.OrderedDict([("z", 0), ("y", 0)])
    packed = xf.nest.pack_sequence_as(od, [1, 2])
    assert type(packed) is collections.OrderedDict and list(packed.items()) == [("z", 2),
                                                                                ("y", 1)]
    dd = collections.defaultdict(list, {"k": 0})
    packed = xf.nest.pack_sequence_as(dd, [5])
    assert packed.default_factory is list and packed["k"] == 5
    assert xf.nest.pack_sequence_as(7, ["only"]) == "only"
    assert xf.nest.pack_sequence_as([None], [4]) == [4]


def test_pack_sequence_as_errors():
    with pytest.raises(ValueError, match="Structure had 2 atoms, but flat_sequence had 3"):
        xf.nest.pack_sequence_as([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="must have 1 item"):
        xf.nest.pack_sequence_as(1, [1, 2])
    with pytest.raises(TypeError, match="flat_sequence must be a sequence"):
        xf.nest.pack_sequence_as([1], 5)
    with pytest.raises(TypeError, match="sortable keys"):
        xf.nest.flatten({1: "a", "b": 2})


def test_is_nested():
    assert xf.nest.is_nested([1]) and xf.nest.is_nested(()) and xf.nest.is_nested({})
    assert xf.nest.is_nested(Point(1, 2))
    for leaf in (None, 1, "s", b"b", {1}, np.zeros(2), jnp.zeros(2)):
        assert not xf.nest.is_nested(leaf)


def test_assert_same_structure():
    xf.nest.assert_same_structure((0, (1, 2)), (3, (4, 5)))
    xf.nest.assert_same_structure({"a": 1}, collections.OrderedDict(a=2))
    xf.nest.assert_same_structure(Point(1, 2), collections.namedtuple("Point", "x y")(3, 4))
    with pytest.raises(ValueError, match="same nested structure"):
        xf.nest.assert_same_structure([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="same nested structure"):
        xf.nest.assert_same_structure([1, [2]], [1, 2])
    with pytest.raises(TypeError, match="sequence type"):
        xf.nest.assert_same_structure([1, 2], (1, 2))
    xf.nest.assert_same_structure([1, 2], (1, 2), check_types=False)
    with pytest.raises(ValueError, match="same set of keys"):
        xf.nest.assert_same_structure({"a": 1}, {"b": 1})
    # None is a leaf, so it matches a tensor (jax.tree_util would call it a different tree)
    xf.nest.assert_same_structure([None, 1], [jnp.zeros(2), 2])


def test_map_structure_over_several_structures():
    # tf.nest docs: map_structure(lambda x, y: x + y, ...) over matching structures
    a = {"w": np.array([1.0, 2.0]), "b": (3.0, None)}
    b = {"w": np.array([10.0, 20.0]), "b": (30.0, None)}
    out = xf.nest.map_structure(lambda x, y: None if x is None else x + y, a, b)
    np.testing.assert_allclose(out["w"], [11.0, 22.0])
    assert out["b"] == (33.0, None)
    assert xf.nest.map_structure(lambda x: x * 2, Point(1, 2)) == Point(2, 4)
    assert xf.nest.map_structure(str, None) == "None"  # None is a leaf
    assert xf.nest.map_structure(lambda x, y: (x, y), [1], (2,), check_types=False) == [(1, 2)]
    with pytest.raises(TypeError, match="sequence type"):
        xf.nest.map_structure(lambda x, y: x, [1], (2,))
    with pytest.raises(ValueError, match="at least one structure"):
        xf.nest.map_structure(lambda: 0)
    with pytest.raises(ValueError, match="check_types"):
        xf.nest.map_structure(lambda x: x, [1], strict=True)
