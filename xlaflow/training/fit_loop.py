"""The Python loops of fit, evaluate and predict: batches in, compiled steps, callbacks out."""

from __future__ import annotations

import jax
import numpy as np

from xlaflow import callbacks as callbacks_lib
from xlaflow.training import data as data_lib
from xlaflow.training import device_arrays, ragged_batches, ran_out
from xlaflow.training.progress import Progbar
from xlaflow.training.sequence import end_epoch
from xlaflow.training.trainer import host_logs


def _verbosity(verbose):
    return 1 if verbose == "auto" else int(verbose)


class FitState:
    """Where a running fit is: `epoch`, and `step`, the batches done in that epoch (both
    counted before the hooks that follow them run), plus the shuffle's base seed. fit sets
    `model._fit_state` to it; a callback that backs the loop up (BackupAndRestore) reads it,
    and may set all three in `on_train_begin` to resume an interrupted fit exactly."""

    def __init__(self, epoch, data):
        self.epoch, self.step, self._data = epoch, 0, data

    @property
    def shuffle_seed(self):
        """The per-fit base seed of the shuffle (epoch e uses seed + e), or None."""
        return getattr(self._data, "seed", None)

    @shuffle_seed.setter
    def shuffle_seed(self, seed):
        if isinstance(self._data, data_lib.ArrayBatches):
            self._data.seed = seed


def _check_feeding(call, max_queue_size, workers, use_multiprocessing):
    """Keras 2's host-feeding knobs of a Sequence/generator, checked; returns whether a
    Sequence is read as Keras 2's worker queue reads it (round and round, see
    SequenceBatches). xlaflow feeds batches from this process, without worker pools."""
    for name, value in (("max_queue_size", max_queue_size), ("workers", workers)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{call}: {name} must be an int >= 0; received {value!r}")
        if value < 0:
            raise ValueError(f"{call}: {name} must be an int >= 0; received {value!r}")
    if not isinstance(use_multiprocessing, (bool, np.bool_)):
        raise TypeError(f"{call}: use_multiprocessing must be a bool; received "
                         f"{use_multiprocessing!r}")
    return workers > 1 or (workers > 0 and bool(use_multiprocessing))


def _check_even_batches(strategy, *sources):
    """Under a strategy every array batch, the last one included, must split evenly over
    the replicas: checked before the first step changes anything."""
    if strategy is None:
        return
    replicas = strategy.batch_divisor  # with several processes: this process's share
    for data in sources:
        if isinstance(data, data_lib.ArrayBatches):
            sizes = {data.batch_size, data.size % data.batch_size or data.batch_size}
            if any(size % replicas for size in sizes):
                raise ValueError(
                    f"batches of {sorted(sizes)} examples cannot be split evenly over "
                    f"{replicas} replicas; use a batch size and a number of examples that "
                    f"are multiples of {replicas}")


def fit(model, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
        validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
        sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
        validation_batch_size=None, validation_freq=1, max_queue_size=10, workers=1,
        use_multiprocessing=False):
    cycle = _check_feeding("fit", max_queue_size, workers, use_multiprocessing)
    trainer = model._require_compiled("fit")
    if not (isinstance(validation_freq, int) and validation_freq >= 1 or isinstance(
            validation_freq, (list, tuple, set, range)) and all(
            isinstance(e, int) for e in validation_freq)):
        raise ValueError(f"validation_freq must be a positive int or a list of epochs "
                         f"(1-based); received {validation_freq!r}")
    given_weight = None
    if class_weight is not None and y is None and data_lib.is_dataset(x):
        x, class_weight = _class_weighted_dataset(x, class_weight), None  # per batch
    if class_weight is not None:
        if isinstance(y, dict) or isinstance(y, (list, tuple)) and y and all(
                np.ndim(part) > 0 for part in y):  # one label array per output
            raise ValueError("class_weight is only supported for models with a single "
                             "output (as in Keras 2); for several outputs, pass "
                             "sample_weight as a dict or list with one array per output")
        given_weight = None if sample_weight is None else np.asarray(sample_weight,
                                                                     np.float32)
        sample_weight = _class_sample_weight(y, given_weight, class_weight)
    data = data_lib.adapt(x, y, sample_weight, batch_size, shuffle, steps_per_epoch,
                          cycle=cycle)
    val = None
    if validation_split:
        if not isinstance(data, data_lib.ArrayBatches):
            raise ValueError("validation_split needs array inputs; pass validation_data= "
                             "for iterables of batches")
        # Keras weighs classes in training only: validation keeps the caller's weights
        # (ones when none were given).
        plain = None if class_weight is None else (
            np.ones(data.size, np.float32) if given_weight is None else given_weight)
        data, val = data.split(validation_split, plain, validation_batch_size)
    elif validation_data is not None:
        validation_data = data_lib.as_keras_tuple(validation_data)
        parts = validation_data if isinstance(validation_data, tuple) else (validation_data,)
        val = data_lib.adapt(*parts, batch_size=validation_batch_size or batch_size,
                             steps=validation_steps, resume=False, cycle=cycle)
    if getattr(data, "ragged", False):
        from xlaflow.models.ragged_fed import refuse_ragged_outputs  # models import us
        refuse_ragged_outputs(model, "fit")
    _cut_arrays(data, steps_per_epoch, initial_epoch, epochs)
    _cut_arrays(val, validation_steps)
    _check_even_batches(trainer.strategy, data, val)
    on_device = device_arrays.applies(trainer, data, val)  # checks the flag's value too
    if trainer.strategy is not None and isinstance(data, data_lib.DatasetBatches):
        data.place = trainer.strategy.distribute_batch
    first = data.first_batch()
    model._prepare(first[0])
    trainer.check_labels(getattr(data, "y", None))
    if val is not None and isinstance(val, data_lib.ArrayBatches):
        model._check_inputs(val.first_batch()[0])
        trainer.check_labels(val.y)
    if on_device:  # after the checks above: bad input fails before the transfer
        data = device_arrays.DeviceArrays(data, trainer)
        val = None if val is None else device_arrays.DeviceArrays(val, trainer)

    history = callbacks_lib.History()
    verbose = _verbosity(verbose)
    steps = steps_per_epoch or data.epoch_steps
    cbs = callbacks_lib.CallbackList([*callbacks_lib.as_list(callbacks), history], model,
                                     {"epochs": epochs, "steps": steps, "verbose": verbose,
                                      "do_validation": val is not None})
    model.stop_training = False
    model.history = history
    # The host batches own the shuffle's seed (BackupAndRestore may set it).
    state = model._fit_state = FitState(initial_epoch, data.data if on_device else data)
    try:
        cbs.on_train_begin()
        last_logs = _epochs(model, trainer, data, val, epochs, steps, steps_per_epoch,
                            validation_freq, verbose, cbs, state)
    finally:
        model._fit_state = None
        data.close()  # a continuing pass (steps_per_epoch) keeps a prefetch thread
        if val is not None:
            val.close()
    cbs.on_train_end(last_logs)  # the last epoch's logs, as Keras
    return history


def _cut_arrays(data, steps, first_epoch=0, epochs=1):
    """Arrays read with a `steps` count: as Keras 2, epochs of `steps` batches cut from one
    stream of `epochs - first_epoch` passes (evaluate and predict: one pass)."""
    if steps is not None and isinstance(data, data_lib.ArrayBatches):
        data.stream(steps, first_epoch, epochs)


def _train_epoch(model, cbs, batches, step, raw, spe, step_fn, block_fn, batch_begin,
                 batch_end, verbose, bar, trainer, state, steps):
    """The per-step loop of one epoch, `steps` batches at most (None: until the input
    ends); returns (steps done, the last step's results)."""
    batches = iter(batches)
    while not (steps and step >= steps):
        if batch_begin:  # before the read, as Keras 2: input found ended follows a begin
            cbs.on_train_batch_begin(step)
        item = next(batches, None)
        if item is None:
            break
        is_block, batch = item
        raw = (block_fn if is_block else step_fn)(*batch)
        step += spe if is_block else 1
        state.step = step
        if batch_end:
            cbs.on_train_batch_end(step - 1, trainer.named(raw))
        if verbose == 1:
            bar.update(step, raw, names=trainer.named)
        if model.stop_training:
            break
    return step, raw


def _epochs(model, trainer, data, val, epochs, steps, steps_per_epoch, validation_freq,
            verbose, cbs, state):
    spe = trainer.steps_per_execution if trainer.block_strategy == "scan" and not \
        trainer.custom_train_step else 1
    # Decided once: the per-step loop below runs thousands of times per epoch.
    batch_begin = cbs.wants("on_train_batch_begin")
    batch_end = cbs.wants("on_train_batch_end")
    step_fn, block_fn = trainer.raw_train_step, trainer.raw_train_block
    if isinstance(data, device_arrays.DeviceArrays):  # batches are (step, its arguments)
        step_fn = block_fn = device_arrays.run
    resumed = state.step  # batches of the first epoch already trained (a restored backup)
    # Keras 2 counts the batches asked for from the epoch it starts at (after a restore).
    first_epoch = state.epoch
    epoch_logs = None
    for epoch in range(state.epoch, epochs):
        state.epoch, state.step = epoch, resumed
        if not resumed:  # a resumed epoch keeps its restored metric accumulators
            model.reset_metrics()
        cbs.on_epoch_begin(epoch)
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}")
        bar = Progbar(steps, verbose)
        step, raw = resumed, None
        if steps and resumed >= steps:
            batches = ()  # interrupted after its last batch: only the epoch's end is left
        elif spe > 1:
            batches = data.blocks(epoch, spe, steps_per_epoch, resumed)
        else:
            batches = ((False, b) for b in data.epoch(epoch, resumed))
        resumed = 0
        # Array batches are sliced on this thread: measured on 2 cores, a prefetch thread
        # for them costs more (GIL, wake-ups) than the slicing it hides (fit MLP 112k ->
        # 90k samples/s). Datasets get one where it pays: xf.config device_prefetch.
        step, raw = _train_epoch(model, cbs, batches, step, raw, spe, step_fn, block_fn,
                                 batch_begin, batch_end, verbose, bar, trainer, state, steps)
        # As Keras 2: input that ends before the epoch's steps stops the fit after this
        # epoch, which still ends (validation, on_epoch_end, History) with what it ran.
        short = not model.stop_training and ran_out.fell_short(step, steps)
        if short:
            ran_out.warn((epochs - first_epoch) * steps)
        if step == 0 and epoch_logs is None:
            raise ValueError("fit received no batches: the input produced none in the "
                             "first epoch")
        if steps is None:
            steps = step  # unknown length: the first pass sets it (Keras' inferred steps)
        # A resumed epoch with no batch left, or an epoch whose input had run out before
        # it began, reports the metrics as they stand (Keras 2's reset metrics: zeros).
        logs = trainer.named(raw) if raw is not None else {
            m.name: m.result() for m in model.metrics}
        epoch_logs = host_logs(logs)
        if val is not None and _validates(epoch, validation_freq):
            val_logs = _evaluate_batches(model, val, 0, cbs)  # on_test_* hooks, as Keras
            end_epoch(val)
            epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
        bar.update(step, epoch_logs, final=True)
        cbs.on_epoch_end(epoch, epoch_logs)
        end_epoch(data)
        if model.stop_training or short:
            break
    return epoch_logs


def _validates(epoch, freq):
    """Keras' validation_freq: every `freq` epochs, or the (1-based) epochs listed."""
    if isinstance(freq, int):
        return (epoch + 1) % freq == 0
    return epoch + 1 in freq


def _class_weighted_dataset(dataset, class_weight):
    """Keras 2 weighs a dataset's (x, y[, sample_weight]) batches by their labels' classes:
    each batch gains (or has multiplied) per-example weights, on the host."""
    def weigh(*batch):
        if len(batch) not in (2, 3):
            raise ValueError(f"class_weight needs dataset elements (x, y) or (x, y, "
                             f"sample_weight); received {len(batch)} components")
        x, y = batch[0], batch[1]
        if isinstance(y, (dict, list, tuple)):
            raise TypeError("class_weight is only supported for models with a single "
                            "output (as in Keras 2): y must be one array")
        given = None if len(batch) == 2 else np.asarray(batch[2], np.float32)
        return x, y, _class_sample_weight(np.asarray(y), given, class_weight)
    return dataset.map(weigh)


def _class_sample_weight(y, sample_weight, class_weight):
    """Per-example weights from a `{class: weight}` map (labels, or one-hot rows)."""
    if not isinstance(y, np.ndarray) and not isinstance(y, jax.Array):
        raise NotImplementedError("class_weight needs y as an array; for iterables of "
                                  "batches, put per-example weights in the batches")
    labels = np.asarray(y)
    labels = labels.argmax(-1) if labels.ndim > 1 and labels.shape[-1] > 1 else \
        labels.reshape(len(labels))
    missing = sorted(set(np.unique(labels).tolist()) - set(class_weight))
    if missing:
        raise ValueError(f"class_weight has no weight for classes {missing}")
    weights = np.asarray([class_weight[int(c)] for c in labels], np.float32)
    if sample_weight is None:
        return weights
    given = sample_weight  # float32 already (fit converted it)
    while given.ndim > 1 and given.shape[-1] == 1:  # an (n, 1) column: one per example
        given = given[..., 0]
    return weights * given


def _evaluate_batches(model, data, verbose, callbacks):
    trainer = model.trainer
    model.reset_metrics()
    cbs = callbacks if isinstance(callbacks, callbacks_lib.CallbackList) else \
        callbacks_lib.CallbackList(callbacks, model, {"steps": data.epoch_steps})
    cbs.on_test_begin()
    bar = Progbar(data.epoch_steps, verbose)
    done, logs = 0, None
    on_device = isinstance(data, device_arrays.DeviceArrays)
    begin = cbs.on_test_batch_begin if cbs.wants("on_test_batch_begin") else None
    for step, batch in ran_out.announced(
            data.test_steps() if on_device else data.epoch(), data.epoch_steps, begin):
        logs = trainer.named(device_arrays.run(*batch)) if on_device else \
            trainer.test_step(*batch)
        done = step + 1
        if cbs.wants("on_test_batch_end"):
            cbs.on_test_batch_end(step, logs)
        bar.update(done, logs)
    if ran_out.fell_short(done, data.epoch_steps):
        ran_out.warn(data.epoch_steps)  # as Keras 2: evaluate what was read
    if logs is None:
        raise ValueError("evaluate received no batches")
    result = host_logs(logs)
    bar.update(done, result, final=True)
    cbs.on_test_end(result)
    return result


def evaluate(model, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
             steps=None, callbacks=None, max_queue_size=10, workers=1,
             use_multiprocessing=False, return_dict=False):
    cycle = _check_feeding("evaluate", max_queue_size, workers, use_multiprocessing)
    trainer = model._require_compiled("evaluate")
    data = data_lib.adapt(x, y, sample_weight, batch_size, False, steps, cycle=cycle)
    if getattr(data, "ragged", False):
        from xlaflow.models.ragged_fed import refuse_ragged_outputs
        refuse_ragged_outputs(model, "evaluate")
    _cut_arrays(data, steps)
    _check_even_batches(trainer.strategy, data)
    try:
        on_device = device_arrays.applies(trainer, data)
        model._prepare(data.first_batch()[0])
        trainer.check_labels(getattr(data, "y", None))
        result = _evaluate_batches(
            model, device_arrays.DeviceArrays(data, trainer) if on_device else data,
            _verbosity(verbose), callbacks)
        end_epoch(data)
    finally:
        data.close()
    if return_dict:
        return result
    values = list(result.values())
    return values[0] if len(values) == 1 else values


def predict(model, x, batch_size=None, verbose="auto", steps=None, callbacks=None,
            max_queue_size=10, workers=1, use_multiprocessing=False):
    cycle = _check_feeding("predict", max_queue_size, workers, use_multiprocessing)
    data = data_lib.adapt(x, None, None, batch_size, False, steps, cycle=cycle)
    _cut_arrays(data, steps)
    _check_even_batches(model.trainer.strategy if model.trainer is not None
                        else model._distribute_strategy, data)
    try:
        model._prepare(data.first_batch()[0])
        step_fn = model._predict_function()
        cbs = callbacks_lib.CallbackList(callbacks, model, {"steps": data.epoch_steps})
        cbs.on_predict_begin()
        outputs = []
        bar = Progbar(data.epoch_steps, _verbosity(verbose))  # as Keras 2's, no metrics
        begin = cbs.on_predict_batch_begin if cbs.wants("on_predict_batch_begin") else None
        for step, (xb, _, _) in ran_out.announced(data.epoch(), data.epoch_steps, begin):
            out = step_fn(xb)
            outputs.append(out)
            if cbs.wants("on_predict_batch_end"):
                cbs.on_predict_batch_end(step, {"outputs": out})
            bar.update(step + 1, {})
        if ran_out.fell_short(len(outputs), data.epoch_steps):
            ran_out.warn(data.epoch_steps)  # as Keras 2: the predictions made
        if outputs:
            bar.update(len(outputs), {}, final=True)
        cbs.on_predict_end()
        end_epoch(data)
    finally:
        data.close()
    if not outputs:
        raise ValueError("predict received no batches")
    joined = ragged_batches.concatenate(outputs)  # outputs that keep ragged rows
    if joined is not None:
        return joined
    return jax.tree_util.tree_map(lambda *parts: np.concatenate([np.asarray(p) for p in parts]),
                                  *outputs)
