"""Devices by TF's names: `list_physical_devices('GPU')`, `with xf.device('gpu:0'):`.

Placement rides on JAX's default-device mechanism: arrays and Variables created inside
`xf.device(...)`, and computations on them, go to that device.
"""

from __future__ import annotations

import collections
import re

import jax

PhysicalDevice = collections.namedtuple("PhysicalDevice", ["name", "device_type", "device"])

_SPEC = re.compile(r"^/?(?:device:|physical_device:)?(cpu|gpu|tpu|cuda|rocm)(?::(\d+))?$",
                   re.IGNORECASE)


def _devices(kind):
    """JAX's devices of one platform ('cpu', 'gpu', 'tpu'); [] when there are none."""
    try:
        return jax.devices("gpu" if kind in ("gpu", "cuda", "rocm") else kind)
    except RuntimeError:  # no backend of that kind on this machine
        return []


def list_physical_devices(device_type=None):
    """`PhysicalDevice(name='/physical_device:GPU:0', device_type='GPU', device=<jax>)`
    for every device of `device_type` ('CPU', 'GPU', 'TPU'; all kinds when None)."""
    kinds = ["cpu", "gpu", "tpu"] if device_type is None else [str(device_type).lower()]
    out = []
    for kind in kinds:
        if kind not in ("cpu", "gpu", "tpu"):
            raise ValueError(f"device_type must be 'CPU', 'GPU' or 'TPU'; received "
                             f"{device_type!r}")
        for index, dev in enumerate(_devices(kind)):
            out.append(PhysicalDevice(f"/physical_device:{kind.upper()}:{index}",
                                      kind.upper(), dev))
    return out


def resolve(spec):
    """A jax Device from 'cpu:0', '/device:GPU:1', 'tpu', or a jax Device."""
    if isinstance(spec, jax.Device):
        return spec
    match = _SPEC.match(str(spec).strip())
    if match is None:
        raise ValueError(f"device {spec!r} is not a device name like 'cpu:0', 'gpu:1' or "
                         "'/device:TPU:0'")
    kind, index = match.group(1).lower(), int(match.group(2) or 0)
    found = _devices(kind)
    if index >= len(found):
        raise ValueError(f"device {spec!r}: this machine has {len(found)} {kind.upper()} "
                         f"device(s): {[str(d) for d in found]}")
    return found[index]


def device(spec):
    """Context manager placing new arrays, Variables and computations on `spec`."""
    return jax.default_device(resolve(spec))
