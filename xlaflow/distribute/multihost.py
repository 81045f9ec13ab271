"""Several processes, one program: MultiWorkerMirroredStrategy and TPUStrategy.

Each process starts `jax.distributed` once (from arguments, TF_CONFIG, or JAX's own
variables; on Cloud TPU VMs by auto-detection), then every process builds the same global
mesh over `jax.devices()`. Each process feeds its own shard of every global batch (global
batch = local batch x processes); replicated values (weights, metrics) read back whole.
"""

from __future__ import annotations

import functools
import json
import os

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from xlaflow.distribute.strategy import Strategy

_FIELDS = ("coordinator_address", "num_processes", "process_id")


# -- the cluster ---------------------------------------------------------------------------
def cluster_from_environment(environ=None):
    """`{coordinator_address, num_processes, process_id}` from TF_CONFIG, then the
    JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID variables (None: unset).

    TF_CONFIG's chief (if any) and workers, in that order, are the processes; the first
    one's address is the coordinator's (its port must be free for JAX's service)."""
    environ = os.environ if environ is None else environ
    found = dict.fromkeys(_FIELDS)
    if environ.get("TF_CONFIG"):
        found.update(_parse_tf_config(environ["TF_CONFIG"]))
    variables = {"coordinator_address": "JAX_COORDINATOR_ADDRESS",
                 "num_processes": "JAX_NUM_PROCESSES", "process_id": "JAX_PROCESS_ID"}
    for field, variable in variables.items():
        if found[field] is None and environ.get(variable):
            found[field] = environ[variable] if field == "coordinator_address" else \
                _int(environ[variable], variable)
    return found


def _int(text, what):
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{what} must be an integer; received {text!r}") from None


def _parse_tf_config(text):
    try:
        config = json.loads(text)
        cluster, task = config.get("cluster") or {}, config.get("task") or {}
    except (ValueError, AttributeError) as error:
        raise ValueError(f"TF_CONFIG must be JSON like {{'cluster': {{'worker': ['host:port', "
                         f"...]}}, 'task': {{'type': 'worker', 'index': 0}}}}; received "
                         f"{text!r} ({error})") from None
    chief, workers = list(cluster.get("chief") or []), list(cluster.get("worker") or [])
    hosts = chief + workers
    if not hosts:
        raise ValueError(f"TF_CONFIG's cluster must list 'worker' (and optionally 'chief') "
                         f"addresses; received cluster={cluster!r}")
    kind, index = task.get("type", "worker"), _int(task.get("index", 0), "TF_CONFIG task.index")
    if kind not in ("chief", "worker"):
        raise ValueError(f"TF_CONFIG task.type must be 'chief' or 'worker' (parameter servers "
                         f"and evaluators have no place in an SPMD program); received {kind!r}")
    position = index if kind == "chief" else len(chief) + index
    if not 0 <= position < len(hosts) or (kind == "chief" and index >= len(chief)):
        raise ValueError(f"TF_CONFIG task {kind}:{index} is not in the cluster {cluster!r}")
    return {"coordinator_address": hosts[0], "num_processes": len(hosts),
            "process_id": position}


def initialize(coordinator_address=None, num_processes=None, process_id=None,
               local_device_ids=None, *, auto_detect=False, who="MultiWorkerMirroredStrategy"):
    """Start `jax.distributed` once per process; later calls reuse it. Arguments win over
    the environment. With nothing configured: one process (nothing to start), unless
    `auto_detect` (TPUStrategy on a Cloud TPU VM lets JAX find the cluster)."""
    given = {"coordinator_address": coordinator_address, "num_processes": num_processes,
             "process_id": process_id}
    if jax.distributed.is_initialized():
        _check_matches_running(given, who)
        return
    found = cluster_from_environment()
    cluster = {k: given[k] if given[k] is not None else found[k] for k in _FIELDS}
    missing = [k for k in _FIELDS if cluster[k] is None]
    if len(missing) == len(_FIELDS) and not auto_detect:
        return  # a single worker, as TF runs MultiWorkerMirroredStrategy without TF_CONFIG
    if missing and not auto_detect:
        raise ValueError(
            f"{who}: {', '.join(missing)} not set; pass {'='.join(missing[:1])}=... or set "
            f"TF_CONFIG or JAX_COORDINATOR_ADDRESS/JAX_NUM_PROCESSES/JAX_PROCESS_ID (found "
            f"{ {k: v for k, v in cluster.items() if v is not None} })")
    if not missing and cluster["num_processes"] == 1:
        return  # one process: no coordination service needed
    if missing and not _on_cloud_tpu():
        raise ValueError(
            f"{who}() found no Cloud TPU VM to detect the cluster from, and no "
            f"{', '.join(missing)} (arguments, TF_CONFIG or JAX_* variables); on one "
            "machine without TPUs use MirroredStrategy")
    from jax._src import xla_bridge  # the public API has no "has JAX started?" query
    if xla_bridge.backends_are_initialized():
        if missing and _on_cloud_tpu():
            return  # the TPU runtime already joined the slice's hosts by itself
        raise RuntimeError(
            f"{who} must be created before any JAX computation in this process (arrays, "
            f"jax.devices(), a model): jax.distributed.initialize has to run before JAX "
            f"starts its backend. Cluster found: {cluster}")
    jax.distributed.initialize(**{k: v for k, v in cluster.items() if v is not None},
                               local_device_ids=local_device_ids)


def _on_cloud_tpu():
    from jax._src import cloud_tpu_init  # set when jax is imported on a TPU VM with libtpu
    return bool(getattr(cloud_tpu_init, "running_in_cloud_tpu_vm", False))


def _check_matches_running(given, who):
    running = {"num_processes": jax.process_count(), "process_id": jax.process_index()}
    for key, value in running.items():
        if given[key] is not None and int(given[key]) != value:
            raise ValueError(
                f"{who}: jax.distributed already runs this as process {running['process_id']} "
                f"of {running['num_processes']}; received {key}={given[key]!r}. A process "
                "joins one cluster: create later strategies without cluster arguments")


# -- values across processes -----------------------------------------------------------------
def place_from_process_zero(value, sharding):
    """A Variable's initial `value` as a global array with `sharding`, from process 0's
    value (TF broadcasts worker 0's initial values, so unseeded workers still agree)."""
    if isinstance(value, jax.Array) and not value.is_fully_addressable:
        return jax.device_put(value, sharding)  # already global: only re-laid out
    host = _from_process_zero(np.asarray(value))
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def _from_process_zero(host):
    """Process 0's `host` array on every process: a sum over one row per device, where
    only process 0's first device gives a non-zero row. (broadcast_one_to_all does the
    same but refuses to run inside a shape trace, where Keras layers create weights.)"""
    devices = np.array(jax.devices()).reshape(jax.process_count(), -1)
    mesh = Mesh(devices, ("processes", "local"))
    rows = np.zeros((devices.shape[1], *host.shape), host.dtype)
    if jax.process_index() == 0:
        rows[0] = host
    spread = jax.make_array_from_process_local_data(
        NamedSharding(mesh, PartitionSpec(("processes", "local"))), rows)
    total = _sum_rows(NamedSharding(mesh, PartitionSpec()))(spread)
    return np.asarray(total.addressable_data(0)).astype(host.dtype)  # bools summed as ints


@functools.cache
def _sum_rows(out_sharding):
    return jax.jit(lambda rows: rows.sum(axis=0), out_shardings=out_sharding)


def host_local(value):
    """This process's view of `value` as NumPy: whole when replicated or local, else the
    part on its own devices (for a batch-sharded output: the rows it fed)."""
    if not isinstance(value, jax.Array) or value.is_fully_addressable or \
            value.is_fully_replicated:
        return np.asarray(value)
    sharding = value.sharding
    if not isinstance(sharding, NamedSharding):
        raise TypeError(f"to_host: expected a NamedSharding for an array spread over "
                        f"processes; received {sharding!r}")
    return np.asarray(multihost_utils.global_array_to_host_local_array(
        value, sharding.mesh, sharding.spec))


def allgather(value, axis=0):
    """Every process's part of `value`, joined: a global array whole; host-local arrays
    (same shape on every process) concatenated along `axis` in process order."""
    if isinstance(value, jax.Array) and not value.is_fully_addressable:
        return np.asarray(multihost_utils.process_allgather(value, tiled=True))
    parts = multihost_utils.process_allgather(np.asarray(value), tiled=False)
    return np.concatenate(list(parts), axis=axis)


# -- the strategies ----------------------------------------------------------------------------
class MultiWorkerMirroredStrategy(Strategy):
    """Synchronous data parallelism over every device of every process.

    Each process runs the same program and feeds its own shard of each global batch.
    Without any cluster configuration it is MirroredStrategy on this process's devices."""

    _who = "MultiWorkerMirroredStrategy"
    _auto_detect = False

    def __init__(self, coordinator_address=None, num_processes=None, process_id=None,
                 local_device_ids=None, communication_options=None):
        if communication_options is not None:
            raise NotImplementedError("communication_options: XLA chooses the collectives; "
                                      "leave it None")
        initialize(coordinator_address, num_processes, process_id, local_device_ids,
                   auto_detect=self._auto_detect, who=self._who)
        super().__init__(jax.devices())

    @property
    def num_workers(self):
        return jax.process_count() if self.multiprocess else 1

    @property
    def worker_index(self):
        return jax.process_index() if self.multiprocess else 0


class TPUStrategy(MultiWorkerMirroredStrategy):
    """Data parallelism over a Cloud TPU slice: every host runs the same script and
    `TPUStrategy()` auto-detects the slice (or takes the same cluster arguments)."""

    _who = "TPUStrategy"
    _auto_detect = True
