"""data_format of the spatial layers: 'channels_last' (the default: (batch, ..., channels))
or 'channels_first' ((batch, channels, ...)), checked once, and the axes each one means.

The layers compute in the given layout itself (lax's dimension numbers and window shapes
name the channel axis), so a channels-first model runs without transposes of its own;
XLA picks the physical layout either way."""

from __future__ import annotations

from xlaflow import backend_config

LAST, FIRST = "channels_last", "channels_first"


def resolve(layer, data_format):
    """'channels_last' or 'channels_first' for a layer's `data_format` argument (None: the
    default, keras.backend.image_data_format()); anything else is a ValueError naming the
    layer."""
    if data_format is None:
        return backend_config.image_data_format()
    if data_format not in (LAST, FIRST):
        raise ValueError(f"{layer}: data_format must be 'channels_last' or 'channels_first'; "
                         f"received {data_format!r}")
    return data_format


def channel_axis(data_format):
    return 1 if data_format == FIRST else -1


def spatial_axes(data_format, ndim):
    """The spatial axes of an input of `ndim` axes (batch first)."""
    return tuple(range(2, ndim)) if data_format == FIRST else tuple(range(1, ndim - 1))


def spatial_shape(data_format, shape):
    return tuple(shape[2:]) if data_format == FIRST else tuple(shape[1:-1])


def per_axis(data_format, spatial, batch=1, channels=1):
    """A full-rank tuple from per-spatial-axis values: (batch, *spatial, channels) or
    (batch, channels, *spatial) (window sizes, strides, broadcast shapes)."""
    return (batch, channels, *spatial) if data_format == FIRST else \
        (batch, *spatial, channels)


def dimension_numbers(data_format, rank):
    """lax.conv_general_dilated's ('NHWC', 'HWIO', 'NHWC') for rank 2 channels-last, with
    'NCHW' channels-first ('NWC'/'NDHWC' for ranks 1 and 3). Kernels are (spatial..., in,
    out) either way, as Keras keeps them, so weights move between layouts unchanged."""
    spatial = "DHW"[-rank:] if rank > 1 else "W"
    io = f"NC{spatial}" if data_format == FIRST else f"N{spatial}C"
    return io, f"{spatial}IO", io


def describe(data_format, rank):
    """'(batch, spatial, spatial, channels)' or '(batch, channels, spatial, spatial)'."""
    spatial = ", ".join(["spatial"] * rank)
    return f"(batch, channels, {spatial})" if data_format == FIRST else \
        f"(batch, {spatial}, channels)"
