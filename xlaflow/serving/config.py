"""Typed, validated forms of TF Serving's three config files (model, batching, monitoring).

Files are protobuf text format (see `textproto`); each message's schema is in config_schema.py,
so an unknown or mistyped field is a startup error that names the field and its line.
"""

from __future__ import annotations

import bisect
import dataclasses
import os
from typing import NamedTuple

from . import padding
from .config_schema import ConfigError, _Ctx, _invalid, _TextConfig

__all__ = ["DEFAULT_METRICS_PATH", "BatchingParameters", "ConfigError", "ModelConfig",
           "ModelServerConfig", "MonitoringConfig", "VersionPolicy"]

DEFAULT_METRICS_PATH = "/monitoring/prometheus/metrics"

# -- ModelServerConfig --------------------------------------------------------------------


class VersionPolicy(NamedTuple):
    """Which versions to serve: ("latest", n) | ("all", None) | ("specific", (v, ...))."""

    kind: str = "latest"
    value: object = 1


_LATEST_1 = VersionPolicy("latest", 1)  # TF's default policy


def _model_name_problem(name):
    # Names go into URL paths (`/v1/models/{M}` with M = [^/:]+) and log/metric labels.
    if not name:
        return "must not be empty"
    if name in (".", ".."):
        return f"{name!r} is not a usable model name"
    bad = sorted({c for c in name if c in "/\\:" or c.isspace() or not c.isprintable()})
    if bad:
        return (f"{name!r} contains {''.join(bad)!r}; '/', '\\', ':' and whitespace are "
                "not allowed")
    return None


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One served model: its name, its directory of numeric versions, policy and labels."""

    name: str
    base_path: str
    model_platform: str = ""
    version_policy: VersionPolicy = _LATEST_1
    version_labels: dict = dataclasses.field(default_factory=dict)  # label -> version

    def __post_init__(self):
        problem = _model_name_problem(self.name)
        if problem:
            raise _invalid("name", problem)
        if not self.base_path:
            raise _invalid("base_path", f"is required (model {self.name!r})")
        kind, value = self.version_policy
        if kind == "latest":
            if type(value) is not int or value < 0:
                raise _invalid("model_version_policy", "latest needs num_versions >= 0")
            # TF reads num_versions 0 as 1.
            object.__setattr__(self, "version_policy", VersionPolicy("latest", max(value, 1)))
        elif kind == "specific":
            versions = tuple(sorted(set(value or ())))
            if not versions:
                raise _invalid("model_version_policy", "specific needs at least one version")
            object.__setattr__(self, "version_policy", VersionPolicy("specific", versions))
        elif kind != "all":
            raise _invalid("model_version_policy", f"unknown policy kind {kind!r}")
        for label, version in self.version_labels.items():
            if not label:
                raise _invalid("version_labels", "a label must not be empty")
            if type(version) is not int:
                raise _invalid("version_labels", f"label {label!r} must map to an integer")


@dataclasses.dataclass(frozen=True)
class ModelServerConfig(_TextConfig):
    """The whole `--model_config_file` (or the one-model config the flags make)."""

    models: tuple = ()
    source: str = dataclasses.field(default="<string>", compare=False)

    def __post_init__(self):
        object.__setattr__(self, "models", tuple(self.models))
        names = [m.name for m in self.models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"name: model name {dupes[0]!r} is used more than once",
                              field="name")

    def model(self, name):
        """The `ModelConfig` named `name`, or None."""
        return next((m for m in self.models if m.name == name), None)

    @classmethod
    def from_flags(cls, model_name="default", model_base_path=None):
        """The one-model config `--model_name`/`--model_base_path` make (latest-1 policy)."""
        if not model_base_path:
            raise ConfigError("--model_base_path is required when there is no "
                              "--model_config_file")
        try:
            model = ModelConfig(model_name, model_base_path)
        except ConfigError as e:
            raise ConfigError(f"--model_name: {e}") from None
        return cls((model,), source="flags")

    @classmethod
    def from_text(cls, text, source_name="<string>"):
        """Parse and validate a text-format ModelServerConfig."""
        ctx = _Ctx(source_name)
        root = ctx.parse(text, "ModelServerConfig")
        models, first = [], {}
        config_list = root.one("model_config_list")
        for node in config_list.all("config") if config_list else ():
            model = _model_from_node(node, ctx)
            if model.name in first:
                raise ctx.error(node.where("name"), f"name: model name {model.name!r} is "
                                f"used more than once (first at line {first[model.name]})",
                                "name")
            first[model.name] = node.where("name").line
            models.append(model)
        return cls(tuple(models), source=source_name)


def _model_from_node(node, ctx):
    for required in ("name", "base_path"):
        if required not in node.fields:
            raise ctx.error(node, f"{required}: is required in every model config", required)
    policy = VersionPolicy()
    policy_node = node.one("model_version_policy")
    if policy_node is not None:
        kinds = list(policy_node.fields)
        if len(kinds) != 1:
            at = policy_node.where(kinds[1]) if kinds else policy_node
            raise ctx.error(at, "model_version_policy: give exactly one of latest, all, "
                                f"specific (found {', '.join(kinds) or 'none'})",
                            "model_version_policy")
        kind, chosen = kinds[0], policy_node.one(kinds[0])
        policy = VersionPolicy(kind, {"latest": chosen.one("num_versions", 0), "all": None,
                                      "specific": tuple(chosen.all("versions"))}[kind])
    labels, label_lines = {}, {}
    for entry in node.all("version_labels"):
        key, value = entry.one("key", ""), entry.one("value", 0)
        if key in labels:
            raise ctx.error(entry.where("key"), f"version_labels: label {key!r} is given "
                            f"twice (first at line {label_lines[key]}); a label maps to one "
                            "version", "version_labels")
        labels[key], label_lines[key] = value, entry.where("key").line
    return ctx.build(node, ModelConfig, name=node.one("name"), base_path=node.one("base_path"),
                     model_platform=node.one("model_platform", ""), version_policy=policy,
                     version_labels=labels)


# -- BatchingParameters -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BatchingParameters(_TextConfig):
    """`--batching_parameters_file`: batch budget, queue bound, threads and padding sizes.

    Defaults are TF Serving's; `padded_size` pads to powers of two when no allowed sizes are
    listed, because under XLA every distinct batch size is a separate compile.
    """

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 1)
    thread_pool_name: str = "batch_threads"
    allowed_batch_sizes: tuple = ()
    pad_variable_length_inputs: bool = False
    enable_large_batch_splitting: bool = False
    max_execution_batch_size: int | None = None  # None: max_batch_size

    def __post_init__(self):
        object.__setattr__(self, "allowed_batch_sizes", tuple(self.allowed_batch_sizes))
        for name, least in (("max_batch_size", 1), ("max_enqueued_batches", 1),
                            ("num_batch_threads", 1), ("batch_timeout_micros", 0)):
            if getattr(self, name) < least:
                raise _invalid(name, f"must be at least {least}, got {getattr(self, name)}")
        if not self.thread_pool_name:
            raise _invalid("thread_pool_name", "must not be empty")
        execution = self.max_execution_batch_size
        if execution is not None and not 1 <= execution <= self.max_batch_size:
            raise _invalid("max_execution_batch_size", f"must be in 1..max_batch_size "
                           f"({self.max_batch_size}), got {execution}")
        sizes, limit = self.allowed_batch_sizes, self.execution_batch_size
        if sizes:
            if sizes[0] < 1:
                raise _invalid("allowed_batch_sizes", f"sizes must be positive, got {sizes[0]}")
            for i in range(1, len(sizes)):
                if sizes[i] <= sizes[i - 1]:
                    raise _invalid("allowed_batch_sizes", "must be strictly increasing "
                                   f"({sizes[i - 1]} then {sizes[i]})", i)
            if sizes[-1] != limit:
                which = ("max_batch_size" if limit == self.max_batch_size
                         else "max_execution_batch_size")
                raise _invalid("allowed_batch_sizes", f"the last entry ({sizes[-1]}) must "
                               f"equal {which} ({limit})", len(sizes) - 1)

    @property
    def execution_batch_size(self):
        """The largest batch one run may take (smaller than max_batch_size only when split)."""
        if self.enable_large_batch_splitting and self.max_execution_batch_size is not None:
            return self.max_execution_batch_size
        return self.max_batch_size

    def padded_size(self, n):
        """The batch size `n` rows are padded to: the next allowed size, or else the next
        power of two capped at the execution batch size (one compile per size)."""
        limit = self.execution_batch_size
        if not 1 <= n <= limit:
            raise ValueError(f"batch of {n} rows is outside 1..{limit}")
        if self.allowed_batch_sizes:
            return self.allowed_batch_sizes[bisect.bisect_left(self.allowed_batch_sizes, n)]
        return padding.padded_size(n, limit)

    @classmethod
    def from_text(cls, text, source_name="<string>"):
        """Parse and validate a text-format BatchingParameters."""
        ctx = _Ctx(source_name)
        node = ctx.parse(text, "BatchingParameters")
        d = cls()
        kwargs = {name: node.wrapped(name, getattr(d, name)) for name in (
            "max_batch_size", "batch_timeout_micros", "max_enqueued_batches",
            "num_batch_threads", "thread_pool_name", "enable_large_batch_splitting",
            "max_execution_batch_size")}
        kwargs["allowed_batch_sizes"] = tuple(node.all("allowed_batch_sizes"))
        kwargs["pad_variable_length_inputs"] = node.one("pad_variable_length_inputs", False)
        return ctx.build(node, cls, **kwargs)


# -- MonitoringConfig ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MonitoringConfig(_TextConfig):
    """`--monitoring_config_file`: whether and where Prometheus metrics are served."""

    enable: bool = False
    path: str = DEFAULT_METRICS_PATH

    def __post_init__(self):
        path = self.path or DEFAULT_METRICS_PATH  # TF serves the default for an empty path
        object.__setattr__(self, "path", path)
        if not path.startswith("/") or any(c.isspace() or c in "?#" for c in path):
            raise _invalid("path", f"{path!r} must start with '/' and contain no "
                                   "whitespace, '?' or '#'")
        # Paths under the API prefixes would be shadowed by (or shadow) the REST routes.
        if path.lower().rstrip("/") in ("/v1", "/v2") or path.lower().startswith(
                ("/v1/", "/v2/")):
            raise _invalid("path", f"{path!r} collides with the /v1 or /v2 REST API")

    @classmethod
    def from_text(cls, text, source_name="<string>"):
        """Parse and validate a text-format MonitoringConfig."""
        ctx = _Ctx(source_name)
        prometheus = ctx.parse(text, "MonitoringConfig").one("prometheus_config")
        if prometheus is None:
            return cls()
        return ctx.build(prometheus, cls, enable=prometheus.one("enable", False),
                         path=prometheus.one("path", ""))
