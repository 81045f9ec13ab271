"""Eager tape blocks, adversarially: bodies Python enters oddly, tracers, methods, refusals.

Oracles: closed forms of the recorded expressions, and Python's own `with` semantics (each
manager entered once, the body's side effects once).
"""

import contextlib
import gc
import os
import pathlib
import subprocess
import sys
import threading
import time
import weakref

import pytest

import xlaflow as xf


def test_a_body_that_starts_with_try_is_recorded():
    v = xf.Variable(2.0)

    def step():
        with xf.GradientTape() as tape:
            try:
                y = v * v * v
            except ValueError:
                y = v
        return tape.gradient(y, v)

    assert float(step()) == 12.0  # 3v^2


def test_a_body_of_only_pass_leaves_the_tape_empty():
    def step():
        with xf.GradientTape() as tape:
            pass
        return tape.watched_variables()

    assert step() == ()


def test_the_managers_after_the_tape_are_entered_once():
    v = xf.Variable(2.0)
    log = []

    @contextlib.contextmanager
    def logged():
        log.append("enter")
        try:
            yield 3.0
        finally:
            log.append("exit")

    def step():
        with xf.GradientTape() as tape, logged() as k:
            y = v * k
        return tape.gradient(y, v)

    assert float(step()) == 3.0
    assert log == ["enter", "exit"]


def test_a_tracer_without_line_events_does_not_run_the_body_twice():
    v = xf.Variable(2.0)
    runs = []

    def tracer(frame, event, arg):
        if event == "call" and frame.f_code.co_name == "traced":
            frame.f_trace_lines = False  # as coverage tools do for frames they skip
            return tracer
        return None

    def traced():
        with xf.GradientTape() as tape:
            runs.append(1)
            y = v * v
        return tape.gradient(y, v)

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        grad = traced()
        still = sys.gettrace()
    finally:
        sys.settrace(previous)
    assert float(grad) == 4.0 and runs == [1] and still is tracer


def test_a_refused_block_keeps_no_frame_alive():
    v = xf.Variable(2.0)
    alive = []

    class Big:
        pass

    def refused():
        big = Big()
        alive.append(weakref.ref(big))
        with xf.GradientTape():
            return v * v

    for _ in range(3):
        with pytest.raises(RuntimeError, match=r"has a `return`"):
            refused()
    gc.collect()
    assert [r() for r in alive] == [None, None, None]


def test_super_inside_a_methods_block_is_the_methods_super():
    class Base:
        def scale(self):
            return 3.0

    class Model(Base):
        def __init__(self):
            self.w = xf.Variable(2.0)

        def scale(self):
            return 100.0

        def step(self):
            with xf.GradientTape() as tape:
                y = self.w * self.w * super().scale()
            return tape.gradient(y, self.w)

    assert float(Model().step()) == 12.0  # d(3w^2)/dw


def test_a_block_converted_again_for_other_names_converts_the_source_as_written():
    v = xf.Variable(2.0)

    def steps(x):
        grads = []
        for _ in range(2):  # the second entry binds `tape`, `y`, ...: a second conversion
            with xf.GradientTape() as tape:
                tape.watch(x)
                y = x
                for _ in range(3):
                    if y > 0:
                        y = y * v
                    else:
                        break
                z = y * 2.0
            grads.append([float(g) for g in tape.gradient(z, [v, x])])
        return grads

    # z = 2 x v^3: dz/dv = 6 x v^2, dz/dx = 2 v^3
    assert steps(xf.constant(1.0)) == [[24.0, 16.0], [24.0, 16.0]]


def test_a_local_bound_only_after_the_block_is_unbound_inside_it():
    v = xf.Variable(2.0)

    def step():
        with xf.GradientTape():
            y = v * late  # noqa: F821 - Python reads the local `late`, not yet bound
        late = 3.0
        return y, late

    # Python raises UnboundLocalError (a NameError) here; a global of the same name must not
    # be read instead (the converted block runs the body in a nested function: its
    # NameError says "free variable 'late'")
    globals()["late"] = 100.0
    try:
        with pytest.raises(NameError, match="'late'"):
            step()
    finally:
        del globals()["late"]


def test_a_block_in_a_finally_clause_is_recorded_on_the_exception_path_too():
    v = xf.Variable(2.0)
    grads = []

    def step(fail):
        try:
            if fail:
                raise KeyError("the try body failed")
        finally:  # the compiler emits this block twice: normal and exceptional path
            with xf.GradientTape() as tape, xf.GradientTape() as tape2:
                y = v * v * v
            grads.append((float(tape.gradient(y, v)), float(tape2.gradient(y, v))))

    step(False)
    with pytest.raises(KeyError, match="the try body failed"):
        step(True)
    assert grads == [(12.0, 12.0), (12.0, 12.0)]  # 3v^2


@pytest.mark.parametrize("compiled", [True, False])
def test_stop_recording_after_the_block_says_the_tape_is_not_recording(compiled):
    v = xf.Variable(2.0)

    def step():
        with xf.GradientTape() as tape:
            y = v * v
        with tape.stop_recording():  # TF: RuntimeError, the tape is not recording
            z = y * 3.0
        return z

    with pytest.raises(RuntimeError, match="stop recording a tape which is not recording"):
        (xf.function(step) if compiled else step)()


def test_threads_entering_a_new_block_together_convert_it_once(monkeypatch):
    from xlaflow.autograph import conversion

    v = xf.Variable(1.5)
    converted, compile_def = [], conversion.compile_def

    def slow_compile_def(*args, **kwargs):
        converted.append(1)
        time.sleep(0.05)  # a conversion takes this long: the other threads arrive meanwhile
        return compile_def(*args, **kwargs)

    monkeypatch.setattr(conversion, "compile_def", slow_compile_def)
    start, results = threading.Barrier(3), {}

    def work(k):
        start.wait()
        with xf.GradientTape() as tape:
            y = v ** k
        results[k] = float(tape.gradient(y, v))

    threads = [threading.Thread(target=work, args=(k,)) for k in (2, 3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {2: 3.0, 3: 3 * 1.5 ** 2, 4: 4 * 1.5 ** 3}  # k v^(k-1)
    assert len(converted) == 1


_FIRST_BLOCK = """
import sys
import xlaflow as xf

def tracer(frame, event, arg):
    return None

runs = []

def step(v):
    with xf.GradientTape() as tape:
        runs.append(1)
        y = v * v
    return tape.gradient(y, v)

v = xf.Variable(2.0)
if sys.argv[1] == "traced":  # a debugger's tracer, set before the process's first block
    sys.settrace(tracer)
try:
    grad = step(v)
    still = sys.gettrace()
finally:
    sys.settrace(None)
assert float(grad) == 4.0, grad
assert runs == [1], runs
assert still is (tracer if sys.argv[1] == "traced" else None), still
"""


@pytest.mark.parametrize("mode", ["plain", "traced"])
def test_the_first_eager_block_of_a_process_runs_its_body_once(tmp_path, mode):
    # Python 3.12 arms a frame's opcode events only at a sys.settrace after the request:
    # the process's first block ran its body twice (under a debugger's tracer too).
    script = tmp_path / "first_block.py"
    script.write_text(_FIRST_BLOCK)
    root = str(pathlib.Path(xf.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, str(script), mode], capture_output=True,
                          text=True, timeout=120, check=False, env=env)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_class_body_block_reading_the_functions_locals_is_refused_not_misread():
    v = xf.Variable(2.0)
    globals()["k"] = 100.0  # what the block read instead of the function's k

    def build(k):
        class Step:
            with xf.GradientTape() as tape:
                y = v * k
            grad = tape.gradient(y, v)
        return Step.grad

    def build_bound(k):
        class Step:
            kk, w = k, v  # the class body's own names for the function's
            with xf.GradientTape() as tape:
                y = w * kk
            grad = tape.gradient(y, w)
        return Step.grad

    try:
        with pytest.raises(RuntimeError, match=r"reads \['k', 'v'\] from the function around"):
            build(3.0)
        assert float(build_bound(3.0)) == 3.0
    finally:
        del globals()["k"]
