"""`xf.data.Options` (TF's tf.data.Options), `Dataset.with_options` and `Dataset.options`.

What has an effect here: `deterministic` (the order of a parallel map or interleave whose
own `deterministic` is None) and `threading.private_threadpool_size` (caps each parallel
stage's threads). Every other field is accepted, type-checked, recorded and merged as TF
merges it, and changes nothing: xlaflow rewrites no graph and runs no autotuner.
"""

from __future__ import annotations

import enum

from xlaflow.data.dataset import Dataset


class AutoShardPolicy(enum.IntEnum):
    """TF's tf.data.experimental.AutoShardPolicy (recorded; xlaflow shards no files)."""
    OFF = -1
    AUTO = 0
    FILE = 1
    DATA = 2
    HINT = 3


class ExternalStatePolicy(enum.IntEnum):
    """TF's tf.data.experimental.ExternalStatePolicy (recorded; nothing is serialized)."""
    WARN = 0
    IGNORE = 1
    FAIL = 2


class AutotuneAlgorithm(enum.IntEnum):
    """TF's tf.data.experimental.AutotuneAlgorithm (recorded; there is no autotuner)."""
    DEFAULT = 0
    HILL_CLIMB = 1
    GRADIENT_DESCENT = 2
    MAX_PARALLELISM = 3
    STAGE_BASED = 4


class _Option:
    """One field: its type, what reading it gives while unset, and a minimum for counts."""

    def __init__(self, kind, default=None, minimum=None):
        self.kind, self.default, self.minimum = kind, default, minimum

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        if isinstance(self.kind, type) and issubclass(self.kind, OptionsBase):
            # Stored on first read (as TF), so `options.threading.x = 1` sticks.
            nested = obj._options.get(self.name)
            if nested is None:
                nested = obj._options[self.name] = self.kind()
                object.__setattr__(nested, "_mutable", obj._mutable)
            return nested
        return obj._options.get(self.name, self.default)

    def __set__(self, obj, value):
        if value is None:
            obj._options.pop(self.name, None)  # back to unset: the default applies
            return
        # bool is an int in Python; a count given True is a mistake, as it is for TF.
        if not isinstance(value, self.kind) or (self.kind is int and isinstance(value, bool)):
            raise TypeError(f'Property "{self.name}" must be of type {self.kind.__name__}, '
                            f"got: {value!r} (type: {type(value).__name__})")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f'Property "{self.name}" must be >= {self.minimum}; '
                             f"received {value}")
        obj._options[self.name] = value


class _Alias:
    """A deprecated TF name for another field (`experimental_deterministic`, ...)."""

    def __init__(self, target):
        self.target = target

    def __get__(self, obj, owner=None):
        return self if obj is None else getattr(obj, self.target)

    def __set__(self, obj, value):
        setattr(obj, self.target, value)


class OptionsBase:
    """TF's OptionsBase: a fixed set of typed fields; setting any other name raises
    AttributeError, and an object returned by `Dataset.options()` cannot be changed."""

    def __init__(self):
        object.__setattr__(self, "_options", {})
        object.__setattr__(self, "_mutable", True)

    @classmethod
    def _fields(cls):
        return sorted(name for klass in cls.__mro__ for name, value in vars(klass).items()
                      if isinstance(value, _Option))

    def __setattr__(self, name, value):
        if not self._mutable:
            raise ValueError("Mutating `xf.data.Options()` returned by `Dataset.options()` has "
                             "no effect. Use `Dataset.with_options(options)` to set or update "
                             "dataset options.")
        if not isinstance(getattr(type(self), name, None), (_Option, _Alias)):
            raise AttributeError(  # noqa: TRY004  (TF raises AttributeError here)
                f"Cannot set the property {name} on {type(self).__name__}.")
        object.__setattr__(self, name, value)

    def __eq__(self, other):
        if not isinstance(other, type(self)):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self._fields())

    __hash__ = None  # mutable, as TF's

    def __repr__(self):
        set_ = ", ".join(f"{k}={v!r}" for k, v in sorted(self._options.items())
                         if not isinstance(v, OptionsBase) or v._options)
        return f"{type(self).__name__}({set_})"


class AutotuneOptions(OptionsBase):
    """TF's tf.data.experimental.AutotuneOptions (recorded; AUTOTUNE follows fixed rules)."""
    autotune_algorithm = _Option(AutotuneAlgorithm)
    cpu_budget = _Option(int, minimum=0)
    enabled = _Option(bool)
    initial_parallelism = _Option(int, minimum=0)
    ram_budget = _Option(int, minimum=0)


class DistributeOptions(OptionsBase):
    """TF's tf.data.experimental.DistributeOptions (recorded; no multi-worker sharding)."""
    auto_shard_policy = _Option(AutoShardPolicy, default=AutoShardPolicy.AUTO)
    num_devices = _Option(int, minimum=0)


class OptimizationOptions(OptionsBase):
    """TF's tf.data.experimental.OptimizationOptions (recorded; no graph rewrites here)."""
    apply_default_optimizations = _Option(bool)
    filter_fusion = _Option(bool)
    filter_parallelization = _Option(bool)
    inject_prefetch = _Option(bool)
    map_and_batch_fusion = _Option(bool)
    map_and_filter_fusion = _Option(bool)
    map_fusion = _Option(bool)
    map_parallelization = _Option(bool)
    noop_elimination = _Option(bool)
    parallel_batch = _Option(bool)
    seq_interleave_prefetch = _Option(bool)
    shuffle_and_repeat_fusion = _Option(bool)


class ThreadingOptions(OptionsBase):
    """TF's tf.data.ThreadingOptions. `private_threadpool_size` (> 0) caps the threads of
    each parallel map and interleave; `max_intra_op_parallelism` is recorded only."""
    max_intra_op_parallelism = _Option(int, minimum=0)
    private_threadpool_size = _Option(int, minimum=0)


class Options(OptionsBase):
    """TF's tf.data.Options, set on a pipeline with `Dataset.with_options`.

    `deterministic=False` lets a parallel map or interleave (num_parallel_calls set, its own
    `deterministic` None) yield an element that is ready before an earlier one still being
    produced; None or True keeps the input order. See the module docstring for the others.
    """
    autotune = _Option(AutotuneOptions)
    dataset_name = _Option(str)
    deterministic = _Option(bool)
    experimental_distribute = _Option(DistributeOptions)
    experimental_external_state_policy = _Option(ExternalStatePolicy)
    experimental_optimization = _Option(OptimizationOptions)
    experimental_slack = _Option(bool, default=False)
    experimental_symbolic_checkpoint = _Option(bool, default=False)
    experimental_warm_start = _Option(bool, default=False)
    threading = _Option(ThreadingOptions)
    experimental_deterministic = _Alias("deterministic")
    experimental_threading = _Alias("threading")

    def merge(self, options):
        """A new Options: this one's fields, overridden by those `options` sets."""
        if not isinstance(options, Options):
            raise TypeError(f"Options.merge: options must be an xf.data.Options; received "
                            f"{type(options).__name__}")
        return merge_options(self, options)


def merge_options(*options_list):
    """The fields set by the objects in order, later ones winning field by field (nested
    options merged the same way): how TF merges a pipeline's options."""
    result = type(options_list[0])()
    for options in options_list:
        for name, value in options._options.items():
            if isinstance(value, OptionsBase):
                object.__setattr__(result, name, merge_options(getattr(result, name), value))
            else:
                object.__setattr__(result, name, value)
    return result


def _freeze(options):
    object.__setattr__(options, "_mutable", False)
    for value in options._options.values():
        if isinstance(value, OptionsBase):
            _freeze(value)
    return options


def _inputs_of(dataset):
    # Stages keep their input as `_input`, or several as `_inputs` (zip, concatenate).
    inputs = getattr(dataset, "_inputs", None)
    if inputs is not None:
        return list(inputs)
    single = getattr(dataset, "_input", None)
    return [] if single is None else [single]


def pipeline_options(dataset):
    """The Options in effect for `dataset`: its inputs' merged in order, then its own (as
    TF's DatasetBase::MergeOptionsFromInputs); read-only, cached (datasets are immutable)."""
    cached = dataset.__dict__.get("_merged_options")
    if cached is None:
        parts = [pipeline_options(d) for d in _inputs_of(dataset)]
        own = dataset.__dict__.get("_own_options")
        cached = _freeze(merge_options(Options(), *parts, *([own] if own else [])))
        dataset._merged_options = cached
    return cached


class WithOptions(Dataset):
    """`Dataset.with_options`: the input's elements unchanged, with `options` recorded for
    the whole pipeline (a copy: changing the caller's object later changes nothing)."""

    def __init__(self, dataset, options):
        if not isinstance(options, Options):
            raise TypeError(f"Dataset.with_options: options must be an xf.data.Options; "
                            f"received {type(options).__name__}")
        self._input = dataset
        self._own_options = merge_options(Options(), options)

    def _iterate(self):
        return self._input._iterate()

    def _iterate_or_fail(self):
        return self._input._iterate_or_fail()

    def _rows(self):
        return self._input._rows()

    def _infer_spec(self):
        return self._input.element_spec

    def _cardinality(self):
        return self._input._cardinality()
