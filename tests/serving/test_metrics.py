"""The Prometheus registry: rendered text checked by an independent exposition-format
parser, histogram invariants as properties, thread safety, and the server's metric names."""

import math
import re
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xlaflow.serving.metrics import (
    CONTENT_TYPE,
    TF_LATENCY_BUCKETS,
    Counter,
    Gauge,
    Histogram,
    Registry,
    exponential_buckets,
    prometheus_name,
    server_metrics,
)

# -- an independent reader of the text exposition format 0.0.4 ------------------------------

_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_UNESCAPE = {"\\": "\\", '"': '"', "n": "\n"}


def _labels(text):
    """`{a="x",b="y\\n"}` -> {"a": "x", "b": "y\n"}, undoing the three escapes."""
    out, i = {}, 1
    while text[i] != "}":
        name = _LABEL_NAME.match(text, i).group()
        i += len(name)
        assert text[i:i + 2] == '="', text
        i += 2
        value = []
        while text[i] != '"':
            if text[i] == "\\":
                value.append(_UNESCAPE[text[i + 1]])
                i += 2
            else:
                value.append(text[i])
                i += 1
        assert name not in out, f"label {name} twice in {text}"
        out[name] = "".join(value)
        i += 1
        if text[i] == ",":
            i += 1
    assert i == len(text) - 1, text
    return out


def _unescape(text):
    """HELP text: only backslash and newline are escaped there."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            out.append({"\\": "\\", "n": "\n"}[text[i + 1]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _value(text):
    return {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}.get(text) or float(text)


def read_exposition(text):
    """{family: {"help", "type", "samples": [(name, labels, value)]}}, checking the rules a
    Prometheus scraper relies on as it goes."""
    assert text == "" or text.endswith("\n")
    families, current, seen = {}, None, set()
    for line in text.split("\n")[:-1]:  # only \n ends a line, not \r or \x0b
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert name not in families, f"family {name} declared twice"
            current = families[name] = {"help": _unescape(help_text), "type": None,
                                        "samples": []}
            current["name"] = name
        elif line.startswith("# TYPE "):
            name, kind = line[7:].split(" ")
            assert current is not None and current["name"] == name and not current["samples"]
            assert kind in ("counter", "gauge", "histogram")
            current["type"] = kind
        else:
            m = _SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            name, labels = m.group(1), _labels(m.group(2)) if m.group(2) else {}
            family = current["name"]
            allowed = ({family} if current["type"] != "histogram" else
                       {family + "_bucket", family + "_sum", family + "_count"})
            assert name in allowed, f"sample {name} outside family {family}"
            key = (name, tuple(sorted(labels.items())))
            assert key not in seen, f"duplicate sample {key}"
            seen.add(key)
            current["samples"].append((name, labels, _value(m.group(3))))
    return families


def histogram_series(family):
    """{label values without le: {"buckets": [(le, count)], "sum", "count"}} in file order."""
    series = {}
    for name, labels, value in family["samples"]:
        le = labels.pop("le", None)
        entry = series.setdefault(tuple(sorted(labels.items())), {"buckets": []})
        if name.endswith("_bucket"):
            assert "sum" not in entry, "bucket lines come before _sum/_count"
            entry["buckets"].append((_value(le), value))
        else:
            entry[name.rsplit("_", 1)[1]] = value
    return series


# -- names and buckets ----------------------------------------------------------------------


def test_prometheus_name_and_buckets():
    assert prometheus_name("/tensorflow/serving/request_count") == \
        ":tensorflow:serving:request_count"
    assert prometheus_name("/tensorflow/serving/batching_session/queuing_latency") == \
        ":tensorflow:serving:batching_session:queuing_latency"
    assert prometheus_name("a.b-c d_9") == "a:b:c:d_9"
    assert len(TF_LATENCY_BUCKETS) == 33 and TF_LATENCY_BUCKETS[0] == 10
    for k, bound in enumerate(TF_LATENCY_BUCKETS):
        assert bound == pytest.approx(10 * 1.8 ** k, rel=1e-11)
    assert exponential_buckets(1, 2, 4) == (1, 2, 4, 8)
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")


@given(st.text(max_size=30))
def test_prometheus_name_rule(name):
    out = prometheus_name(name)
    assert len(out) == len(name) and re.fullmatch(r"[A-Za-z0-9_:]*", out)
    assert all(a == b or b == ":" for a, b in zip(name, out))


# -- counters and gauges --------------------------------------------------------------------


def test_counter_and_gauge_render():
    registry = Registry()
    requests = Counter("requests", "Requests.\nBy code \\ model.", ["model", "code"],
                       registry=registry)
    requests.labels(model="m", code="OK").inc()
    requests.labels("m", "OK").inc(2)  # positional, same child
    requests.labels(code="NOT_FOUND", model="m").inc()
    up = Gauge("up", "Up.", registry=registry)
    up.set(1.5)
    versions = Gauge("versions", "Loaded.", ["model_name"], registry=registry)
    versions.labels(model_name=7).set(2)
    versions.labels(model_name="7").inc()  # 7 and "7" render as the same series
    versions.labels(model_name="7").dec(0.5)
    families = read_exposition(registry.render())
    assert list(families) == ["requests", "up", "versions"]
    assert families["requests"]["help"] == "Requests.\nBy code \\ model."
    assert families["requests"]["type"] == "counter"
    assert sorted((s[1]["code"], s[2]) for s in families["requests"]["samples"]) == \
        [("NOT_FOUND", 1), ("OK", 3)]
    assert families["up"]["samples"] == [("up", {}, 1.5)]
    assert families["versions"]["samples"] == [("versions", {"model_name": "7"}, 2.5)]
    assert requests.labels(model="m", code="OK").get() == 3


def test_unlabelled_metrics_render_zero_and_labelled_start_empty():
    registry = Registry()
    Counter("c", "C.", registry=registry)
    Histogram("h", "H.", [], [1, 2], registry=registry)
    Counter("labelled", "L.", ["x"], registry=registry)
    families = read_exposition(registry.render())
    assert families["c"]["samples"] == [("c", {}, 0)]
    assert [s[2] for s in families["h"]["samples"]] == [0, 0, 0, 0, 0]
    assert families["labelled"]["samples"] == []
    assert Registry().render() == ""


@given(st.lists(st.text(max_size=10), min_size=1, max_size=5, unique=True),
       st.text(max_size=20))
@settings(max_examples=50, deadline=None)
def test_label_values_and_help_round_trip(values, help_text):
    registry = Registry()
    counter = Counter("c", help_text, ["v"], registry=registry)
    for i, value in enumerate(values):
        counter.labels(v=value).inc(i + 1)
    family = read_exposition(registry.render())["c"]
    assert family["help"] == help_text
    assert {s[1]["v"]: s[2] for s in family["samples"]} == \
        {value: i + 1 for i, value in enumerate(values)}


def test_misuse_is_rejected():
    registry = Registry()
    counter = Counter("c", "C.", ["a", "b"], registry=registry)
    for bad in (lambda: counter.labels(a="1"), lambda: counter.labels(a="1", c="2"),
                lambda: counter.labels("1"), lambda: counter.labels("1", b="2"),
                lambda: counter.inc(), lambda: counter.labels(a=1, b=2).inc(-1)):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(ValueError, match="already registered"):
        Counter("c", "again", registry=registry)
    for name, labels in (("bad-name", ()), ("ok", ("bad-label",)), ("ok", ("__x",)),
                         ("ok", ("a", "a"))):
        with pytest.raises(ValueError):
            Gauge(name, "G.", labels)
    with pytest.raises(ValueError, match="le"):
        Histogram("h", "H.", ["le"])
    with pytest.raises(ValueError, match="increasing"):
        Histogram("h", "H.", [], [2, 1])
    with pytest.raises(ValueError, match="increasing"):
        Histogram("h", "H.", [], [1, math.nan])
    assert Histogram("h", "H.", [], [1, math.inf]).buckets == (1.0,)


# -- histograms -----------------------------------------------------------------------------

BOUNDS = st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=8, unique=True).map(sorted)
OBSERVATIONS = st.lists(st.tuples(st.sampled_from(["a", "b", 'q"\\']),
                                  st.one_of(st.floats(-2e6, 2e6, allow_nan=False),
                                            st.integers(-10, 10))),
                        max_size=60)


@given(BOUNDS, OBSERVATIONS)
@settings(max_examples=100, deadline=None)
def test_histogram_rendering(bounds, observations):
    registry = Registry()
    histogram = Histogram("lat", "Latency.", ["model"], bounds, registry=registry)
    for model, value in observations:
        histogram.labels(model=model).observe(value)
    family = read_exposition(registry.render())["lat"]
    assert family["type"] == "histogram"
    series = histogram_series(family)
    assert set(series) == {(("model", m),) for m, _ in observations}
    for (((_, model),), entry) in series.items():
        mine = [v for m, v in observations if m == model]
        les = [le for le, _ in entry["buckets"]]
        counts = [c for _, c in entry["buckets"]]
        assert les == [*bounds, math.inf]  # every bound, in order, ending with +Inf
        assert counts == sorted(counts)  # cumulative, hence monotone
        assert counts == [sum(v <= le for v in mine) for le in les]
        assert counts[-1] == entry["count"] == len(mine)
        assert entry["sum"] == pytest.approx(sum(mine), rel=1e-12, abs=1e-9)


def test_histogram_edges():
    registry = Registry()
    histogram = Histogram("h", "H.", [], [1, 2.5], registry=registry)
    for value in (1, 2.5, 2.6, -math.inf, math.nan):
        histogram.observe(value)
    (entry,) = histogram_series(read_exposition(registry.render())["h"]).values()
    assert entry["buckets"] == [(1, 2), (2.5, 3), (math.inf, 5)]  # le is inclusive
    assert math.isnan(entry["sum"]) and entry["count"] == 5
    text = registry.render()
    assert 'h_bucket{le="2.5"} 3\n' in text and 'h_bucket{le="+Inf"} 5\n' in text


def test_concurrent_updates_are_not_lost():
    m = server_metrics()
    threads, per_thread = 4, 2000

    def work(i):
        for _ in range(per_thread):
            m.request_count.labels(model_name="m", status="OK").inc()
            m.request_latency.labels(model_name="m", API="predict",
                                     entrypoint="REST").observe(i)
            m.loaded_versions.labels(model_name=f"m{i % 2}").inc()

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    families = read_exposition(m.registry.render())
    assert families[":tensorflow:serving:request_count"]["samples"][0][2] == \
        threads * per_thread
    (entry,) = histogram_series(families[":tensorflow:serving:request_latency"]).values()
    assert entry["count"] == threads * per_thread
    assert entry["sum"] == per_thread * sum(range(threads))
    assert sum(s[2] for s in families[":xlaflow:serving:loaded_versions"]["samples"]) == \
        threads * per_thread


# -- the server's metrics -------------------------------------------------------------------

EXPECTED = {
    ":tensorflow:serving:request_count": ("counter", ["model_name", "status"]),
    ":tensorflow:serving:request_latency": ("histogram", ["model_name", "API", "entrypoint"]),
    ":tensorflow:serving:runtime_latency": ("histogram", ["model_name", "API", "runtime"]),
    ":tensorflow:serving:request_example_counts": ("histogram", ["model"]),
    ":tensorflow:serving:request_example_count_total": ("counter", ["model"]),
    ":tensorflow:serving:batching_session:queuing_latency": ("histogram", ["model_name"]),
    ":tensorflow:serving:batching_session:input_batch_size": ("histogram", ["model_name"]),
    ":tensorflow:serving:batching_session:processed_batch_size": ("histogram",
                                                                   ["model_name"]),
    ":tensorflow:serving:batching_session:padding_size": ("histogram", ["model_name"]),
    ":tensorflow:serving:batching_session:wrapped_run_count": ("counter", ["model_name"]),
    ":tensorflow:serving:model_warmup_latency": ("histogram", ["model_name"]),
    ":xlaflow:serving:compile_latency": ("histogram", ["model_name"]),
    ":xlaflow:serving:loaded_versions": ("gauge", ["model_name"]),
}


def test_server_metrics_names_types_and_labels():
    m = server_metrics(Registry())
    for attr in ("request_count", "request_example_count_total", "wrapped_run_count"):
        metric = getattr(m, attr)
        metric.labels(**{k: "x" for k in metric.labelnames}).inc()
    m.loaded_versions.labels(model_name="x").set(1)
    for attr in ("request_latency", "runtime_latency", "request_example_counts",
                 "queuing_latency", "input_batch_size", "processed_batch_size", "padding_size",
                 "model_warmup_latency", "compile_latency"):
        metric = getattr(m, attr)
        metric.labels(**{k: "x" for k in metric.labelnames}).observe(3)
    families = read_exposition(m.registry.render())
    assert {name: (f["type"], sorted(f["samples"][0][1].keys() - {"le"}))
            for name, f in families.items()} == \
        {name: (kind, sorted(labels)) for name, (kind, labels) in EXPECTED.items()}
    for name in (":tensorflow:serving:request_latency", ":tensorflow:serving:runtime_latency"):
        assert m.registry.get(name).buckets == TF_LATENCY_BUCKETS
    assert m.request_latency.labelnames == ("model_name", "API", "entrypoint")
    with pytest.raises(ValueError, match="already registered"):
        server_metrics(m.registry)
