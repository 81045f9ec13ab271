"""max/min/sorted with `key=` where the keys are tensors: compared by argmax/argmin/argsort.

Python compares the keys with `>`/`<`, which a traced key cannot decide; the same choice is
the first item of greatest (least) key, or a stable sort, as one array operation.
"""

from __future__ import annotations

import jax.numpy as jnp

from xlaflow.autograph.operators.dispatch import is_traced


def _items(iterable):
    """The items Python would iterate: a tensor's rows (its leading axis), or the list."""
    if is_traced(iterable):
        if jnp.ndim(iterable) == 0:
            raise TypeError("iteration over a 0-d tensor: it has no items to compare")
        return [iterable[i] for i in range(jnp.shape(iterable)[0])]
    return list(iterable)


def _keys(items, key, what):
    """Each item's key, from `key` converted like any user function; None if all are
    Python values (Python's own comparison then applies)."""
    from xlaflow.autograph.operators.calls import converted_call  # calls imports builtins

    # as any call in converted code: user code converted, builtins (key=max) overridden
    keys = [converted_call(key, (v,), None) for v in items]
    if not any(is_traced(k) for k in keys):
        return None
    for k in keys:
        if jnp.ndim(k) != 0:
            raise ValueError(f"{what}(key=...) got a key of shape {jnp.shape(k)}; Python would "
                            "compare whole keys, ambiguous for several elements. Return a "
                            "scalar key (reduce it, e.g. jnp.sum(row)).")
    return jnp.stack([jnp.asarray(k) for k in keys])


def _stacked(items, what):
    shapes = {jnp.shape(v) for v in items}
    if len(shapes) > 1:
        raise TypeError(f"{what}(key=...) over tensors chooses at run time, so its items "
                        f"must share one shape; got shapes {sorted(shapes)}.")
    return jnp.stack([jnp.asarray(v) for v in items])


def extreme(python_fn, pick, args, kwargs):
    """`max(..., key=k)` / `min(..., key=k)` (`pick`: jnp.argmax or jnp.argmin, which return
    the first best index, as Python returns the first best item); Python's own call when
    the keys are Python values."""
    what = python_fn.__name__
    items = _items(args[0]) if len(args) == 1 else list(args)
    if not items:
        return python_fn(*args, **kwargs)  # `default`, or Python's empty-sequence error
    keys = _keys(items, kwargs["key"], what)
    if keys is None:
        return python_fn(*items, key=kwargs["key"]) if len(items) > 1 else items[0]
    return _stacked(items, what)[pick(_python_nans(keys, pick))]


def _python_nans(keys, pick):
    """Python replaces its best item only when `>` (`<`) holds, never for a NaN key: a NaN
    wins only as the first key. argmax/argmin pick the first NaN, so later NaNs become the
    worst key (a tie with it keeps the earlier item, as Python does)."""
    if not jnp.issubdtype(keys.dtype, jnp.inexact) or keys.shape[0] < 2:
        return keys
    worst = -jnp.inf if pick is jnp.argmax else jnp.inf
    later = jnp.arange(keys.shape[0]) > 0
    return jnp.where(later & jnp.isnan(keys), worst, keys)


def sorted_by_key(iterable, key, reverse):
    """`sorted(x, key=k, reverse=r)` with tensor keys: a stable argsort (stable descending
    for `reverse`, which keeps equal items in order as Python does); None if the keys are
    Python values."""
    items = _items(iterable)
    if not items:
        return []
    keys = _keys(items, key, "sorted")
    if keys is None:
        return None
    order = jnp.argsort(keys, stable=True, descending=reverse)
    return list(_stacked(items, "sorted")[order])
