"""Keras 2's training mode for a layer call: an explicit `training=` wins, then the mode of
the enclosing layer call, then the default of `training` in the layer's `call` signature.

So `fit` reaches a Dropout that a custom layer calls without forwarding `training`, and a
direct call of an augmentation layer (whose `call` defaults to `training=True`) augments.
"""

from __future__ import annotations

import contextvars
import functools
import inspect

_ENCLOSING = contextvars.ContextVar("xlaflow_layer_training", default=None)


@functools.cache
def _signature_default(call):
    try:
        param = inspect.signature(call).parameters.get("training")
    except (TypeError, ValueError):
        return None
    if param is None or param.default is inspect.Parameter.empty:
        return None
    return param.default


@functools.cache
def _positional_names(call):
    """The names of `call`'s arguments after `inputs` that can be passed positionally."""
    try:
        params = list(inspect.signature(call).parameters.values())
    except (TypeError, ValueError):
        return ()
    return tuple(p.name for p in params[2:]  # after self and inputs
                 if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD)


def split_first_input(layer, args, kwargs):
    """(inputs, args, kwargs): the first argument of `layer.call` taken out, positional or
    by its name (`mha(query=x, value=x)`), as Keras 2's split_out_first_arg."""
    if args:
        return args[0], args[1:], kwargs
    name = _first_name(type(layer).call)
    for key in (name, "inputs"):  # `inputs=` as well: the base class's own name for it
        if key is not None and key in kwargs:
            kwargs = dict(kwargs)
            return kwargs.pop(key), (), kwargs
    raise TypeError(f"{layer.name} ({type(layer).__name__}): the first argument of call "
                    f"({name or 'inputs'!r}) must be passed, positionally or by name; "
                    f"received only {sorted(kwargs)}")


@functools.cache
def _first_name(call):
    """The name of `call`'s first argument after self, or None (`call(self, *args)`)."""
    try:
        params = list(inspect.signature(call).parameters.values())[1:]
    except (TypeError, ValueError):
        return None
    if params and params[0].kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                     inspect.Parameter.KEYWORD_ONLY):
        return params[0].name
    return None


def take_positional(call, args, kwargs, training):
    """(args, kwargs, training) with a `training` given among `args` (`dropout(x, True)`)
    taken out as the explicit mode, as Keras 2 reads it; the arguments after it are passed
    by name, so they keep their places. Unchanged when `args` does not reach `training`."""
    names = _positional_names(call)
    if "training" not in names or len(args) <= names.index("training"):
        return args, kwargs, training
    index = names.index("training")
    if training is not None:
        raise TypeError(f"{call.__qualname__}() got multiple values for argument 'training': "
                        f"{args[index]!r} positionally and {training!r} by name")
    after = dict(zip(names[index + 1:], args[index + 1:]))
    twice = sorted(set(after) & set(kwargs))
    if twice:
        raise TypeError(f"{call.__qualname__}() got multiple values for argument {twice[0]!r}")
    rest = args[index + 1 + len(after):]  # more than call names: Python's own error follows
    return (*args[:index], *rest), {**kwargs, **after}, args[index]


def resolve(call, training):
    """The mode a call of `call` runs in, given the `training` it was passed."""
    if training is None:
        training = _ENCLOSING.get()
    if training is None:
        training = _signature_default(call)
    return training


def enter(training):
    """Make `training` the enclosing mode of the calls made inside; returns the token for
    `leave`."""
    return _ENCLOSING.set(training)


def leave(token):
    _ENCLOSING.reset(token)
