"""Keras 2's attribute tracking on layers: an xf.Variable assigned to a layer's attribute,
directly or nested in lists, tuples and dicts (what tf.nest.flatten finds), is one of its
weights, trainable as the Variable is (the "Basic training loops" guide's
`self.w = tf.Variable(5.0)` in a keras.Model); reassigning or deleting the attribute drops
the Variables it held that nothing else holds. Metrics held so make `Layer.metrics`.
"""

from __future__ import annotations

from xlaflow.layers import weight_order
from xlaflow.variables import Variable


def _opened(value, seen):
    """`value`, with lists, tuples and dicts opened to any depth (not other Modules)."""
    if isinstance(value, (list, tuple, dict)):
        if id(value) not in seen:
            seen.add(id(value))
            for item in value.values() if isinstance(value, dict) else value:
                yield from _opened(item, seen)
    else:
        yield value


def held_variables(value):
    """The Variables `value` is or holds in lists, tuples and dicts, nested to any depth."""
    return [v for v in _opened(value, set()) if isinstance(v, Variable)]


def assigned(layer, old, value):
    """After `layer.<attr>` changed from `old` to `value` (None: deleted): track the
    Variables `value` holds, and drop those only `old` held."""
    own = layer._own_weights
    if old is not value:
        gone = held_variables(old)
        if gone:
            held = {id(v) for key, kept in vars(layer).items() if key != "_own_weights"
                    for v in held_variables(kept)}
            dropped = {id(v) for v in gone if id(v) not in held}
            if dropped:  # (add_weight's list itself does not hold them)
                own[:] = [w for w in own if id(w) not in dropped]
    for variable in held_variables(value):
        if not any(variable is w for w in own):
            own.append(variable)


def metrics(layer, layers):
    """The Metric objects `layers` (a layer and its sublayers) hold as attributes, each
    once, in attribute order."""
    from xlaflow.metric_base import Metric  # metrics import layers' helpers: loaded late
    found = {}
    for each in layers:
        if weight_order.is_layer(each):
            seen = set()
            for value in vars(each).values():
                for item in _opened(value, seen):
                    if isinstance(item, Metric):
                        found.setdefault(id(item), item)
    return list(found.values())
