"""Every xf.data test must leave no pipeline thread behind (prefetch, parallel map)."""

import threading

import pytest


def _pipeline_threads():
    return [t for t in threading.enumerate() if t.name.startswith("xf.data")]


@pytest.fixture(autouse=True)
def _no_leaked_threads():
    before = set(_pipeline_threads())
    yield
    leaked = [t for t in _pipeline_threads() if t not in before]
    for t in leaked:
        t.join(timeout=5)  # a closed pass joins its threads; this only absorbs GC timing
    leaked = [t.name for t in leaked if t.is_alive()]
    assert not leaked, f"pipeline threads still running after the test: {leaked}"
