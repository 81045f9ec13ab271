"""What each object tracked by a Checkpoint saves and what a restore expects of it: its
Variables, and for a compiled Keras model its optimizer too (TF's model -> optimizer edge).

Keys within an object's node are stable across processes and freshly built copies:
  `0003_kernel`                 the object's own Variables, by position and short name;
  `optimizer/0000_iterations`   the Variables of a model's optimizer, in `optimizer.variables`
                                order (iterations, learning rate, then the state, which a
                                restore sizes before the optimizer has built it);
  `<i>-...` / `<key>-...`       the same inside a tracked list or dict.
A node's `optimizer/` group is optional on both sides, as TF's deferred matching: a
checkpoint without it (older ones, or one of an uncompiled model) leaves the optimizer as it
is, and one restored into a model without an optimizer leaves those values unused; the
restore status says which (assert_consumed / assert_existing_objects_matched).
"""

from __future__ import annotations

import copy

import jax
import numpy as np

from xlaflow.optimizers import Optimizer
from xlaflow.saving.weights import position_key
from xlaflow.variables import Variable

OPTIMIZER = "optimizer/"  # the key prefix of a model's optimizer within the model's node
SLOT_OF = "slot_of"  # a slot's manifest mark: the Variable it belongs to (pair_slots)


def _is_optimizer(obj):
    # Duck-typed: a LossScaleOptimizer wraps an Optimizer without subclassing it.
    return isinstance(obj, Optimizer) or (hasattr(obj, "apply_gradients")
                                          and hasattr(obj, "iterations"))


def model_optimizer(obj):
    """The optimizer `obj` (a compiled Keras model) trains with, when the model's node must
    carry it: not for optimizers themselves, nor when its Variables are already `obj`'s."""
    if _is_optimizer(obj) or not hasattr(obj, "trainable_variables"):
        return None
    opt = getattr(obj, "optimizer", None)
    if opt is None or not _is_optimizer(opt):
        return None
    own = {id(v) for v in obj.variables}
    return None if any(id(v) in own for v in opt.variables) else opt


def _walk(obj, prefix=""):
    """(prefix, leaf) for every Variable or Module in `obj` (lists and dicts opened)."""
    if isinstance(obj, (list, tuple, dict)):
        for sub, item in (obj.items() if isinstance(obj, dict) else enumerate(obj)):
            yield from _walk(item, f"{prefix}{sub}-")
    else:
        yield prefix, obj


def _own(prefix, leaf):
    if isinstance(leaf, Variable):
        return {prefix + "value": leaf}
    return {prefix + position_key(i, v.name): v for i, v in enumerate(leaf.variables)}


def saved_variables(obj):
    """{key: Variable} that saving `obj` writes: its own and its model's optimizer's."""
    found = {}
    for prefix, leaf in _walk(obj):
        found.update(_own(prefix, leaf))
        opt = model_optimizer(leaf)
        if opt is not None:
            found.update(_own(prefix + OPTIMIZER, opt))
    return found


class Slot:
    """One array to restore: what it must look like, and how to assign it. For an
    optimizer slot, `owner` is (the Variable it is a slot of, the slot's name), and
    `source` the stored key it is read from when pair_slots moves it (else its own)."""

    def __init__(self, shape, dtype, assign, label, owner=None):
        self.shape, self.dtype, self.assign, self.label = tuple(shape), np.dtype(dtype), \
            assign, label
        self.owner, self.source = owner, None


def _slots_of(variables, owners=None):
    owners = owners or {}
    return {k: Slot(v.shape, v.dtype, v.assign, v.name, owners.get(id(v)))
            for k, v in variables.items()}


def _optimizer_owners(opt):
    """`opt.slot_owners()` (a LossScaleOptimizer's are its inner optimizer's)."""
    inner = getattr(opt, "inner_optimizer", None)
    if inner is not None:
        return _optimizer_owners(inner)
    owners = getattr(opt, "slot_owners", None)
    return owners() if owners is not None else {}


def slot_owners(obj):
    """{id(slot Variable): (its Variable, slot name)} of every optimizer saving `obj`
    writes: itself, those inside it, and a compiled model's."""
    found = {}
    for _, leaf in _walk(obj):
        for opt in (leaf if _is_optimizer(leaf) else None, model_optimizer(leaf)):
            if opt is not None:
                found.update(_optimizer_owners(opt))
    return found


def locations(objects):
    """{id(Variable): [object name, key]}: where saving `objects` ({name: object}) puts
    each Variable first; the same for a freshly built copy of the same objects."""
    found = {}
    for name, obj in objects.items():
        if isinstance(obj, (list, tuple, dict, Variable)) or hasattr(obj, "variables"):
            for key, var in saved_variables(obj).items():
                found.setdefault(id(var), [name, key])
    return found


def slot_of(var, owners, where):
    """The `slot_of` mark of a saved slot Variable: {"variable": [object, key] of the
    Variable it belongs to, "slot": its name}; None when that Variable is not saved."""
    owner = owners.get(id(var))
    place = None if owner is None else where.get(id(owner[0]))
    return None if place is None else {"variable": place, "slot": owner[1]}


def pair_slots(slots, entries, where):
    """Point each optimizer Slot at the stored entry marked as the same slot of the same
    Variable (`where`: this side's locations): a slot then comes back to its own variable
    even when the two optimizers were built for their variables in different orders (run
    before the keys are checked: the entry read is `source`, under whatever key). All
    or nothing: an entry without marks (a checkpoint from before they were written), or a
    Variable the checkpoint does not locate, keeps every slot at its own key, by position."""
    marked = {}
    for key, entry in entries.items():
        mark = entry.get(SLOT_OF)
        try:
            marked[(tuple(mark["variable"]), mark["slot"])] = key
        except (TypeError, KeyError):
            continue
    paired = {k: s for k, s in slots.items() if s.owner is not None}
    sources = {}
    for key, slot in paired.items():
        place = where.get(id(slot.owner[0]))
        source = None if place is None else marked.get((tuple(place), slot.owner[1]))
        if source is None:
            return
        sources[key] = source
    # each stored entry read once: by one paired slot, and not by an unpaired one (whose
    # key is its own); the keys may differ (a Keras 2.11-form slot's name carries its
    # variable's, which a freshly built model renames)
    taken = set(sources.values())
    if len(taken) != len(sources) or taken & (set(slots) - set(paired)):
        return
    for key, source in sources.items():
        paired[key].source = source


def recorded_owner(entries, models, where):
    """The one model of `models` whose trainable variables are exactly those that the slot
    marks in `entries` (an optimizer's stored ones) name, located by `where` (this side's
    locations); None when the marks cannot tell (none written, or no such single model)."""
    named = set()
    for entry in entries.values():
        mark = entry.get(SLOT_OF)
        if isinstance(mark, dict) and isinstance(mark.get("variable"), list):
            named.add(tuple(mark["variable"]))
    if not named:
        return None
    found = [m for m in models if {tuple(where.get(id(v), ())) for v in
                                   m.trainable_variables} == named]
    return found[0] if len(found) == 1 else None


class Expected:
    """What restoring one tracked object needs: `slots` ({key: Slot}, each one required),
    `optional` (key prefixes whose stored values are unused when nothing here takes them),
    `unbound` ([(label, optimizer)] of groups the checkpoint has no values for) and `bound`
    (the optimizers it gives values; one bound elsewhere in the Checkpoint is not unbound)."""

    def __init__(self):
        self.slots, self.optional, self.unbound, self.bound = {}, [], [], []


def expected(name, obj, stored, owner_of, where=None):
    """The Expected of object `name` given `stored` (its {key: entry} in the checkpoint).
    `owner_of(opt, entries)` names the model a top-level optimizer without state yet
    trains (`entries`: the optimizer's stored ones, keyed as its own); `where` (this side's
    locations) finds the Variables the stored slot marks name."""
    want = Expected()
    for prefix, leaf in _walk(obj):
        own = _slots_of(_own(prefix, leaf),
                        _optimizer_owners(leaf) if _is_optimizer(leaf) else None)
        if getattr(leaf, "_state", 0) is None and _is_optimizer(leaf):
            keys = {k for k in stored if k.startswith(prefix) and OPTIMIZER not in
                    k[len(prefix):]}
            if keys - set(own):
                entries = {k[len(prefix):]: stored[k] for k in keys}
                model = owner_of(leaf, entries)
                own.update(unbuilt_slots(leaf, model, prefix, len(own),
                                         _marked_weights(model, entries, where)))
        if _is_optimizer(leaf):
            want.bound.append(leaf)
        want.slots.update(own)
        if _is_optimizer(leaf) or not hasattr(leaf, "trainable_variables"):
            continue
        group = prefix + OPTIMIZER
        want.optional.append(group)
        opt = model_optimizer(leaf)
        if opt is None:
            continue
        saved = {k for k in stored if k.startswith(group)}
        if not saved:  # saved without an optimizer (or before models carried it)
            want.unbound.append((f"{name}.{group.rstrip('/')}", opt))
            continue
        want.bound.append(opt)
        slots = _slots_of(_own(group, opt), _optimizer_owners(opt))
        if getattr(opt, "_state", 0) is None and saved - set(slots):
            slots.update(unbuilt_slots(opt, leaf, group, len(slots), _marked_weights(
                leaf, {k: stored[k] for k in saved}, where)))
        want.slots.update(slots)
    return want


def match_object(name, want, stored):
    """(problems, unused values) of restoring object `name`'s Expected `want` (its slots
    paired) from `stored`, its {key: entry}: each missing, unexpected or mismatched value."""
    have = set(stored)
    reads = {slot.source or key for key, slot in want.slots.items()}
    # A model's optimizer values with no optimizer here to take them: left unused, as TF
    # leaves a checkpoint's values for objects the program lacks.
    idle = [g for g in want.optional if not any(k.startswith(g) for k in reads)]
    spare = {k for k in have - reads if any(k.startswith(g) for g in idle)}
    unused = [f"{name}.{k}" for k in spare]
    missing, extra = sorted(reads - have), sorted(have - reads - spare)
    if missing or extra:
        hint = " (it has no variables yet: build it first, e.g. call it on data)" \
            if not want.slots else ""
        return [f"{name}{hint}: the checkpoint lacks {missing} and has unexpected "
                f"{extra}"], unused
    problems = []
    for key, slot in want.slots.items():
        entry = stored[slot.source or key]
        shape, dtype = tuple(entry["shape"]), np.dtype(jax.numpy.dtype(entry["dtype"]))
        if shape != slot.shape or dtype != slot.dtype:
            problems.append(f"{name}.{key} ({slot.label}): the variable is shape "
                            f"{slot.shape} dtype {slot.dtype.name}, the checkpoint holds "
                            f"shape {shape} dtype {dtype.name}")
    return problems, unused


def _future_state(opt, weights):
    """[(shape, dtype, name, owner)] of the state Variables `opt.build(weights)` will make,
    in order; `owner` is (the weight, the slot's name) or None. xlaflow's optimizers say it
    without building (their state's init, evaluated abstractly). A Keras 2.11-form subclass
    makes its slots in its own build, so a shallow copy of it is built: `opt` is untouched
    (a build that changes objects it shares with the optimizer would change them twice)."""
    inner = getattr(opt, "inner_optimizer", opt)
    if getattr(inner, "_keras_form", False):
        trial = copy.copy(inner)
        trial._state = trial._slots = trial._built_for = None
        trial._build_once(weights)
        owners = trial.slot_owners()
        return [(v.shape, v.dtype, v.name, owners.get(id(v))) for v in trial._state]
    with jax.ensure_compile_time_eval():
        leaves = jax.tree_util.tree_leaves(jax.eval_shape(
            opt._transform.init, [w.value for w in weights]))
    owners = _unbuilt_owners(inner, weights, len(leaves))
    return [(leaf.shape, leaf.dtype, f"{opt.name}/state_{j}", owners.get(j))
            for j, leaf in enumerate(leaves)]


def state_fits(opt, model, stored):
    """Whether the optimizer state in `stored` (a top-level optimizer's {key: entry}, its
    state after its own Variables, in key order) has the shapes `opt` builds for `model`."""
    own = set(_own("", opt))
    state = [tuple(stored[k]["shape"]) for k in sorted(stored) if k not in own]
    return state == [tuple(shape) for shape, *_ in
                     _future_state(opt, list(model.trainable_variables))]


def _marked_weights(model, entries, where):
    """`model`'s Variables that the slot marks in `entries` name (in `model.variables`
    order) when they are not its trainable ones: an optimizer built before a layer was
    frozen (fine-tuning with the same one) holds slots of untrainable Variables. None
    without marks, when they name its trainable Variables, or one `model` lacks."""
    if not where:
        return None
    by_place = {tuple(where[id(v)]): v for v in model.variables if id(v) in where}
    named = set()
    for entry in entries.values():
        mark = entry.get(SLOT_OF)
        if not isinstance(mark, dict) or not isinstance(mark.get("variable"), list):
            continue
        variable = by_place.get(tuple(mark["variable"]))
        if variable is None:
            return None
        named.add(id(variable))
    if not named or named == {id(v) for v in model.trainable_variables}:
        return None
    return [v for v in model.variables if id(v) in named]


def unbuilt_slots(opt, model, prefix, offset, weights=None):
    """{key: Slot} of the state `opt` has not built yet, as it will build it for `weights`
    (those its stored marks name), else `model`'s trainable variables (as the first training
    step does); the first assignment builds it, so a restore gives the state exactly the
    values the first step would then continue."""
    weights = list(weights or model.trainable_variables)
    built = []

    def assign_leaf(value, j):
        if not built:  # the first leaf builds the state, as the first apply would
            opt.build(weights)
            built.append(True)
        opt._state[j].assign(value)
    return {prefix + position_key(offset + j, name): Slot(
        shape, dtype, lambda v, j=j: assign_leaf(v, j), name, owner)
        for j, (shape, dtype, name, owner) in enumerate(_future_state(opt, weights))}


def _unbuilt_owners(opt, weights, count):
    """{state index: (Variable, slot name)} that Optimizer.build(weights) will make: the
    shared state, then each slot for every variable in turn (its order)."""
    if not hasattr(opt, "slot_names"):
        return {}
    shared, n = len(opt.global_slots()), len(weights)
    if count != shared + n * len(opt.slot_names):
        return {}
    return {shared + k * n + i: (weight, name) for k, name in enumerate(opt.slot_names)
            for i, weight in enumerate(weights)}


class RestoreStatus:
    """What restore returns (TF's status object). Restore is all-or-nothing per object; what
    can be left over is objects (or a model's optimizer values) in the file that nothing
    here takes, and optimizers here that the file has no values for."""

    def __init__(self, path, untracked=(), unused=(), unbound=(), restored=True, deferred=()):
        self._path, self._untracked = path, sorted(untracked)
        self._unused, self._unbound, self._restored = sorted(unused), sorted(unbound), restored
        self._deferred = list(deferred)  # checkpoint_deferred.Deferred: at a first call

    def _check_restored(self):
        if not self._restored:
            raise AssertionError("nothing was restored: restore() was given None (no "
                                 "checkpoint yet)")

    def assert_consumed(self):
        """Every value in the file was restored and every object here got its values."""
        self.assert_existing_objects_matched()
        waiting = [r.problem() for r in self._deferred if r.state != "applied"]
        if waiting:
            raise AssertionError(f"{self._path} holds values not restored yet: "
                                 + "; ".join(waiting))
        if self._untracked:
            raise AssertionError(f"{self._path} holds objects this Checkpoint does not track: "
                                 f"{self._untracked}")
        unused = sorted(self._unused + [u for r in self._deferred for u in r.unused])
        if unused:
            raise AssertionError(f"{self._path} holds values this Checkpoint did not "
                                 f"restore: {unused} (a model's optimizer values stay "
                                 "unused when the restored model is not compiled)")
        return self

    def assert_existing_objects_matched(self):
        """Every object here got its values (the file may hold more); an object whose values
        wait for its first call (TF's delayed restoration) passes, as in TF."""
        self._check_restored()
        unbound = sorted(self._unbound + [u for r in self._deferred for u in r.unbound])
        if unbound:
            raise AssertionError(f"{self._path} has no values for {unbound}: the "
                                 "checkpoint was saved without the model's optimizer (by an "
                                 "uncompiled model, or before checkpoints carried it), so "
                                 "the optimizer keeps its current state")
        return self

    def expect_partial(self):
        """TF's: silences warnings about unrestored values (xlaflow gives none)."""
        return self
