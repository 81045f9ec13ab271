"""tf.experimental: `numpy` (tf.experimental.numpy) and DynamicRaggedShape (what tf.shape
gives for a RaggedTensor) are here.

The others (dtensor, ExtensionType, dispatch_for_api, ...) are TF-internal machinery with no
counterpart; asking for one names what to use instead.
"""

from __future__ import annotations

_NOT_PROVIDED = {
    "dtensor": "use xf.distribute (a JAX mesh) or jax.sharding directly",
    "ExtensionType": "register a class as a JAX pytree (jax.tree_util.register_pytree_node)",
    "BatchableExtensionType": "register a class as a JAX pytree "
                              "(jax.tree_util.register_pytree_node)",
    "dispatch_for_api": "call the op on your own type's parts; xlaflow's ops take arrays",
}


def __getattr__(name):
    if name == "numpy":
        import importlib
        return importlib.import_module("xlaflow.experimental.numpy")
    if name == "DynamicRaggedShape":
        from xlaflow.ragged_shape import DynamicRaggedShape
        return DynamicRaggedShape
    if name in _NOT_PROVIDED:
        raise AttributeError(f"module 'xlaflow.experimental' has no attribute {name!r}: "
                             f"tf.experimental.{name} is not provided; {_NOT_PROVIDED[name]}")
    raise AttributeError(f"module 'xlaflow.experimental' has no attribute {name!r}")
