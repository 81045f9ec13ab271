"""prefetch and the parallel map: work done ahead of the consumer, proved with counters;
exceptions crossing threads; threads ending with their iterator (conftest checks leaks)."""

import os
import subprocess
import sys
import threading

import pytest

from xlaflow.data import AUTOTUNE, Dataset


class Ahead:
    """A map function that counts the elements produced, so a test can compare the count
    with what it has consumed; `wait_for(n)` blocks until n have been produced."""

    def __init__(self):
        self.produced = 0
        self.cond = threading.Condition()

    def __call__(self, x):
        with self.cond:
            self.produced += 1
            self.cond.notify_all()
        return x

    def wait_for(self, n, timeout=10.0):
        with self.cond:
            return self.cond.wait_for(lambda: self.produced >= n, timeout)

    def stays_at(self, n, timeout=0.05):
        """True if no element beyond the n-th is produced within `timeout` (the producer
        is blocked, not merely slow: the check can only err towards failing)."""
        with self.cond:
            self.cond.wait_for(lambda: self.produced > n, timeout)
            return self.produced == n


@pytest.mark.parametrize("k", [1, 3])
def test_prefetch_runs_up_to_k_elements_ahead_while_the_consumer_holds(k):
    counter = Ahead()
    it = iter(Dataset.range(10 ** 9).map(counter).prefetch(k))
    for consumed in range(1, 5):
        assert int(next(it)) == consumed - 1
        # The consumer holds its element; the thread fills the buffer: k ahead, not more.
        assert counter.wait_for(consumed + k)
        assert counter.stays_at(consumed + k)
    it.close()


def test_without_prefetch_nothing_is_produced_ahead():
    counter = Ahead()
    it = iter(Dataset.range(10 ** 9).map(counter))
    for consumed in range(1, 5):
        next(it)
        assert counter.produced == consumed


def test_parallel_map_bounds_the_work_in_flight():
    counter = Ahead()
    it = iter(Dataset.range(10 ** 9).map(counter, num_parallel_calls=3))
    next(it)
    # one consumed, three submitted behind it: the pool never runs further ahead
    assert counter.wait_for(4) and counter.stays_at(4)
    it.close()


def test_prefetch_reraises_producer_errors_in_order():
    def fail_at_3(x):
        if x == 3:
            raise ZeroDivisionError("bad element")
        return x

    it = iter(Dataset.range(10).map(fail_at_3).prefetch(5))
    assert [int(next(it)) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ZeroDivisionError, match="bad element"):
        next(it)
    with pytest.raises(StopIteration):
        next(it)


def test_prefetch_reraises_generator_signature_errors():
    from xlaflow.tensors import TensorSpec

    ds = Dataset.from_generator(lambda: iter([1.0, "x"]), output_signature=TensorSpec([]))
    with pytest.raises(TypeError, match="element 1"):
        list(ds.prefetch(2))


def _pipeline_threads():
    return [t for t in threading.enumerate() if t.name.startswith("xf.data")]


def test_threads_end_when_the_iterator_is_closed_or_dropped():
    ds = Dataset.range(10 ** 9).map(lambda x: x, num_parallel_calls=2).prefetch(2).prefetch(1)
    it = iter(ds)
    next(it)
    assert len(_pipeline_threads()) >= 3  # two prefetch threads and the map's pool
    it.close()
    assert _pipeline_threads() == []
    it = iter(ds)
    next(it)
    del it  # dropping the last reference closes the pass (and joins its threads)
    assert _pipeline_threads() == []


def test_early_stops_downstream_close_prefetch_upstream():
    ds = Dataset.range(10 ** 9).prefetch(4)
    assert [int(v) for v in ds.take(3)] == [0, 1, 2]
    for batch in ds.batch(2):
        break
    del batch
    assert _pipeline_threads() == []
    assert [int(a) for a, _ in Dataset.zip((ds, Dataset.range(2)))] == [0, 1]
    assert _pipeline_threads() == []


def test_element_spec_through_prefetch_and_parallel_map():
    ds = Dataset.range(5).prefetch(2).map(lambda x: (x, x * 1.5), num_parallel_calls=2)
    assert [s.dtype.name for s in ds.element_spec] == ["int64", "float64"]
    assert [int(a) for a, _ in ds.prefetch(3)] == list(range(5))


def test_prefetch_zero_and_autotune_are_plain_passes():
    for size in (0, -1):
        assert [int(v) for v in Dataset.range(4).prefetch(size)] == [0, 1, 2, 3]


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "xf.data.prefetch"]


def test_autotune_starts_a_thread_only_when_producing_is_slow():
    import time as _time

    def slow(x):
        _time.sleep(0.003)
        return x

    slow_producer = Dataset.range(40).map(slow).prefetch(AUTOTUNE)
    seen = []
    for i, _ in enumerate(slow_producer):
        if i == 20:
            seen.append(len(_prefetch_threads()))
    assert seen == [1]  # the probe found producing slow: a thread took over

    cheap = Dataset.range(40).prefetch(AUTOTUNE)
    seen = []
    for i, _ in enumerate(cheap):
        _time.sleep(0.002)  # a slow consumer: the thread would hide nothing
        if i == 20:
            seen.append(len(_prefetch_threads()))
    assert seen == [0]
    assert list(cheap) == list(range(40))


def test_a_prefetch_iterator_alive_at_exit_ends_quietly():
    # A script that stops iterating early: its pass is finalized at interpreter shutdown,
    # where joining the thread printed "Exception ignored ... 'NoneType' object is not
    # callable" to stderr.
    script = ("import xlaflow as xf\n"
              "it = iter(xf.data.Dataset.range(1000).map(lambda x: x * 2).prefetch(4))\n"
              "print(int(next(it)), int(next(it)))\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=120, check=True)
    assert done.stdout == "0 2\n"
    assert done.stderr == ""
