"""xf.Module against tf.Module's documented behaviour: the order `variables` and
`submodules` walk in, default names, and name scopes prefixing Variable names."""

import numpy as np

import xlaflow as xf
from xlaflow.keras import layers


class Leaf(xf.Module):
    def __init__(self, name=None):
        super().__init__(name=name)
        self.w = xf.Variable(np.zeros((2, 2), np.float32), name="w")
        self.b = xf.Variable(np.zeros(2, np.float32), name="b")


class Tree(xf.Module):
    def __init__(self):
        super().__init__()
        self.a_child = Leaf(name="first")       # a submodule sorted before the Variable
        self.z_scale = xf.Variable(1.0, name="z_scale")
        self.children = {"y": Leaf(name="y_leaf"), "x": Leaf(name="x_leaf")}


def test_variables_walk_sorted_attributes_own_values_before_submodules_as_tf():
    tree = Tree()
    # tf.Module's _flatten_module: a module's own leaves (attributes by sorted name, dict
    # keys sorted) first, then each submodule found, recursively
    assert [v.name for v in tree.variables] == ["z_scale", "b", "w", "b", "w", "b", "w"]
    assert [m.name for m in tree.submodules] == ["first", "x_leaf", "y_leaf"]
    assert tree.variables[1] is tree.a_child.b and tree.variables[3] is tree.children["x"].b
    assert tree.trainable_variables == tree.variables
    assert Tree().name == "tree" and Leaf().name == "leaf"


def test_default_names_are_the_class_name_in_snake_case():
    class SequentialModule(xf.Module):
        pass

    class HTTPClient2(xf.Module):
        pass

    assert SequentialModule().name == "sequential_module"
    assert HTTPClient2().name == "http_client2"


def test_keras_layers_keep_creation_order():
    # Keras lists a layer's weights in creation order (kernel before bias)
    dense = layers.Dense(3)
    dense.build((None, 2))
    assert [v.name.split("/")[-1] for v in dense.variables] == ["kernel", "bias"]


def test_name_scopes_prefix_variable_names_and_nest():
    with xf.name_scope("outer") as outer:
        v = xf.Variable(1.0, name="v")
        with xf.name_scope("inner") as inner:
            w = xf.Variable(1.0)
        with xf.name_scope("top/"):  # a trailing slash: an absolute scope
            u = xf.Variable(1.0, name="u")
    assert (outer, inner) == ("outer/", "outer/inner/")
    assert (v.name, w.name, u.name) == ("outer/v", "outer/inner/Variable", "top/u")
    assert xf.Variable(1.0, name="v").name == "v"  # the scope ended
    leaf = Leaf(name="block")
    with leaf.name_scope:
        assert xf.Variable(0.0, name="extra").name == "block/extra"


def test_a_modules_scope_is_fixed_where_it_was_made_and_with_name_scope_enters_it():
    # tf.Module.__init__ keeps name_scope_v2(<scope when made>/<name>/): entering it later
    # anywhere names Variables under that absolute scope, as the with_name_scope example
    class MyModule(xf.Module):
        @xf.Module.with_name_scope
        def __call__(self, x):
            if not hasattr(self, "w"):
                self.w = xf.Variable(np.ones((x.shape[1], 3), np.float32))
            return x @ self.w

    with xf.name_scope("outer"):
        inner = MyModule()
    mod = MyModule()
    np.testing.assert_array_equal(mod(np.ones((1, 2), np.float32)), np.full((1, 3), 2.0))
    assert mod.w.name == "my_module/Variable"
    assert MyModule.__call__.__name__ == "__call__"  # functools.wraps, as tf_decorator
    with xf.name_scope("elsewhere"):
        inner(np.ones((1, 2), np.float32))
        with inner.name_scope as scope:
            assert scope == "outer/my_module/"
    assert inner.w.name == "outer/my_module/Variable"
