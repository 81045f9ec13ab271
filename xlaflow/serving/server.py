"""`xlaflow serve`: flags as tensorflow_model_server spells them, the polling loop that
feeds the manager, and uvicorn running the app until SIGTERM (in-flight requests finish).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import threading
import time

from xlaflow.serving import config as config_lib
from xlaflow.serving import source
from xlaflow.serving.manager import Manager

log = logging.getLogger("xlaflow.serving")
# The request headers' deadline when --rest_api_timeout_in_ms turns the request deadline
# off: TF's default timeout.
_HEADER_TIMEOUT_S = 30.0


def _bool(text):
    if str(text).lower() in ("1", "true", "yes"):
        return True
    if str(text).lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false; received {text!r}")


def _count(text):
    """A count of 0 or more (--num_load_threads)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0; received {text!r}")
    return value


def _positive(text):
    """A count of 1 or more (--rest_api_num_threads)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1; received {text!r}")
    return value


def usable_cores():
    """The cores this process may run on (its CPU affinity: a container's cpuset or
    taskset), which can be fewer than the machine's."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no affinity on this platform (macOS)
        return os.cpu_count() or 1


def parser():
    p = argparse.ArgumentParser(prog="xlaflow serve", description=__doc__.splitlines()[0])
    add = p.add_argument
    add("--model_name", default="default")
    add("--model_base_path", default=None)
    add("--model_config_file", default=None)
    add("--model_config_file_poll_wait_seconds", type=float, default=0)
    add("--rest_api_port", type=int, default=8501)
    # TF's gRPC port: accepted because TF's docker entrypoint passes --port=8500, but no
    # gRPC is served (a warning says so at startup).
    add("--port", type=int, default=None)
    add("--rest_api_host", default="127.0.0.1")
    add("--rest_api_timeout_in_ms", type=int, default=30000)
    add("--rest_api_max_body_bytes", type=int, default=256 << 20)
    add("--rest_api_enable_cors_support", type=_bool, default=False)
    # Threads for parsing and encoding large bodies off the event loop (TF: HTTP threads).
    add("--rest_api_num_threads", type=_positive, default=4 * usable_cores())
    # TF's pool for running graph ops; here, how many unbatched model calls run at once
    # (0: one per usable core; see Server.app). With batching, num_batch_threads decides.
    add("--tensorflow_inter_op_parallelism", type=_count, default=0)
    # xlaflow's: unbatched calls pad their rows to the next power of two up to this many
    # (larger requests run in parts), so XLA compiles a few programs per signature, not
    # one per distinct request size; 0 runs every request at its own size (padding.py).
    add("--unbatched_max_padded_batch_size", type=_count, default=1024)
    add("--file_system_poll_wait_seconds", type=float, default=1)
    add("--enable_batching", type=_bool, nargs="?", const=True, default=False)
    add("--batching_parameters_file", default=None)
    add("--monitoring_config_file", default=None)
    add("--max_num_load_retries", type=int, default=5)
    add("--load_retry_interval_micros", type=int, default=60_000_000)
    # TF loads in parallel when > 0; here versions always load one at a time.
    add("--num_load_threads", type=_count, default=0)
    add("--allow_version_labels_for_unavailable_models", type=_bool, default=False)
    add("--enable_model_warmup", type=_bool, default=True)
    add("--servable_versions_always_present", type=_bool, default=True)
    add("--version_transition_policy", choices=("availability", "resource"),
        default="availability")
    return p


class Server:
    """The pieces wired together; `start()` loads in the background, `run()` serves."""

    def __init__(self, args):
        self.args = args
        if args.port is not None:
            log.warning("--port=%d ignored: xlaflow serves no gRPC; use REST or the v2 "
                        "protocol on --rest_api_port", args.port)
        if args.num_load_threads:
            log.info("--num_load_threads=%d: versions still load one at a time",
                     args.num_load_threads)
        if args.file_system_poll_wait_seconds < 0:
            log.warning("--file_system_poll_wait_seconds=%g (< 0): the base paths are never "
                        "listed, so no version loads (as in TF, meant for tests)",
                        args.file_system_poll_wait_seconds)
        # TF reads a timeout of 0 or less as none (RunOptions' timeout_in_ms): no deadline
        # on requests then, while request headers keep the default one (slowloris).
        ms = args.rest_api_timeout_in_ms
        self.timeout_s = ms / 1000 if ms > 0 else None
        if args.batching_parameters_file and not args.enable_batching:
            raise SystemExit("error: --batching_parameters_file needs --enable_batching")
        self.batching = None
        if args.enable_batching:
            self.batching = config_lib.BatchingParameters.from_file(
                args.batching_parameters_file) if args.batching_parameters_file else \
                config_lib.BatchingParameters()
        self.monitoring = config_lib.MonitoringConfig.from_file(
            args.monitoring_config_file) if args.monitoring_config_file else None
        self.models = self._read_config()
        from xlaflow.serving import metrics as metrics_lib
        from xlaflow.serving.server_metrics import server_metrics
        self.registry = metrics_lib.Registry()
        self.metrics = server_metrics(self.registry)
        self.compiled = metrics_lib.Gauge(
            ":xlaflow:serving:compiled_programs", "XLA programs compiled for the loaded "
            "versions' signatures (constant after warm-up when batching pads)",
            ["model_name"], registry=self.registry)
        self.manager = Manager(self._load, max_load_retries=args.max_num_load_retries,
                               retry_interval_s=args.load_retry_interval_micros / 1e6,
                               transition=args.version_transition_policy,
                               metrics=self.metrics)
        self._apply(self.models, first=True)
        self.stop = threading.Event()
        self._scheduler = None  # the batch scheduler app() makes, closed after serving
        self._workers = None  # and its threads for large bodies and for unbatched calls

    def _read_config(self):
        if self.args.model_config_file:
            return config_lib.ModelServerConfig.from_file(self.args.model_config_file)
        return config_lib.ModelServerConfig.from_flags(self.args.model_name,
                                                       self.args.model_base_path)

    def _apply(self, config, first=False):
        names = [m.name for m in config.models]
        self.manager.keep_models(names)
        for name in self.manager.models():
            if name not in names:
                self.manager.remove_model(name)
        for model in config.models:
            self.manager.add_model(model.name)
            try:
                self.manager.set_labels(model.name, model.version_labels, allow_unavailable=(
                    first or self.args.allow_version_labels_for_unavailable_models))
            except Exception as exc:  # noqa: BLE001 -- a bad label must not stop serving
                log.error("model %s: version labels not applied: %s", model.name, exc)
        self.models = config

    def _check_startup_labels(self):
        """At startup labels are set before any version has loaded, so they are checked
        against what the first poll will load instead: a label naming a version that is not
        on disk or not served by the policy is dropped, with an error in the log (TF refuses
        such a config), unless --allow_version_labels_for_unavailable_models."""
        if self.args.allow_version_labels_for_unavailable_models:
            return
        for model in self.models.models:
            aspired = self.manager.aspired_versions(model.name)
            bad = {k: v for k, v in model.version_labels.items() if v not in aspired}
            if not bad:
                continue
            for label, version in bad.items():
                log.error("model %s: label %r names version %d, which is not on disk or not "
                          "served by the version policy; the label is not applied (see "
                          "--allow_version_labels_for_unavailable_models)", model.name, label,
                          version)
            self.manager.set_labels(model.name, {k: v for k, v in model.version_labels.items()
                                                 if k not in bad}, allow_unavailable=True)

    def _batch_sizes(self):
        if self.batching is None:
            return (1,)
        return tuple(sorted({self.batching.padded_size(n)  # every size one run can take
                             for n in range(1, self.batching.execution_batch_size + 1)}))

    def _load(self, name, version, path):
        from xlaflow.serving.loader import load_servable
        servable = load_servable(name, version, path, self._batch_sizes(),
                                 warmup=self.args.enable_model_warmup)
        # What is alive now (jax, the loaded programs: ~135k objects with one MNIST model)
        # lives about as long as the server: frozen, the collector stops walking it. A
        # full collection over it took 50-230 ms under load, a pause every request in
        # flight would see. Thawed and collected first, at load time (seconds of compiling
        # anyway), so the cycles of versions unloaded since the last load are freed.
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        return servable

    def poll_once(self):
        for model in self.models.models:
            try:
                found = source.list_versions(model.base_path)
            except OSError as exc:  # a missing base path is not "no versions": keep all
                log.error("model %s: cannot list %s: %s", model.name, model.base_path, exc)
                continue
            if not found:
                log.warning("model %s: no version directories (integer names) in %s",
                            model.name, model.base_path)
                if self.args.servable_versions_always_present:
                    continue  # an emptied directory is more often a mistake than a wish
            self.manager.set_aspired(model.name, source.aspired_versions(
                model.version_policy, found))

    def _loop(self):
        poll = self.args.file_system_poll_wait_seconds
        config_poll = self.args.model_config_file_poll_wait_seconds
        next_poll = 0.0
        # the config was just read at startup: the first re-read waits a full period, so
        # it cannot refuse labels before any version had a chance to load
        next_config = time.monotonic() + config_poll
        first = True
        while not self.stop.is_set():
            now = time.monotonic()
            if self.args.model_config_file and config_poll > 0 and now >= next_config:
                next_config = now + config_poll
                try:
                    self._apply(config_lib.ModelServerConfig.from_file(
                        self.args.model_config_file))
                except Exception as exc:  # noqa: BLE001 -- a bad config keeps the last one
                    log.error("model config not reloaded: %s", exc)
            # < 0: never listed, not even at startup (spec 2.4; TF turns the source's
            # polling off); 0: once.
            if (first and poll >= 0) or (poll > 0 and now >= next_poll):
                next_poll = now + max(poll, 0)
                self.poll_once()
                if first:
                    self._check_startup_labels()
            first = False
            while self.manager.step():
                if self.stop.is_set():
                    return
            self.stop.wait(0.05)

    def start(self):
        threading.Thread(target=self._loop, name="xlaflow-manager", daemon=True).start()

    def app(self):
        from xlaflow.serving.app import App
        from xlaflow.serving.batching import BatchScheduler
        scheduler = BatchScheduler(self.batching, self.metrics) if self.batching else None
        self._scheduler = scheduler
        from xlaflow.serving.workers import Workers
        executor = Workers(self.args.rest_api_num_threads, name="xlaflow-rest")
        # Unbatched model calls, at most one per core at once: XLA:CPU runs a call on the
        # thread that makes it, so more threads than cores only take turns for the cores
        # and the GIL with the event loop. Measured on 2 cores, 32 clients sending 32-row
        # v2 binary requests: 2 threads took 285-305 µs of server CPU per request where 8
        # (the old 4 x cores) took 329-378, and served 56-96k predictions/s against 45-55k.
        models = Workers(self.args.tensorflow_inter_op_parallelism or usable_cores(),
                         name="xlaflow-run")
        self._workers = (executor, models)
        monitoring = self.monitoring.path if self.monitoring and self.monitoring.enable \
            else None
        return App(self.manager, metrics=self.metrics, registry=self.registry,
                   on_scrape=self._count_compiled,
                   monitoring_path=monitoring, scheduler=scheduler, executor=executor,
                   model_executor=models,
                   padding_limit=self.args.unbatched_max_padded_batch_size or None,
                   max_body_bytes=self.args.rest_api_max_body_bytes,
                   timeout_s=self.timeout_s,
                   cors=self.args.rest_api_enable_cors_support)

    def _count_compiled(self):
        totals = {}
        for name, servable in self.manager.servables():
            totals[name] = totals.get(name, 0) + sum(
                s.compiled_programs() for s in servable.signatures.values())
        for name, total in totals.items():
            self.compiled.labels(model_name=name).set(total)

    def run(self):
        import uvicorn  # the ASGI server: HTTP/1.1 keep-alive, TCP_NODELAY, graceful stop

        from xlaflow.serving import http_protocol
        config = uvicorn.Config(self.app(), host=self.args.rest_api_host,
                                port=self.args.rest_api_port, log_level="warning",
                                backlog=2048, timeout_graceful_shutdown=30,
                                access_log=False, lifespan="on",
                                http=http_protocol.protocol(
                                    header_timeout_s=self.timeout_s or _HEADER_TIMEOUT_S),
                                # Nothing here reads client addresses: skip rewriting them
                                # from X-Forwarded-* on every request.
                                proxy_headers=False)
        # SIGTERM/SIGINT: stop accepting, finish the requests in flight
        http_protocol.Listening(config, on_listening=self.start).run()
        self.stop.set()
        if self._scheduler is not None:
            self._scheduler.close()
        for workers in self._workers or ():
            workers.close()


def serve_synchronously():
    """Model calls run on the thread that makes them, not queued to XLA's own threads.

    Every call here already has a thread of its own that waits for the result (a batch or
    worker thread), so JAX's asynchronous CPU dispatch only adds a hand-off to an XLA
    thread and back per batch: measured with 32 clients sending 32-row batches, the server
    spent ~130 µs less CPU per request without it (XLA's two dispatch threads at ~55 µs per
    request each were gone; the batch threads took ~6 µs more each)."""
    import jax
    jax.config.update("jax_cpu_enable_async_dispatch", False)


def main(argv=None):
    # The server's own log at INFO; libraries (orbax logs every restore) at WARNING.
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    args = parser().parse_args(argv)
    from xlaflow.saving import loaded
    loaded.enable_x64()
    serve_synchronously()
    try:
        server = Server(args)
    except config_lib.ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    server.run()
    return 0
