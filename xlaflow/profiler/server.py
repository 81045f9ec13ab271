"""tf.profiler.experimental.server: a profiler server that TensorBoard's "Capture
profile" (or jax.profiler's collection tools) can trace this process through."""

from __future__ import annotations

import jax


def start(port):
    """Start the profiler server on `port` (one per process, as TF)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"server.start: port must be an int in 1-65535; received {port!r}")
    jax.profiler.start_server(port)
