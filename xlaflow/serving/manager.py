"""The manager: loads and unloads model versions as the policy asks, without ever dropping
the last serving version, and hands out ref-counted handles to AVAILABLE versions.

TF Serving's availability-preserving rule, one action per step: unload the lowest
ready-but-unaspired version when some aspired version is ready (or none is aspired, or
several unaspired ones are ready); otherwise load the highest aspired version not loaded.
A version being unloaded first stops taking new requests (UNLOADING); the last of its
in-flight requests to finish completes the unload, so the manager never waits; a failed load is retried, then ends in END with its error, and never
replaces the version that is serving.
"""

from __future__ import annotations

import logging
import threading
import time

from xlaflow.serving.errors import ServingError

log = logging.getLogger("xlaflow.serving")


class _Version:
    __slots__ = ("version", "path", "state", "error_code", "error_message", "servable",
                 "refs", "attempts", "next_try", "aspired", "unload_of")

    def __init__(self, version, path):
        self.version, self.path = version, path
        self.state, self.error_code, self.error_message = "START", "OK", ""
        self.servable, self.refs, self.attempts, self.next_try = None, 0, 0, 0.0
        self.aspired = True
        self.unload_of = None  # the model, while an unload waits for in-flight requests


class _Model:
    def __init__(self, name, labels):
        self.name, self.labels, self.versions = name, dict(labels or {}), {}


class Handle:
    """`with manager.acquire(...) as servable:` keeps that version loaded until exit."""

    __slots__ = ("_manager", "_version")

    def __init__(self, manager, version):
        self._manager, self._version = manager, version

    def __enter__(self):
        return self._version.servable

    def __exit__(self, *exc):
        self._manager._release(self._version)


class Manager:
    """All models' versions. `set_aspired` comes from the source; `step` acts once."""

    def __init__(self, load, *, max_load_retries=5, retry_interval_s=60.0,
                 transition="availability", metrics=None):
        if transition not in ("availability", "resource"):
            raise ValueError(f"transition must be 'availability' or 'resource'; received "
                             f"{transition!r}")
        self._load = load
        self._retries, self._retry_interval = int(max_load_retries), float(retry_interval_s)
        self._transition = transition
        self._metrics = metrics
        self._models = {}
        self._configured = frozenset()  # names still in the config: kept when empty
        self._lock = threading.RLock()

    # -- configuration and aspired versions -----------------------------------------------
    def add_model(self, name):
        """Track `name` (labels are set by set_labels, which keeps the old ones when it
        refuses a new set)."""
        with self._lock:
            self._models.setdefault(name, _Model(name, None))

    def remove_model(self, name):
        """Unaspire every version; the model disappears once they are unloaded."""
        self.set_aspired(name, {})

    def set_labels(self, name, labels, allow_unavailable=False):
        """Point labels at versions; a moved or new label must name an AVAILABLE version
        unless `allow_unavailable` (then only new labels may point ahead, as TF)."""
        with self._lock:
            model = self._models[name]
            for label, version in labels.items():
                if model.labels.get(label) == version:
                    continue
                ready = version in model.versions and \
                    model.versions[version].state == "AVAILABLE"
                if not ready and not (allow_unavailable and label not in model.labels):
                    raise ServingError("FAILED_PRECONDITION", (
                        f"model {name!r}: label {label!r} cannot point at version {version}, "
                        "which is not AVAILABLE yet"))
            model.labels = dict(labels)

    def aspired_versions(self, name):
        """The versions the policy currently wants loaded for model `name`."""
        with self._lock:
            return {v.version for v in self._models[name].versions.values() if v.aspired}

    def set_aspired(self, name, aspired):
        """The full set of versions ({version: path}) the policy wants now."""
        with self._lock:
            model = self._models.get(name)
            if model is None:
                return
            for number, version in model.versions.items():
                wanted = number in aspired
                if wanted and not version.aspired and version.state == "END":
                    # left the aspired set and came back: a fresh start, as TF
                    model.versions[number] = _Version(number, aspired[number])
                    continue
                if not wanted and version.state == "START":
                    # never loaded (a retry was pending) and no longer wanted: its load is
                    # cancelled, so that coming back later starts afresh
                    version.state = "END"
                version.aspired = wanted
            for number, path in aspired.items():
                model.versions.setdefault(number, _Version(number, path))

    # -- the state machine ------------------------------------------------------------------
    def step(self):
        """Take one load or unload action; False when there is nothing to do now."""
        for name in list(self._models):
            action = self._next_action(name)
            if action is not None:
                action()
                return True
        return False

    def _next_action(self, name):
        with self._lock:
            model = self._models[name]
            versions = model.versions.values()
            ready = [v for v in versions if v.state == "AVAILABLE"]
            unaspired_ready = sorted((v for v in ready if not v.aspired),
                                     key=lambda v: v.version)
            aspired = [v for v in versions if v.aspired]
            aspired_ready = [v for v in ready if v.aspired]
            if unaspired_ready and (self._transition == "resource" or not aspired or
                                    aspired_ready or len(unaspired_ready) > 1):
                victim = unaspired_ready[0]
                victim.state = "UNLOADING"  # no new handles from here on
                return lambda: self._unload(model, victim)
            now = time.monotonic()
            todo = sorted((v for v in aspired if v.state == "START" and v.next_try <= now),
                          key=lambda v: -v.version)
            # Resource-preserving: nothing loads while an old version still holds memory,
            # one unloading after its in-flight requests included (peak: one version).
            if self._transition == "resource" and any(
                    v.state == "UNLOADING" or (v.state == "AVAILABLE" and not v.aspired)
                    for v in versions):
                return None
            if todo:
                todo[0].state = "LOADING"
                return lambda: self._load_version(model, todo[0])
            if not aspired and not any(v.state in ("LOADING", "UNLOADING", "AVAILABLE")
                                       for v in versions) and name not in self._configured:
                del self._models[name]
        return None

    def keep_models(self, names):
        self._configured = frozenset(names)

    def _load_version(self, model, version):
        start = time.perf_counter()
        try:
            servable = self._load(model.name, version.version, version.path)
        except Exception as exc:  # noqa: BLE001 - a bad version must never take the server down
            code = _error_code(exc)
            with self._lock:
                version.attempts += 1
                final = version.attempts > self._retries
                version.state = "END" if final else "START"
                version.next_try = time.monotonic() + self._retry_interval
                if final:
                    version.error_code = code
                    version.error_message = f"{type(exc).__name__}: {exc}"
            log.error("model %s version %d failed to load (attempt %d): %s", model.name,
                      version.version, version.attempts, exc)
            return
        with self._lock:
            version.servable = servable
            version.state = "AVAILABLE" if version.aspired else "UNLOADING"
        if self._metrics is not None:
            self._metrics.model_warmup_latency.labels(model_name=model.name).observe(
                servable.warmup_seconds * 1e6)
            self._metrics.compile_latency.labels(model_name=model.name).observe(
                (time.perf_counter() - start) * 1e6)
        self._count_loaded(model)
        log.info("model %s version %d is AVAILABLE (%.2fs)", model.name, version.version,
                 time.perf_counter() - start)
        if version.state == "UNLOADING":
            self._unload(model, version)

    def _unload(self, model, version):
        """Unload now, or, while requests are still in flight on the version (they finish
        on the version they started on), let the last one's release do it: the manager
        thread goes on polling and loading other versions meanwhile."""
        with self._lock:
            if version.refs:
                version.unload_of = model
                return
            self._end_locked(model, version)
        self._unloaded(model, version)

    @staticmethod
    def _end_locked(model, version):
        version.servable, version.state = None, "END"
        if version.aspired and model.versions.get(version.version) is version:
            # wanted again while it was unloading (a config put it back): load it afresh
            model.versions[version.version] = _Version(version.version, version.path)

    def _unloaded(self, model, version):
        self._count_loaded(model)
        log.info("model %s version %d unloaded", model.name, version.version)

    def _count_loaded(self, model):
        if self._metrics is not None:
            with self._lock:
                count = sum(v.state == "AVAILABLE" for v in model.versions.values())
            self._metrics.loaded_versions.labels(model_name=model.name).set(count)

    # -- requests -----------------------------------------------------------------------
    def acquire(self, name, version=None, label=None):
        """A Handle on the version asked for (a number, a label, or the latest AVAILABLE)."""
        with self._lock:
            model = self._models.get(name)
            if label is not None:
                if model is None or label not in model.labels:
                    raise ServingError("INVALID_ARGUMENT",
                                       f"Unrecognized servable version label: {label}")
                version = model.labels[label]
            if version is not None:
                found = model.versions.get(int(version)) if model is not None else None
                if found is None or found.state != "AVAILABLE":
                    raise ServingError("NOT_FOUND", "Servable not found for request: "
                                       f"Specific({name}, {version})")
            else:
                ready = [v for v in (model.versions.values() if model else ())
                         if v.state == "AVAILABLE"]
                if not ready:
                    raise ServingError("NOT_FOUND",
                                       f"Servable not found for request: Latest({name})")
                found = max(ready, key=lambda v: v.version)
            found.refs += 1
            return Handle(self, found)

    def _release(self, version):
        model = None
        with self._lock:
            version.refs -= 1
            if not version.refs:
                model, version.unload_of = version.unload_of, None
                if model is not None:
                    self._end_locked(model, version)
        if model is not None:
            self._unloaded(model, version)

    def status(self, name, version=None, label=None):
        """[(version, state, error_code, error_message)], newest first (TF's GetModelStatus)."""
        # TF's order: a version or label asked for is looked up first, so an unknown model
        # with a version is "Could not find version V of model M" and with a label an
        # unrecognized label; only without either is it "any versions".
        with self._lock:
            model = self._models.get(name)
            versions = model.versions if model is not None else {}
            if label is not None:
                if model is None or label not in model.labels:
                    raise ServingError("INVALID_ARGUMENT",
                                       f"Unrecognized servable version label: {label}")
                version = model.labels[label]
            if version is not None:
                found = versions.get(int(version))
                if found is None:
                    raise ServingError("NOT_FOUND",
                                       f"Could not find version {version} of model {name}")
                chosen = [found]
            elif versions:
                chosen = sorted(versions.values(), key=lambda v: -v.version)
            else:
                raise ServingError("NOT_FOUND", f"Could not find any versions of model {name}")
            return [(v.version, v.state, v.error_code, v.error_message) for v in chosen]

    def servables(self):
        """[(model name, servable)] of every AVAILABLE version."""
        with self._lock:
            return [(m.name, v.servable) for m in self._models.values()
                    for v in m.versions.values() if v.state == "AVAILABLE"]

    def models(self):
        with self._lock:
            return list(self._models)

    def is_ready(self, name, version=None):
        with self._lock:
            model = self._models.get(name)
            if model is None:
                return False
            states = [v.state for n, v in model.versions.items()
                      if version is None or n == int(version)]
            return "AVAILABLE" in states

    def busy(self):
        """True while some version is loading or waiting to load."""
        with self._lock:
            return any(v.state in ("LOADING", "UNLOADING") or (v.state == "START" and
                                                               v.aspired)
                       for m in self._models.values() for v in m.versions.values())


def _error_code(exc):
    """The canonical code a load failure shows in the model status."""
    from xlaflow.saving.atomic import CorruptSaveError
    if isinstance(exc, ServingError):
        return exc.code
    if isinstance(exc, CorruptSaveError):
        return "DATA_LOSS"
    if isinstance(exc, FileNotFoundError):
        return "NOT_FOUND"
    if isinstance(exc, ValueError):
        return "INVALID_ARGUMENT"
    return "UNKNOWN"
