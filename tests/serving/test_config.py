"""The text-format parser and the three serving config files: the spec's examples, every
validation error (named field, line), and a print/parse round-trip property."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xlaflow.serving import textproto
from xlaflow.serving.config import (
    DEFAULT_METRICS_PATH,
    BatchingParameters,
    ConfigError,
    ModelConfig,
    ModelServerConfig,
    MonitoringConfig,
    VersionPolicy,
)

# -- the spec's examples (serving-spec.md §2.1-2.3) -----------------------------------------

SPEC_MODEL_CONFIG = """\
model_config_list {
  config {
    name: 'mnist'                 # servable name used in URLs
    base_path: '/models/mnist'    # contains numeric version dirs
    model_platform: 'xlaflow'     # TF uses 'tensorflow'; informational for us
    model_version_policy { latest { num_versions: 2 } }   # or: all {} | specific { ... }
    version_labels { key: 'stable' value: 3 }
    version_labels { key: 'canary' value: 4 }
  }
  config {
    name: "resnet"
    base_path: "/models/resnet"
    model_version_policy: { specific { versions: 4 versions: 3 } }
  }
  config { name: "all" base_path: "/m/all" model_version_policy { all {} } }
  config { name: "zero" base_path: "/m/zero" model_version_policy { latest { num_versions: 0 } } }
}
"""

SPEC_BATCHING = """\
max_batch_size { value: 128 }          # default 1000
batch_timeout_micros { value: 2000 }   # default 0 (dispatch whenever a thread is free)
max_enqueued_batches { value: 100 }    # default 10; queue bound, beyond it -> 503
num_batch_threads { value: 8 }         # default = number of CPUs
thread_pool_name { value: "model_server_batch_threads" }
allowed_batch_sizes: 32                # repeated plain int64; must increase; last == max
allowed_batch_sizes: 128
pad_variable_length_inputs: true       # plain bool
enable_large_batch_splitting { value: true }     # split a request larger than the budget
max_execution_batch_size { value: 128 }          # only with splitting
"""

# TF Serving's documented monitoring config, trailing comma included.
TF_MONITORING = """\
prometheus_config {
  enable: true,
  path: "/monitoring/prometheus/metrics"
}
"""


def test_spec_model_config():
    config = ModelServerConfig.from_text(SPEC_MODEL_CONFIG, "models.config")
    assert [m.name for m in config.models] == ["mnist", "resnet", "all", "zero"]
    mnist = config.model("mnist")
    assert mnist == ModelConfig("mnist", "/models/mnist", "xlaflow", VersionPolicy("latest", 2),
                                {"stable": 3, "canary": 4})
    assert config.model("resnet").version_policy == ("specific", (3, 4))
    assert config.model("resnet").model_platform == ""
    assert config.model("all").version_policy == VersionPolicy("all", None)
    assert config.model("zero").version_policy == ("latest", 1)  # 0 counts as 1
    assert config.model("missing") is None
    kind, value = mnist.version_policy  # the tuple form the source module unpacks
    assert (kind, value) == ("latest", 2)


def test_default_policy_and_flags_config():
    config = ModelServerConfig.from_text("model_config_list { config { name: 'm' "
                                         "base_path: '/p' } }")
    assert config.models[0].version_policy == ("latest", 1)
    assert config.models[0].version_labels == {}
    flags = ModelServerConfig.from_flags(model_base_path="/models/x")
    assert flags.models == (ModelConfig("default", "/models/x"),)
    assert flags.models[0].version_policy == ("latest", 1)
    assert ModelServerConfig.from_flags("mnist", "/m").models[0].name == "mnist"
    assert ModelServerConfig.from_text("").models == ()
    assert ModelServerConfig.from_text("model_config_list {}").models == ()


def test_flags_config_errors():
    with pytest.raises(ConfigError, match="--model_base_path"):
        ModelServerConfig.from_flags("mnist", "")
    with pytest.raises(ConfigError, match="--model_name: name: .*'/'"):
        ModelServerConfig.from_flags("a/b", "/m")


def test_spec_batching_parameters():
    params = BatchingParameters.from_text(SPEC_BATCHING, "batching.config")
    assert params == BatchingParameters(
        max_batch_size=128, batch_timeout_micros=2000, max_enqueued_batches=100,
        num_batch_threads=8, thread_pool_name="model_server_batch_threads",
        allowed_batch_sizes=(32, 128), pad_variable_length_inputs=True,
        enable_large_batch_splitting=True, max_execution_batch_size=128)
    assert [params.padded_size(n) for n in (1, 31, 32, 33, 128)] == [32, 32, 32, 128, 128]


def test_batching_defaults():
    params = BatchingParameters.from_text("# nothing set\n")
    assert params == BatchingParameters()
    assert (params.max_batch_size, params.batch_timeout_micros,
            params.max_enqueued_batches) == (1000, 0, 10)
    assert params.num_batch_threads >= 1
    assert params.allowed_batch_sizes == () and params.pad_variable_length_inputs is False
    assert params.enable_large_batch_splitting is False
    assert params.execution_batch_size == 1000


def test_padded_size_powers_of_two_capped():
    params = BatchingParameters(max_batch_size=100)
    assert [params.padded_size(n) for n in (1, 2, 3, 5, 64, 65, 100)] == \
        [1, 2, 4, 8, 64, 100, 100]
    for bad in (0, 101, -1):
        with pytest.raises(ValueError):
            params.padded_size(bad)
    split = BatchingParameters(max_batch_size=256, enable_large_batch_splitting=True,
                               max_execution_batch_size=48)
    assert split.execution_batch_size == 48 and split.padded_size(40) == 48


@given(st.lists(st.integers(1, 5000), min_size=1, max_size=8, unique=True), st.data())
@settings(max_examples=60, deadline=None)
def test_padded_size_is_the_smallest_allowed_size(sizes, data):
    sizes = sorted(sizes)
    params = BatchingParameters(max_batch_size=sizes[-1], allowed_batch_sizes=sizes)
    n = data.draw(st.integers(1, sizes[-1]))
    assert params.padded_size(n) == min(s for s in sizes if s >= n)
    free = BatchingParameters(max_batch_size=sizes[-1])
    padded = free.padded_size(n)
    assert n <= padded <= sizes[-1]
    assert padded == sizes[-1] or padded & (padded - 1) == 0
    assert padded < 2 * n or padded == 1


def test_monitoring_configs():
    assert MonitoringConfig.from_text(TF_MONITORING) == MonitoringConfig(True)
    spec = 'prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }'
    assert MonitoringConfig.from_text(spec) == MonitoringConfig(True, DEFAULT_METRICS_PATH)
    assert MonitoringConfig.from_text("") == MonitoringConfig(False, DEFAULT_METRICS_PATH)
    custom = MonitoringConfig.from_text("prometheus_config { enable: t; path: '/metrics' }")
    assert custom == MonitoringConfig(True, "/metrics")
    assert MonitoringConfig.from_text("prometheus_config { path: '' }").path == \
        DEFAULT_METRICS_PATH


def test_from_file(tmp_path):
    path = tmp_path / "monitoring.config"
    path.write_text(TF_MONITORING)
    assert MonitoringConfig.from_file(path).enable is True
    (tmp_path / "models.config").write_text(SPEC_MODEL_CONFIG)
    config = ModelServerConfig.from_file(str(tmp_path / "models.config"))
    assert config.source.endswith("models.config") and len(config.models) == 4
    (tmp_path / "bad.config").write_text("max_batch_size {\n  value: 8\n")
    with pytest.raises(ConfigError, match=r"bad\.config: line 3, column 1: expected '}' to "
                       "close the message opened at line 1, column 16"):
        BatchingParameters.from_file(tmp_path / "bad.config")
    with pytest.raises(ConfigError, match="cannot read config file"):
        BatchingParameters.from_file(tmp_path / "missing.config")


# -- every validation error names its field and line ------------------------------------------

M = "model_config_list {{\n  config {{\n    name: 'm'\n    base_path: '/p'\n{}  }}\n}}\n"
# (config class, text, words the message must contain, line of the culprit)
ERRORS = [
    (ModelServerConfig, M.format("    foo: 1\n"), ["'foo'", "unknown", "ModelConfig"], 5),
    (ModelServerConfig, M.format("    logging_config {}\n"), ["'logging_config'",
                                                              "not supported"], 5),
    (ModelServerConfig, "# models\ncustom_model_config {}\n", ["'custom_model_config'"], 2),
    (ModelServerConfig, "model_config_list {}\nmodel_configs {}\n", ["'model_configs'"], 2),
    (ModelServerConfig, "model_config_list {\n  config { name: '' base_path: '/p' }\n}",
     ["name", "empty"], 2),
    (ModelServerConfig, "model_config_list {\n\n config { name: 'a/b' base_path: '/p' }}",
     ["name", "'/'"], 3),
    (ModelServerConfig, "model_config_list {\n config {\n name: 'a:b' base_path: '/p' }}",
     ["name", "':'"], 3),
    (ModelServerConfig, "model_config_list {\n config {\n name: 'a b' base_path: '/p' }}",
     ["name", "whitespace"], 3),
    (ModelServerConfig, "model_config_list {\n config {\n name: '..' base_path: '/p' }}",
     ["name", "'..'"], 3),
    (ModelServerConfig, "model_config_list {\n config { base_path: '/p' }\n}",
     ["name", "required"], 2),
    (ModelServerConfig, "model_config_list {\n config { name: 'a' }\n}",
     ["base_path", "required"], 2),
    (ModelServerConfig, "model_config_list {\n config { name: 'a' base_path: '' }\n}",
     ["base_path", "required"], 2),
    (ModelServerConfig, ("model_config_list {\n config { name: 'a' base_path: '/p' }\n"
     " config {\n  name: 'a' base_path: '/q' }\n}"), ["name", "'a'", "more than once",
                                                     "first at line 2"], 4),
    (ModelServerConfig, M.format("    model_version_policy {\n      latest {}\n      all {}"
                                 "\n    }\n"), ["model_version_policy", "exactly one"], 7),
    (ModelServerConfig, M.format("    model_version_policy {}\n"),
     ["model_version_policy", "exactly one", "none"], 5),
    (ModelServerConfig, M.format("    model_version_policy { specific {} }\n"),
     ["model_version_policy", "specific", "at least one version"], 5),
    (ModelServerConfig, M.format("    model_version_policy { latest { num_versions: -1 } }\n"),
     ["num_versions", "out of range"], 5),
    (ModelServerConfig, M.format("    model_version_policy { latest { num: 1 } }\n"),
     ["'num'", "Latest"], 5),
    (ModelServerConfig, M.format("    model_version_policy: 3\n"),
     ["model_version_policy", "expected a message"], 5),
    (ModelServerConfig, M.format("    version_labels { key: 's' value: 1 }\n"
                                 "    version_labels { key: 's' value: 2 }\n"),
     ["version_labels", "'s'", "twice", "first at line 5"], 6),
    (ModelServerConfig, M.format("    version_labels { key: '' value: 1 }\n"),
     ["version_labels", "empty"], 5),
    (ModelServerConfig, M.format("    version_labels { key: 's' value: 'one' }\n"),
     ["value", "integer"], 5),
    (ModelServerConfig, M.format("    name: 'again'\n"), ["name", "twice"], 5),
    (ModelServerConfig, "model_config_list {\n config {\n  name: mnist }}",
     ["name", "quoted string"], 3),
    (ModelServerConfig, "model_config_list {\n  config {\n    name: 'm'\n", ["expected '}'"],
     4),
    (BatchingParameters, "\nmax_batch_size: 5\n", ["max_batch_size", "{ value: 5 }"], 2),
    (BatchingParameters, "allowed_batch_sizes { value: 3 }", ["allowed_batch_sizes"], 1),
    (BatchingParameters, "# one\nmax_batch_size { value: 0 }", ["max_batch_size"], 2),
    (BatchingParameters, "\n\nbatch_timeout_micros { value: -1 }", ["batch_timeout_micros"],
     3),
    (BatchingParameters, "\nnum_batch_threads { value: 0 }", ["num_batch_threads"], 2),
    (BatchingParameters, "\nmax_enqueued_batches {}", ["max_enqueued_batches"], 2),
    (BatchingParameters, ("max_batch_size { value: 8 }\nallowed_batch_sizes: 2\n"
     "allowed_batch_sizes: 4\nallowed_batch_sizes: 4\nallowed_batch_sizes: 8"),
     ["allowed_batch_sizes", "strictly increasing"], 4),
    (BatchingParameters, ("max_batch_size { value: 8 }\nallowed_batch_sizes: 2\n"
     "allowed_batch_sizes: 4"), ["allowed_batch_sizes", "max_batch_size (8)"], 3),
    (BatchingParameters, "max_batch_size { value: 8 }\nallowed_batch_sizes: [0, 8]",
     ["allowed_batch_sizes", "positive"], 2),
    (BatchingParameters, "\nthread_pool_name { value: '' }", ["thread_pool_name"], 2),
    (BatchingParameters, ("max_batch_size { value: 8 }\n"
     "max_execution_batch_size { value: 9 }"), ["max_execution_batch_size"], 2),
    (BatchingParameters, ("max_batch_size { value: 64 }\nenable_large_batch_splitting "
     "{ value: true }\nmax_execution_batch_size { value: 16 }\nallowed_batch_sizes: 64"),
     ["allowed_batch_sizes", "max_execution_batch_size (16)"], 4),
    (BatchingParameters, "\nbatch_padding_policy: 'PAD_UP'", ["'batch_padding_policy'"], 2),
    (BatchingParameters, "pad_variable_length_inputs: 2", ["pad_variable_length_inputs"], 1),
    (BatchingParameters, "\nmax_batch_size { value: 1.5 }", ["value", "integer"], 2),
    (MonitoringConfig, "prometheus_config {\n  path: 'metrics'\n}", ["path", "'/'"], 2),
    (MonitoringConfig, "prometheus_config {\n  path: '/v1/metrics'\n}", ["path", "/v1"], 2),
    (MonitoringConfig, "prometheus_config {\n  enable: 'yes'\n}", ["enable", "true or false"],
     2),
    (MonitoringConfig, "prometheus_config {\n  enable: true\n  port: 9090\n}", ["'port'"], 3),
    (MonitoringConfig, "\nprometheus_config: true", ["prometheus_config", "message"], 2),
]


@pytest.mark.parametrize("cls,text,words,line", ERRORS,
                         ids=[f"{c.__name__}-{i}" for i, (c, *_) in enumerate(ERRORS)])
def test_validation_errors_name_field_and_line(cls, text, words, line):
    with pytest.raises(ConfigError) as info:
        cls.from_text(text, "x.config")
    message = str(info.value)
    assert message.startswith(f"x.config: line {line}, column "), message
    assert info.value.line == line
    for word in words:
        assert word in message, message


def test_programmatic_configs_are_validated_too():
    with pytest.raises(ConfigError, match="allowed_batch_sizes"):
        BatchingParameters(max_batch_size=8, allowed_batch_sizes=(4,))
    with pytest.raises(ConfigError, match="name"):
        ModelConfig("", "/p")
    with pytest.raises(ConfigError, match="more than once"):
        ModelServerConfig((ModelConfig("a", "/p"), ModelConfig("a", "/q")))
    with pytest.raises(ConfigError, match="path"):
        MonitoringConfig(True, "no-slash")


# -- the text-format parser ----------------------------------------------------------------


def test_scalars_and_syntax_forms():
    msg = textproto.parse(r"""
        i: -42 h: 0x1F o: 017 z: 0   # ints: decimal, hex, octal
        f: 1.5 g: -2e3 k: .5 s: 1.5f n: -inf p: nan
        b: true c: False e: LATEST
        q: 'it\'s' r: "a\tb\x41\101\u00e9" "joined"
        v: [1, 2, 3]; m [{x: 1}, <x: 2>], w: {} y < >
    """)
    d = msg.to_dict()
    assert d["i"] == [-42] and d["h"] == [31] and d["o"] == [15] and d["z"] == [0]
    assert d["f"] == [1.5] and d["g"] == [-2000.0] and d["k"] == [0.5] and d["s"] == [1.5]
    assert d["n"] == [-math.inf] and math.isnan(d["p"][0])
    assert d["b"] == [True] and d["c"] == [False]
    assert d["e"] == ["LATEST"] and isinstance(d["e"][0], textproto.Identifier)
    assert d["q"] == ["it's"] and d["r"] == ["a\tbAAéjoined"]
    assert d["v"] == [1, 2, 3] and d["m"] == [{"x": [1]}, {"x": [2]}]
    assert d["w"] == [{}] and d["y"] == [{}]
    assert [(f.name, f.line) for f in msg.get("b")] == [("b", 4)]


@pytest.mark.parametrize("text,line,column,words", [
    ("a {\n  b: 1\n", 3, 1, "expected '}' to close the message opened at line 1, column 3"),
    ("a: 1\nb: \n", 3, 1, "expected a value"),
    ("a: 1.2.3", 1, 4, "malformed number"),
    ("a: 12ab", 1, 4, "malformed number"),
    ("a: 09", 1, 4, "invalid octal"),
    ("\n  a b", 2, 5, "expected ':' or '{' after field name 'a'"),
    ("a: 'x\ny'", 1, 4, "unterminated string"),
    ("a: -true", 1, 5, "'-' must be followed by a number"),
    ("a: 'bad \\q'", 1, 9, "invalid escape"),
    ("a: '\\xff'", 1, 4, "not valid UTF-8"),
    ("[ext.field]: 1", 1, 1, "not supported"),
    ("a: 1 }", 1, 6, "expected a field name, found '}'"),
    ("a: 1,, b: 2", 1, 6, "expected a field name, found ','"),
    ("a [1, 2]", 1, 4, "a list without ':' holds messages"),
    ("a: [1 2]", 1, 7, "expected ',' or ']'"),
])
def test_parse_errors_are_positioned(text, line, column, words):
    with pytest.raises(textproto.ParseError) as info:
        textproto.parse(text, "f.txt")
    assert (info.value.line, info.value.column) == (line, column), str(info.value)
    assert str(info.value).startswith(f"f.txt: line {line}, column {column}: ")
    assert words in str(info.value)


def test_nesting_limit_is_a_parse_error():
    deep = "a { " * (textproto.MAX_DEPTH + 5) + "}" * (textproto.MAX_DEPTH + 5)
    with pytest.raises(textproto.ParseError, match="nested deeper"):
        textproto.parse(deep)
    ok = "a { " * 50 + "}" * 50
    assert textproto.parse(ok).fields[0].name == "a"


# Property: a random message printed in text format (random spacing, comments, separators,
# quoting, escapes, number spellings, list syntax) parses back to the same tree.

_RESERVED = {"true", "True", "false", "False"}
NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,7}", fullmatch=True)
IDENTS = NAMES.filter(lambda s: s not in _RESERVED and s.lower() not in ("inf", "infinity",
                                                                         "nan"))
SCALARS = st.one_of(
    st.tuples(st.just("int"), st.integers(-(2 ** 63), 2 ** 64 - 1)),
    st.tuples(st.just("float"), st.floats(allow_nan=False)),
    st.tuples(st.just("bool"), st.booleans()),
    st.tuples(st.just("str"), st.text(max_size=12)),
    st.tuples(st.just("ident"), IDENTS),
)
MESSAGES = st.recursive(
    st.lists(st.tuples(NAMES, SCALARS), max_size=4),
    lambda inner: st.lists(st.tuples(NAMES, st.one_of(SCALARS, st.tuples(st.just("msg"),
                                                                          inner))),
                           max_size=4),
    max_leaves=25)


class Printer:
    """An independent text-format writer that makes every allowed stylistic choice at
    random, driven by hypothesis's `random`."""

    def __init__(self, rnd):
        self.rnd = rnd

    def space(self, required=False):
        choices = [" ", "\n", "\t ", "  # a comment { ' \"\n", "\n\n  "]
        return self.rnd.choice(choices if required else choices + ["", "", ""])

    def string(self, text):
        quote = self.rnd.choice("'\"")
        pieces = []  # one spelling per character, so literals split between characters
        for ch in text:
            pick, code = self.rnd.random(), ord(ch)
            if ch in (quote, "\\"):
                pieces.append("\\" + ch)
            elif ch == "\n":
                pieces.append(self.rnd.choice(["\\n", "\\012", "\\x0a"]))
            elif code < 0x20 or code == 0x7F:
                pieces.append(f"\\{code:03o}")
            elif code > 0x7F and pick < 0.5:
                pieces.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
            elif code > 0x7F and pick < 0.7:  # the UTF-8 bytes, one \x escape each
                pieces.append("".join(f"\\x{b:02x}" for b in ch.encode()))
            elif code <= 0x7F and pick < 0.2:
                pieces.append(f"\\x{code:02x}" if pick < 0.1 else f"\\{code:03o}")
            else:
                pieces.append(ch)
        cut = self.rnd.randint(0, len(pieces)) if self.rnd.random() < 0.3 else None
        if cut is None:
            return f"{quote}{''.join(pieces)}{quote}"
        # adjacent literals concatenate ("ab" == "a" 'b'), comments between them included
        other = self.rnd.choice("'\"")
        second = "".join("\\" + p if p == other else p for p in pieces[cut:])
        return f"{quote}{''.join(pieces[:cut])}{quote}{self.space()}{other}{second}{other}"

    def scalar(self, kind, value):
        if kind == "int":
            form = self.rnd.random()
            sign = "-" if value < 0 else ""
            if form < 0.2:
                return f"{sign}0x{abs(value):x}"
            if form < 0.35 and value:
                return f"{sign}0{abs(value):o}"
            return str(value)
        if kind == "float":
            text = repr(value)
            if "inf" not in text and self.rnd.random() < 0.3:
                text += self.rnd.choice("fF")
            return text
        if kind == "bool":
            return self.rnd.choice(["true", "True"] if value else ["false", "False"])
        if kind == "str":
            return self.string(value)
        return value

    def fields(self, fields):
        out, i = [], 0
        while i < len(fields):
            name, (kind, _value) = fields[i]
            run = 1
            while i + run < len(fields) and fields[i + run][0] == name and \
                    (fields[i + run][1][0] == "msg") == (kind == "msg"):
                run += 1
            take = run if run > 1 and self.rnd.random() < 0.5 else 1
            out.append(self.space() + self.field(name, fields[i:i + take]))
            out.append(self.rnd.choice([self.space(required=True), ",", ";", ", ", "; "]))
            i += take
        return "".join(out)

    def message(self, fields):
        opener = self.rnd.choice(["{}", "<>"])
        return opener[0] + self.fields(fields) + self.space() + opener[1]

    def value(self, kind, value):
        return self.message(value) if kind == "msg" else self.scalar(kind, value)

    def field(self, name, group):
        kind = group[0][1][0]
        if len(group) > 1:  # list syntax: one entry per element
            values = [self.value(k, v) for _, (k, v) in group]
            colon = ":" if kind != "msg" or self.rnd.random() < 0.5 else ""
            sep = "," + self.space()
            return f"{name}{self.space()}{colon}{self.space()}[{sep.join(values)}]"
        value = self.value(kind, group[0][1][1])
        colon = ":" if kind != "msg" or self.rnd.random() < 0.5 else ""
        return f"{name}{self.space()}{colon}{self.space()}{value}"


def canonical(fields):
    """The expected tree: (name, (kind, value)) pairs, with messages converted too."""
    return [(name, (kind, canonical(value) if kind == "msg" else value))
            for name, (kind, value) in fields]


def as_tree(msg):
    out = []
    for f in msg:
        value = f.value
        if isinstance(value, textproto.Message):
            out.append((f.name, ("msg", as_tree(value))))
        elif isinstance(value, bool):
            out.append((f.name, ("bool", value)))
        elif isinstance(value, int):
            out.append((f.name, ("int", value)))
        elif isinstance(value, float):
            out.append((f.name, ("float", value)))
        elif isinstance(value, textproto.Identifier):
            out.append((f.name, ("ident", str(value))))
        else:
            out.append((f.name, ("str", value)))
    return out


@given(MESSAGES, st.randoms(use_true_random=False))
@settings(max_examples=150, deadline=None)
def test_print_parse_round_trip(fields, rnd):
    text = Printer(rnd).fields(fields)
    assert as_tree(textproto.parse(text)) == canonical(fields), text


@given(st.text(alphabet=st.sampled_from(list("ab:{}<>[],;'\"\\#-.0x19e \n")), max_size=40))
@settings(max_examples=200, deadline=None)
def test_garbage_gives_parse_error_or_tree(text):
    try:
        textproto.parse(text)
    except textproto.ParseError as e:
        assert e.line >= 1 and e.column >= 1
