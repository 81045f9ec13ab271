"""xf.profiler.experimental (TF's tf.profiler.experimental) on JAX's profiler: a trace
between start and stop lands where TensorBoard's profile plugin reads it, with the Trace
regions and steps in it; TF's errors for a second start and a stop without one."""

import gzip
import json

import jax
import jax.numpy as jnp
import pytest

import xlaflow as xf

profiler = xf.profiler.experimental


def _runs(logdir):
    directory = logdir / "plugins" / "profile"
    return sorted(directory.iterdir()) if directory.is_dir() else []


def _event_names(run):
    trace = next(p for p in run.iterdir() if p.name.endswith(".trace.json.gz"))
    with gzip.open(trace) as f:
        return {event.get("name") for event in json.load(f)["traceEvents"]}


def test_a_trace_holds_its_steps_and_regions(tmp_path):
    step = jax.jit(lambda x: x @ x)
    profiler.start(tmp_path, profiler.ProfilerOptions(host_tracer_level=3,
                                                      python_tracer_level=1))
    try:
        for n in range(3):
            with profiler.Trace("train", step_num=n, _r=1):
                step(jnp.ones((32, 32))).block_until_ready()
        with profiler.Trace("evaluation_pass"):
            step(jnp.ones((8, 8))).block_until_ready()
    finally:
        profiler.stop()
    (run,) = _runs(tmp_path)
    assert any(p.name.endswith(".xplane.pb") for p in run.iterdir())
    assert {"train", "evaluation_pass"} <= _event_names(run)


def test_stop_without_save_leaves_no_run(tmp_path):
    profiler.start(tmp_path)
    jnp.ones(3).block_until_ready()
    profiler.stop(save=False)
    assert _runs(tmp_path) == []


def test_tfs_errors_for_a_second_start_and_a_stop_without_one(tmp_path):
    with pytest.raises(xf.errors.UnavailableError, match="No profiler is running"):
        profiler.stop()
    profiler.start(tmp_path / "a")
    try:
        with pytest.raises(xf.errors.AlreadyExistsError, match="Another profiler session"):
            profiler.start(tmp_path / "b")
    finally:
        profiler.stop()
    profiler.start(tmp_path / "c")  # stopped, a new one may start
    profiler.stop()
    assert len(_runs(tmp_path / "c")) == 1 and _runs(tmp_path / "b") == []


@pytest.mark.parametrize("options, error, match", [
    (profiler.ProfilerOptions(device_tracer_level=0), NotImplementedError,
     "always traces devices"),
    (profiler.ProfilerOptions(delay_ms=100), NotImplementedError, "delay_ms=100"),
    (profiler.ProfilerOptions(host_tracer_level=5), ValueError, "host_tracer_level must be"),
    ({"host_tracer_level": 2}, TypeError, "options must be a"),
])
def test_options_jax_cannot_honour_are_refused_before_starting(tmp_path, options, error,
                                                                 match):
    with pytest.raises(error, match=match):
        profiler.start(tmp_path, options)
    with pytest.raises(xf.errors.UnavailableError):
        profiler.stop()  # nothing was started


def test_server_start_checks_the_port_and_starts_jaxs_server(monkeypatch):
    started = []
    monkeypatch.setattr(jax.profiler, "start_server", started.append)
    profiler.server.start(6009)
    assert started == [6009]
    with pytest.raises(ValueError, match="port must be an int in 1-65535; received 0"):
        profiler.server.start(0)
