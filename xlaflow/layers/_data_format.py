"""The data_format check of channels-last-only layers, naming the Permute to use instead."""

from __future__ import annotations


def channels_last_only(layer, data_format, rank):
    """NotImplementedError for a data_format other than None/'channels_last', for `layer`
    (a class name) over inputs of `rank` spatial axes: the message names the Permute that
    makes channels-first data channels-last."""
    if data_format in (None, "channels_last"):
        return
    if data_format != "channels_first":
        raise ValueError(f"{layer}: data_format must be 'channels_last' or 'channels_first'; "
                         f"received {data_format!r}")
    to_last = tuple(range(2, rank + 2)) + (1,)
    to_first = (rank + 1,) + tuple(range(1, rank + 1))
    raise NotImplementedError(
        f"{layer}(data_format='channels_first') is not supported: xlaflow layers are "
        f"channels-last. Put layers.Permute({to_last}) before this layer (and "
        f"layers.Permute({to_first}) after it to go back), and leave data_format at its "
        "default")
