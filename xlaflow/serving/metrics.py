"""A thread-safe Prometheus registry: counters, gauges and histograms with labels.

Names and label sets mirror TF Serving's (`/tensorflow/serving/x` is exported as
`:tensorflow:serving:x`) so dashboards built for TF Serving keep working; `render` writes
the Prometheus text exposition format 0.0.4. The metrics `xlaflow serve` exports are
defined in server_metrics.py (also importable from here).

>>> registry = Registry()
>>> hits = Counter("hits", "Requests seen.", ["code"], registry=registry)
>>> hits.labels(code="OK").inc()
>>> print(registry.render(), end="")
# HELP hits Requests seen.
# TYPE hits counter
hits{code="OK"} 1
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
import re
import threading

__all__ = ["CONTENT_TYPE", "TF_LATENCY_BUCKETS", "Counter", "Gauge", "Histogram", "Registry",
           "exponential_buckets", "prometheus_name"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_NOT_NAME_CHAR = re.compile(r"[^A-Za-z0-9_]")


def prometheus_name(tf_name):
    """TF Serving's rule for exported names: every char outside [A-Za-z0-9_] becomes ':'.

    >>> prometheus_name("/tensorflow/serving/request_count")
    ':tensorflow:serving:request_count'
    """
    return _NOT_NAME_CHAR.sub(":", tf_name)


def exponential_buckets(scale, growth, count):
    """Bucket bounds scale·growth^k for k = 0..count-1, as TF's Buckets::Exponential.

    Rounded to 12 significant digits so the `le` labels read 32.4, not 32.400000000000006.
    """
    return tuple(float(f"{scale * growth ** k:.12g}") for k in range(count))


# TF Serving's latency buckets (µs): 10·1.8^k for k = 0..32, i.e. 10 µs to ~20 minutes.
TF_LATENCY_BUCKETS = exponential_buckets(10, 1.8, 33)


def _escape_label(value):
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text):
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _fmt(value):
    """A sample value or bound as Prometheus reads it; integral values print without '.0'
    (as TF Serving's exporter does), specials as +Inf/-Inf/NaN."""
    if isinstance(value, int):
        return str(int(value))  # int(): bools print as 1/0
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class _Metric:
    """Shared machinery: one lock per metric, children keyed by their label values."""

    type_name = ""

    def __init__(self, name, help, labels=(), registry=None):
        if not _METRIC_NAME.match(name):
            raise ValueError(f"invalid Prometheus metric name {name!r}")
        self.name, self.help, self.labelnames = name, help, tuple(labels)
        for label in self.labelnames:
            if not _LABEL_NAME.match(label) or label.startswith("__"):
                raise ValueError(f"invalid label name {label!r} for metric {name}")
            if self.type_name == "histogram" and label == "le":
                raise ValueError(f"histogram {name} cannot use the reserved label 'le'")
        if len(set(self.labelnames)) != len(self.labelnames):
            raise ValueError(f"duplicate label names for metric {name}: {self.labelnames}")
        self._lock = threading.Lock()
        self._children = {}  # canonical key (label values as str) -> child; what is rendered
        self._lookup = {}  # every key callers used (e.g. ints) -> the same child objects
        n = len(self.labelnames)
        # itemgetter fetches all label values in one C call; with one name it returns the
        # bare value, so wrap that case in a tuple.
        getter = operator.itemgetter(*self.labelnames) if n else None
        self._key = (lambda kw: (getter(kw),)) if n == 1 else getter
        self._default = self._create(()) if not n else None
        if registry is not None:
            registry.register(self)

    def labels(self, *values, **kwargs):
        """The child for these label values (by keyword, or positionally in label order)."""
        n = len(self.labelnames)
        if not n and not values and not kwargs:
            return self._default
        if kwargs and not values and len(kwargs) == n:
            try:
                key = self._key(kwargs)
            except KeyError:
                key = None
        elif values and not kwargs and len(values) == n:
            key = values
        else:
            key = None
        if key is None:
            given = sorted(kwargs) if kwargs else f"{len(values)} positional values"
            raise ValueError(f"{self.name} takes labels {list(self.labelnames)}, got {given}")
        child = self._lookup.get(key)
        return child if child is not None else self._create(key)

    def _create(self, key):
        canonical = tuple(str(v) for v in key)
        with self._lock:
            child = self._children.get(canonical)
            if child is None:
                text = ",".join(f'{k}="{_escape_label(v)}"'
                                for k, v in zip(self.labelnames, canonical))
                child = self._children[canonical] = self._child(text)
            self._lookup[key] = child
        return child

    def _unlabelled(self):
        if self._default is None:
            raise ValueError(f"{self.name} has labels {list(self.labelnames)}; "
                             "call .labels(...) first")
        return self._default

    def render_into(self, lines):
        lines.append(f"# HELP {self.name} {_escape_help(self.help)}")
        lines.append(f"# TYPE {self.name} {self.type_name}")
        with self._lock:  # a consistent snapshot; formatting happens outside the lock
            snapshot = [(key, child.labeltext, child._snapshot())
                        for key, child in self._children.items()]
        for _, labeltext, value in sorted(snapshot, key=lambda item: item[0]):
            self._render_child(lines, labeltext, value)

    def _render_child(self, lines, labeltext, value):
        braces = f"{{{labeltext}}}" if labeltext else ""
        lines.append(f"{self.name}{braces} {_fmt(value)}")


class _ValueChild:
    __slots__ = ("_lock", "_value", "labeltext")

    def __init__(self, lock, labeltext):
        self._lock, self._value, self.labeltext = lock, 0, labeltext

    def _snapshot(self):
        return self._value

    def get(self):
        with self._lock:
            return self._value


class _CounterChild(_ValueChild):
    __slots__ = ()

    def inc(self, amount=1):
        """Add `amount` (>= 0: counters only go up)."""
        if amount < 0:
            raise ValueError(f"counters only go up; got inc({amount})")
        with self._lock:
            self._value += amount


class _GaugeChild(_ValueChild):
    __slots__ = ()

    def set(self, value):
        with self._lock:
            self._value = value

    def inc(self, amount=1):
        with self._lock:
            self._value += amount

    def dec(self, amount=1):
        with self._lock:
            self._value -= amount


class Counter(_Metric):
    """A monotonically increasing count, e.g. requests by model and status."""

    type_name = "counter"

    def _child(self, labeltext):
        return _CounterChild(self._lock, labeltext)

    def inc(self, amount=1):
        self._unlabelled().inc(amount)


class Gauge(_Metric):
    """A value that goes up and down, e.g. versions loaded per model."""

    type_name = "gauge"

    def _child(self, labeltext):
        return _GaugeChild(self._lock, labeltext)

    def set(self, value):
        self._unlabelled().set(value)

    def inc(self, amount=1):
        self._unlabelled().inc(amount)

    def dec(self, amount=1):
        self._unlabelled().dec(amount)


class _HistogramChild:
    __slots__ = ("_bounds", "_counts", "_lock", "_sum", "labeltext")

    def __init__(self, lock, bounds, labeltext):
        self._lock, self._bounds, self.labeltext = lock, bounds, labeltext
        self._counts = [0] * (len(bounds) + 1)  # per bucket, not cumulative; last is +Inf
        self._sum = 0

    def observe(self, value):
        """Record one observation (a bucket with bound b counts values <= b)."""
        # Bucket search happens before taking the lock: the bounds never change.
        # NaN compares false with every bound: count it under +Inf only.
        i = len(self._bounds) if math.isnan(value) else bisect.bisect_left(self._bounds, value)
        with self._lock:
            self._counts[i] += 1
            self._sum += value

    def _snapshot(self):
        return list(self._counts), self._sum


class Histogram(_Metric):
    """Observations counted into fixed buckets (rendered cumulatively), plus sum and count."""

    type_name = "histogram"

    def __init__(self, name, help, labels=(), buckets=TF_LATENCY_BUCKETS, registry=None):
        bounds = [float(b) for b in buckets]
        if bounds and bounds[-1] == math.inf:
            bounds.pop()  # +Inf is always there; tolerate callers that list it
        if not all(map(math.isfinite, bounds)) or any(
                b <= a for a, b in itertools.pairwise(bounds)):
            raise ValueError(f"buckets for {name} must be finite and strictly increasing")
        self.buckets = tuple(bounds)
        self._les = [f'le="{_fmt(b)}"' for b in self.buckets] + ['le="+Inf"']
        super().__init__(name, help, labels, registry)

    def _child(self, labeltext):
        return _HistogramChild(self._lock, self.buckets, labeltext)

    def observe(self, value):
        self._unlabelled().observe(value)

    def _render_child(self, lines, labeltext, value):
        counts, total = value
        prefix = f"{labeltext}," if labeltext else ""
        braces = f"{{{labeltext}}}" if labeltext else ""
        cumulative = 0
        for le, count in zip(self._les, counts):
            cumulative += count
            lines.append(f"{self.name}_bucket{{{prefix}{le}}} {cumulative}")
        lines.append(f"{self.name}_sum{braces} {_fmt(total)}")
        lines.append(f"{self.name}_count{braces} {cumulative}")


class Registry:
    """The metrics one server exports, rendered in registration order."""

    def __init__(self):
        self._lock = threading.Lock()
        self._metrics = {}

    def register(self, metric):
        with self._lock:
            if metric.name in self._metrics:
                raise ValueError(f"metric {metric.name} is already registered")
            self._metrics[metric.name] = metric
        return metric

    def get(self, name):
        """The metric registered under `name`, or None."""
        with self._lock:
            return self._metrics.get(name)

    def render(self):
        """Every metric in the Prometheus text exposition format (0.0.4)."""
        with self._lock:
            metrics = list(self._metrics.values())
        lines = []
        for metric in metrics:
            metric.render_into(lines)
        return "\n".join(lines) + "\n" if lines else ""


def __getattr__(name):
    # The server's metric set lives in server_metrics.py, which imports this module; it is
    # re-exported lazily so that neither import order makes a cycle.
    if name in ("BATCH_SIZE_BUCKETS", "ServerMetrics", "server_metrics"):
        from xlaflow.serving import server_metrics
        return getattr(server_metrics, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
