"""TF Serving's config messages as schema-checked nodes: each value coerced to its field's
type, each node keeping its line and column, so a config error names the field and where.

The schemas are transcribed from TF Serving's protos; config.py builds the typed configs.
"""

from __future__ import annotations

import os

from . import textproto

# A schema maps field name -> kind: a scalar type or a message name; "*" marks a repeated
# field. Transcribed from TF Serving's model_server_config / session_bundle_config /
# monitoring_config protos (only the parts xlaflow implements).
_SCALARS = {"string", "int64", "uint32", "bool"}
_SCHEMAS = {
    "ModelServerConfig": {"model_config_list": "ModelConfigList"},
    "ModelConfigList": {"config": "ModelConfig*"},
    "ModelConfig": {"name": "string", "base_path": "string", "model_platform": "string",
                    "model_version_policy": "ServableVersionPolicy",
                    "version_labels": "VersionLabelsEntry*"},  # map<string, int64>
    "ServableVersionPolicy": {"latest": "Latest", "all": "All", "specific": "Specific"},
    "Latest": {"num_versions": "uint32"}, "All": {}, "Specific": {"versions": "int64*"},
    "VersionLabelsEntry": {"key": "string", "value": "int64"},
    "BatchingParameters": {
        "max_batch_size": "Int64Value", "batch_timeout_micros": "Int64Value",
        "max_enqueued_batches": "Int64Value", "num_batch_threads": "Int64Value",
        "thread_pool_name": "StringValue", "allowed_batch_sizes": "int64*",
        "pad_variable_length_inputs": "bool", "enable_large_batch_splitting": "BoolValue",
        "max_execution_batch_size": "Int64Value"},
    "Int64Value": {"value": "int64"}, "StringValue": {"value": "string"},
    "BoolValue": {"value": "bool"},
    "MonitoringConfig": {"prometheus_config": "PrometheusConfig"},
    "PrometheusConfig": {"enable": "bool", "path": "string"},
}
# Fields TF Serving has and xlaflow deliberately rejects: a clearer message than "unknown".
_UNSUPPORTED = {"ModelServerConfig": {"custom_model_config"},
                "ModelConfig": {"logging_config", "model_type"}}
_WRAPPERS = {"Int64Value", "StringValue", "BoolValue"}
_INT_RANGES = {"int64": (-(1 << 63), (1 << 63) - 1), "uint32": (0, (1 << 32) - 1)}


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file, line, column and field."""

    def __init__(self, message, *, field=None, source=None, line=None, column=None, index=0):
        # `field`/`index` name the culprit (index: which repeat) until a position is known.
        self.field, self.index = field, index
        self.source, self.line, self.column = source, line, column
        where = f"line {line}, column {column}: " if line is not None else ""
        super().__init__(f"{source}: {where}{message}" if source else f"{where}{message}")


class _Node:
    """A schema-checked message: coerced values plus the positions errors point at."""

    def __init__(self, type_name, msg, ctx, at=None):
        # Errors about a nested message as a whole point at the field that holds it.
        at = msg if at is None else at
        self.type_name, self.line, self.column, self.ctx = type_name, at.line, at.column, ctx
        self.fields = {}  # name -> [(value, textproto.Field)], values coerced, nodes nested
        schema = _SCHEMAS[type_name]
        for field in msg:
            if field.name not in schema:
                why = ("is not supported by xlaflow"
                       if field.name in _UNSUPPORTED.get(type_name, ()) else "is unknown")
                raise ctx.error(field, f"field '{field.name}' in {type_name} {why}")
            kind = schema[field.name].rstrip("*")
            repeated = kind != schema[field.name]
            seen = self.fields.setdefault(field.name, [])
            if seen and not repeated:
                raise ctx.error(field, f"{field.name}: given twice in {type_name} (first at "
                                       f"line {seen[0][1].line}); it is not a repeated field")
            seen.append((self._coerce(kind, field), field))

    def _coerce(self, kind, field):
        value, name, ctx = field.value, field.name, self.ctx
        if kind not in _SCALARS:
            if not isinstance(value, textproto.Message):
                hint = (f"; write '{name} {{ value: {_show(value)} }}'"
                        if kind in _WRAPPERS else "")
                raise ctx.error(field, f"{name}: expected a message ({kind}), "
                                       f"found {_show(value)}{hint}")
            return _Node(kind, value, ctx, field)
        if isinstance(value, textproto.Message):
            raise ctx.error(field, f"{name}: expected a {kind} value, found a message "
                                   f"(write '{name}: ...')")
        if kind == "string":
            if isinstance(value, str) and not isinstance(value, textproto.Identifier):
                return value
            raise ctx.error(field, f"{name}: expected a quoted string, found {_show(value)}")
        if kind == "bool":
            # Protobuf's text format also spells booleans t/f and 1/0.
            if isinstance(value, bool):
                return value
            if isinstance(value, textproto.Identifier) and value in ("t", "f"):
                return value == "t"
            if type(value) is int and value in (0, 1):
                return value == 1
            raise ctx.error(field, f"{name}: expected true or false, found {_show(value)}")
        lo, hi = _INT_RANGES[kind]
        if type(value) is not int:
            raise ctx.error(field, f"{name}: expected an integer, found {_show(value)}")
        if not lo <= value <= hi:
            raise ctx.error(field, f"{name}: {value} is out of range for {kind}")
        return value

    def all(self, name):
        return [value for value, _ in self.fields.get(name, ())]

    def one(self, name, default=None):
        found = self.fields.get(name)
        return found[0][0] if found else default

    def wrapped(self, name, default):
        node = self.one(name)
        if node is None:
            return default
        return node.one("value", _ZERO[_SCHEMAS[node.type_name]["value"]])

    def where(self, name, index=0):
        """Occurrence `index` of field `name` if present (for error positions), else this
        message's own position."""
        found = self.fields.get(name, ())
        return found[min(index, len(found) - 1)][1] if found else self


_ZERO = {"int64": 0, "uint32": 0, "bool": False, "string": ""}


class _Ctx:
    def __init__(self, source):
        self.source = source

    def error(self, at, message, field=None):
        return ConfigError(message, field=field, source=self.source, line=at.line,
                           column=at.column)

    def parse(self, text, type_name):
        try:
            root = textproto.parse(text, self.source)
        except textproto.ParseError as e:
            err = ConfigError(str(e))  # already prefixed with source, line and column
            err.source, err.line, err.column = e.source, e.line, e.column
            raise err from None
        return _Node(type_name, root, self)

    def build(self, node, cls, **kwargs):
        """`cls(**kwargs)`, re-raising its validation error at the offending field's line."""
        try:
            return cls(**kwargs)
        except ConfigError as e:
            if e.field is None or e.line is not None:
                raise
            raise self.error(node.where(e.field, e.index), str(e), e.field) from None


def _show(value):
    if isinstance(value, textproto.Message):
        return "a message"
    if isinstance(value, textproto.Identifier):
        return f"the bare word {value}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


class _TextConfig:
    @classmethod
    def from_file(cls, path):
        """Read and validate the text-format file at `path`."""
        try:
            with open(path, encoding="utf-8-sig") as f:  # tolerate a BOM
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read config file: {e}", source=os.fspath(path)) from None
        return cls.from_text(text, os.fspath(path))


def _invalid(field, problem, index=0):
    return ConfigError(f"{field}: {problem}", field=field, index=index)
