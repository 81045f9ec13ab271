"""The metrics `xlaflow serve` exports, under TF Serving's names and label sets.

metrics.py is a generic Prometheus registry; this module is the server's choice of
metrics and buckets on it, so dashboards built for TF Serving keep working.
"""

from __future__ import annotations

import dataclasses

from xlaflow.serving.metrics import (
    TF_LATENCY_BUCKETS,
    Counter,
    Gauge,
    Histogram,
    Registry,
    exponential_buckets,
)

__all__ = ["BATCH_SIZE_BUCKETS", "ServerMetrics", "server_metrics"]

# Batch sizes 1..8192 in powers of two, which is also what padding produces by default;
# padding sizes get a 0 bucket because "no padding" is the case worth seeing.
BATCH_SIZE_BUCKETS = exponential_buckets(1, 2, 14)


@dataclasses.dataclass(frozen=True)
class ServerMetrics:
    """The server's metrics by role, e.g. `m.request_count.labels(model_name=...,
    status="OK").inc()`; `registry.render()` serves them."""

    registry: Registry
    request_count: Counter
    request_latency: Histogram
    runtime_latency: Histogram
    request_example_counts: Histogram
    request_example_count_total: Counter
    queuing_latency: Histogram
    input_batch_size: Histogram
    processed_batch_size: Histogram
    padding_size: Histogram
    wrapped_run_count: Counter
    model_warmup_latency: Histogram
    compile_latency: Histogram
    loaded_versions: Gauge


def server_metrics(registry=None):
    """Create the server's metrics in `registry` (a new one when None), under TF Serving's
    names and label sets where TF has the metric, and `:xlaflow:serving:` otherwise."""
    registry = Registry() if registry is None else registry
    tf, xf = ":tensorflow:serving:", ":xlaflow:serving:"
    batching = tf + "batching_session:"

    def counter(name, help, labels):
        return Counter(name, help, labels, registry=registry)

    def histogram(name, help, labels, buckets=TF_LATENCY_BUCKETS):
        return Histogram(name, help, labels, buckets, registry=registry)

    return ServerMetrics(
        registry=registry,
        request_count=counter(tf + "request_count", "The total number of requests.",
                              ["model_name", "status"]),
        request_latency=histogram(
            tf + "request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ["model_name", "API", "entrypoint"]),
        runtime_latency=histogram(
            tf + "runtime_latency",
            "Distribution of wall time (in microseconds) for Tensorflow runtime.",
            ["model_name", "API", "runtime"]),
        request_example_counts=histogram(
            tf + "request_example_counts", "The number of tensorflow.Examples per request.",
            ["model"], exponential_buckets(1, 2, 15)),
        request_example_count_total=counter(
            tf + "request_example_count_total", "The total number of tensorflow.Examples.",
            ["model"]),
        # TF labels queuing latency by thread pool; the pool is shared across models here,
        # so the model is the more useful split.
        queuing_latency=histogram(
            batching + "queuing_latency",
            "Distribution of wall time spent (in microseconds) in queuing",
            ["model_name"], exponential_buckets(100, 1.2, 52)),
        input_batch_size=histogram(
            batching + "input_batch_size", "Tracks the batch size distribution on the inputs.",
            ["model_name"], BATCH_SIZE_BUCKETS),
        processed_batch_size=histogram(
            batching + "processed_batch_size",
            "Tracks the batch size distribution on processing.", ["model_name"],
            BATCH_SIZE_BUCKETS),
        padding_size=histogram(
            batching + "padding_size", "Tracks the padding size distribution on batches.",
            ["model_name"], (0.0,) + BATCH_SIZE_BUCKETS),
        wrapped_run_count=counter(
            batching + "wrapped_run_count", "Total count of run calls on the wrapped session",
            ["model_name"]),
        model_warmup_latency=histogram(
            tf + "model_warmup_latency",
            "Distribution of wall time (in microseconds) for warming up the model.",
            ["model_name"]),
        compile_latency=histogram(
            xf + "compile_latency",
            "Distribution of wall time (in microseconds) for XLA compilation at load.",
            ["model_name"]),
        loaded_versions=Gauge(xf + "loaded_versions",
                              "The number of versions of the model currently loaded.",
                              ["model_name"], registry=registry),
    )
