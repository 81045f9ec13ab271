"""`Iterator`, one pass over a Dataset, and the pipeline Options that hold during it.

A pass runs with its dataset's merged `Options` in a context variable, so that stages
deep in the pipeline (a parallel map's order and pool size) follow them, as TF applies a
pipeline's options to every stage of it.
"""

from __future__ import annotations

import contextvars

import numpy as np

from xlaflow.data.iterator_state import active_log

# The merged Options of the dataset being iterated (None: no Iterator is running one, or
# it sets nothing that a stage reads). Stages read it when a pass starts, which happens
# inside `Iterator.__next__`; prefetch's thread runs in a copy of the context.
pass_options = contextvars.ContextVar("xf_data_pass_options", default=None)


def _trace_state_clean():
    # No public JAX API answers "is a trace active?"; jax._src.core.trace_state_clean does
    # (jax.core no longer re-exports it) and costs a thread-local read. Should a future JAX
    # drop it, iteration stays allowed rather than failing everywhere.
    try:
        from jax._src.core import trace_state_clean
    except ImportError:
        return True
    return trace_state_clean()


def check_host(what):
    if not _trace_state_clean():
        raise TypeError(
            f"xf.data.Dataset.{what}: a dataset cannot be iterated inside a traced function "
            "(xf.function, jax.jit, jax.grad...). Input pipelines run on the host, in Python: "
            "iterate the dataset in Python and call the compiled step on each batch:\n\n"
            "    for x, y in dataset:\n"
            "        train_step(x, y)\n")


def deterministic(argument):
    """A parallel stage's order: its own `deterministic` argument, else the pipeline's
    `Options.deterministic`, else True (TF's rule)."""
    if argument is not None:
        return bool(argument)
    options = pass_options.get()
    return options is None or options.deterministic is not False


def thread_count(wanted):
    """A parallel stage's pool size: `wanted`, capped by the pipeline's
    `threading.private_threadpool_size` when that is set (> 0)."""
    options = pass_options.get()
    cap = None if options is None else options.threading.private_threadpool_size
    return min(wanted, cap) if cap else wanted


def _in_effect(options):
    # Only the fields a stage reads make a pass set the context variable.
    return options.deterministic is not None or bool(options.threading.private_threadpool_size)


def _plain_bytes(element):
    # as_numpy_iterator gives strings as TF's does: `bytes` for one value, an object array
    # of bytes for several, where the pipeline keeps NumPy str arrays, np.str_ scalars and
    # 0-d object arrays (a TFRecord record). fit reads every batch through here: one
    # flatten, a type test per leaf, and the element itself when no leaf is text.
    from xlaflow.data import structure
    leaves = structure.flatten(element)
    for v in leaves:  # inlined _is_text: numeric leaves cost a type test and a dtype read
        kind = type(v)
        if kind is np.ndarray:
            if v.dtype.kind in "USO" and _is_text(v):
                break
        elif kind in _TEXT_SCALARS or kind in _RAGGED:
            break
    else:
        return element
    return structure.pack_as(element, [_plain(v) for v in leaves])


def _plain(v):
    kind = type(v)
    if kind is _RAGGED[0]:  # TF's RaggedTensor.numpy(): an object array of row arrays
        return v.numpy()
    if kind is _RAGGED[1]:  # a dense row of a ragged component: a plain array, as TF's
        v = v.view(np.ndarray)
    return _as_bytes(v) if _is_text(v) else v


_TEXT_SCALARS = frozenset((str, np.str_, np.bytes_))  # (Python bytes is TF's form already)


def _ragged_types():
    from xlaflow.data.ragged_elements import RaggedRow
    from xlaflow.ragged_tensor import RaggedTensor
    return (RaggedTensor, RaggedRow)


_RAGGED = _ragged_types()


def _is_text(value):
    kind = type(value)
    if kind is np.ndarray:
        return value.dtype.kind in "US" or (value.ndim == 0 and value.dtype == object)
    return kind in _TEXT_SCALARS


def _as_bytes(value):
    if type(value) is np.ndarray and value.dtype == object:  # a record: already bytes
        return value[()]
    if type(value) is not np.ndarray:
        return bytes(value) if isinstance(value, bytes) else value.encode("utf-8")
    from xlaflow.data.host_tensor import text_as_bytes
    return text_as_bytes(value)


def with_numpy_of(host_tensors, plain_bytes):
    """What an Iterator applies to each element: HostTensor views, TF's bytes, or nothing."""
    if host_tensors:
        from xlaflow.data.host_tensor import with_numpy
        return with_numpy
    return _plain_bytes if plain_bytes else None


class Iterator:
    """One pass over a Dataset (TF's iterator): `next()`, `get_next()`, `close()`.

    After the last element every `next()` raises StopIteration. `close()` (or dropping the
    iterator) stops any background threads of the pass. `Checkpoint(iterator=it)` saves
    its position, which a restore replays: O(elements handed out) (iterator_state.py).
    """

    def __init__(self, dataset, host_tensors=False, plain_bytes=False):
        from xlaflow.data.iterator_state import PassLog
        self._dataset = dataset
        options = dataset.options()
        self._options = options if _in_effect(options) else None
        self._wrap = with_numpy_of(host_tensors, plain_bytes)
        self._start(PassLog(dataset))

    def _start(self, log):
        """Open a fresh pass whose random stages' draws go to `log` (iterator_state.py:
        a checkpoint saves them, with the count of elements handed out)."""
        self._log, self._count = log, 0
        self._direct = self._options is None and not log.needed  # next() sets nothing
        self._pass = self._dataset._iterate()
        self._gen = self._pass if self._wrap is None else map(self._wrap, self._pass)

    def __iter__(self):
        return self

    def __next__(self):
        # inside a trace, next() would run once, at trace time, and the compiled function
        # would replay that one batch on every call
        check_host("Iterator.__next__")
        element = next(self._gen) if self._direct else self._resume(self._gen)
        self._count += 1  # handed to the caller: elements a prefetch made ahead are not
        return element

    def _replay(self, log, count, check=None):
        """Restart on a fresh pass drawing as `log` plans and skip `count` elements (a
        checkpoint's restore), then `check(log)`; on failure the current pass is kept."""
        previous = self._log, self._count, self._pass, self._gen
        self._start(log)
        try:
            for index in range(count):
                try:
                    self._resume(self._pass)  # not converted: only the position matters
                except StopIteration:
                    raise ValueError(
                        f"Checkpoint.restore: the iterator's pipeline ended after {index} "
                        f"of the {count} elements the saved iterator had handed out: its "
                        "data changed since the save") from None
            if check is not None:
                check(log)
        except BaseException:
            self._pass.close()
            self._log, self._count, self._pass, self._gen = previous
            raise
        previous[2].close()
        self._count = count

    def _resume(self, gen):
        # Every resume runs the stages' generators: each must see the pass's options, and
        # a random stage starting a pass logs its index to this iterator.
        log = active_log.set(self._log)
        token = None if self._options is None else pass_options.set(self._options)
        try:
            return next(gen)
        finally:
            if token is not None:
                pass_options.reset(token)
            active_log.reset(log)

    def get_next(self):
        return self.__next__()

    def close(self):
        self._pass.close()

    @property
    def element_spec(self):
        return self._dataset.element_spec
