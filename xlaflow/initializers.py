"""Weight initializers by Keras name and as objects: `Initializer()(shape, dtype, key)`."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow._host_arrays import host_to_device


class Initializer:
    """Callable `(shape, dtype, key) -> array`; configs round-trip through get_config.

    xlaflow's initializers are also called as TF and Keras 2 call theirs, `init(shape,
    dtype=None)`: dtype defaults to floatx and the key to the initializer's seed, else the
    next key of the global stream (keras.utils.set_random_seed), so an unseeded call draws."""

    def __call__(self, shape, dtype, key):
        raise NotImplementedError(f"{type(self).__name__} must define __call__")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        call = cls.__dict__.get("__call__")
        # only this module's classes: a user's subclass keeps the signature it wrote
        if cls.__module__ == __name__ and call is not None:
            cls.__call__ = _with_defaults(call)

    def get_config(self):
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _with_defaults(call):
    @functools.wraps(call)
    def __call__(self, shape, dtype=None, key=None):
        if dtype is None:
            from xlaflow.backend_config import floatx
            dtype = floatx()
        if key is None:
            key = default_key(self)
        return call(self, tuple(shape), jnp.dtype(dtype), key)
    return __call__


def default_key(init):
    """The key an initializer draws with when none is given (TF's call, and add_weight):
    from its own `seed`, else the next key of the global stream."""
    seed = getattr(init, "seed", None)
    if seed is not None:
        return jax.random.PRNGKey(seed)
    from xlaflow.random import next_key  # random imports initializers' users: loaded late
    return next_key()


def _sample(kind, key, shape, dtype, a, b):
    """jax.random's values for `shape`: uniform in [a, b), or `a + b * normal` ("normal",
    "truncated": cut at +-2; `a` None: no shift), drawn as the first values of a draw whose
    size is the next power of two. Building a model then compiles one program per size
    class instead of one per weight shape (ResNet50's ~50 shapes: half its build time).
    Threefry's counters are positions (jax_threefry_partitionable), so a longer draw starts
    with the shorter one; the scaling runs after, on the host in the array's dtype, as the
    eager ops round (in one program XLA may fuse it into one multiply-add). The values are
    the direct call's, bit for bit; without threefry's partitionable counters it is made."""
    n = math.prod(shape)
    if n < 2 or not _prefix_draws():
        return _scaled(_compiled(_draw, key, a, b, kind, shape, dtype), kind, a, b)
    flat = _compiled(_draw, key, a, b, kind, (1 << (n - 1).bit_length(),), dtype)
    if isinstance(flat, jax.core.Tracer):  # building inside a trace: no host copy
        return _scaled(flat[:n].reshape(shape), kind, a, b)
    # on the host: eager jnp slicing, reshaping and scaling would compile per shape again,
    # and so would jnp.asarray's copy back
    values = np.asarray(flat)[:n].reshape(shape)
    return host_to_device(_scaled(values, kind, a, b, np.asarray))


def _scaled(values, kind, a, b, constant=jnp.asarray):
    if kind == "uniform":
        return values  # (the draw took its bounds)
    values = constant(b, values.dtype) * values
    return values if a is None else constant(a, values.dtype) + values


def _compiled(fn, key, *args):
    """fn(key, *args), a jitted draw, as one compiled program. add_weight draws under
    jax.ensure_compile_time_eval (its weights stay concrete when a functional model builds
    it inside a shape trace), under which tracing `fn` evaluates each op on constants alone
    (the iotas of a QR) eagerly, one compiled program each: ~30 for an Orthogonal kernel of
    a new shape. From a concrete key the result is concrete either way, so `fn` runs
    outside any trace with that folding off; a traced key stages it as usual."""
    try:
        from jax._src import config as jax_config
        from jax._src import core as jax_core
        folding = jax_config.eager_constant_folding
    except (ImportError, AttributeError):  # pragma: no cover - a JAX without them
        return fn(key, *args)
    if isinstance(key, jax.core.Tracer) or not folding.value:
        return fn(key, *args)
    with jax_core.eval_context(), folding(False):
        return fn(key, *args)


def _prefix_draws():
    config = jax.config
    return bool(getattr(config, "jax_threefry_partitionable", False)) and \
        str(getattr(config, "jax_default_prng_impl", "threefry2x32")) == "threefry2x32"


@functools.partial(jax.jit, static_argnums=(3, 4, 5))
def _draw(key, a, b, kind, shape, dtype):
    if kind == "uniform":
        return jax.random.uniform(key, shape, dtype, a, b)
    if kind == "normal":
        return jax.random.normal(key, shape, dtype)
    return jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)


class Zeros(Initializer):
    def __call__(self, shape, dtype, key):
        return jnp.zeros(shape, dtype)


class Ones(Initializer):
    def __call__(self, shape, dtype, key):
        return jnp.ones(shape, dtype)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype, key):
        return jnp.full(shape, self.value, dtype)

    def get_config(self):
        # A NumPy/jax scalar (or array) is not JSON; its Python value fills the same way.
        return {"value": np.asarray(self.value).tolist()}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype, key):
        return _sample("normal", key, shape, dtype, self.mean, self.stddev)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype, key):
        return _sample("uniform", key, shape, dtype, self.minval, self.maxval)


class TruncatedNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype, key):
        return _sample("truncated", key, shape, dtype, self.mean, self.stddev)


def _fans(shape):
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class VarianceScaling(Initializer):
    """Keras' VarianceScaling: scale / fan, with a normal, truncated normal or uniform."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling: mode must be fan_in, fan_out or fan_avg; "
                             f"received {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError("VarianceScaling: distribution must be truncated_normal, "
                             f"untruncated_normal or uniform; received {distribution!r}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, dtype, key):
        fan_in, fan_out = _fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[
            self.mode]
        variance = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return _sample("uniform", key, shape, dtype, -limit, limit)
        if self.distribution == "untruncated_normal":
            return _sample("normal", key, shape, dtype, None, math.sqrt(variance))
        # 0.8796... is the stddev of a unit normal truncated to [-2, 2].
        return _sample("truncated", key, shape, dtype, None,
                       math.sqrt(variance) / 0.87962566103423978)


class _Preset(VarianceScaling):
    """VarianceScaling at Keras' fixed (scale, mode, distribution): only the seed varies, and
    the config holds only it, as Keras writes these classes' configs."""

    preset = (1.0, "fan_in", "truncated_normal")

    def __init__(self, seed=None):
        super().__init__(*self.preset, seed)

    def get_config(self):
        return {"seed": self.seed}


class GlorotUniform(_Preset):
    preset = (1.0, "fan_avg", "uniform")


class GlorotNormal(_Preset):
    preset = (1.0, "fan_avg", "truncated_normal")


class HeNormal(_Preset):
    preset = (2.0, "fan_in", "truncated_normal")


class HeUniform(_Preset):
    preset = (2.0, "fan_in", "uniform")


class LecunNormal(_Preset):
    preset = (1.0, "fan_in", "truncated_normal")


class LecunUniform(_Preset):
    preset = (1.0, "fan_in", "uniform")


class Orthogonal(Initializer):
    """A (scaled) orthogonal matrix from the QR decomposition of a normal one."""

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def __call__(self, shape, dtype, key):
        shape = tuple(shape)
        rows, cols = math.prod(shape[:-1]), shape[-1]
        # jax.random.normal's values for the matrix, drawn as the other initializers draw
        # (one program per size class): compiled per shape with the QR, the threefry draw
        # took ~5x the QR's compile time. (* 1.0, the draw's scaling, changes no bit.)
        normal = _sample("normal", key, (max(rows, cols), min(rows, cols)),
                         jnp.dtype(jnp.float32), None, 1.0)
        return _compiled(_orthogonal, normal, self.gain, shape, jnp.dtype(dtype))


@functools.partial(jax.jit, static_argnums=(2, 3))
def _orthogonal(normal, gain, shape, dtype):
    """One compiled program per shape (eagerly, the QR and the sign fix were ~10 programs).
    The values are the eager ops', bit for bit: the sign is +-1 and the gain one multiply,
    nothing for XLA to fuse into a rounding of its own."""
    rows, cols = math.prod(shape[:-1]), shape[-1]
    q, r = jnp.linalg.qr(normal)
    q = q * jnp.sign(jnp.diag(r))
    q = q if rows >= cols else q.T
    return (gain * q[:rows, :cols]).reshape(shape).astype(dtype)


class Identity(Initializer):
    """`gain` times the identity matrix (Keras 2's Identity; 2-D shapes only, a non-square
    one gets ones on its main diagonal), e.g. an IRNN's recurrent kernel."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype, key):
        if len(shape) != 2:
            raise ValueError(f"Identity initializer: shape must be 2-D; received {shape}")
        return (self.gain * jnp.eye(*shape)).astype(dtype)


_BY_NAME = {"zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
            "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal,
            "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform,
            "glorot_normal": GlorotNormal, "he_normal": HeNormal, "he_uniform": HeUniform,
            "lecun_normal": LecunNormal, "lecun_uniform": LecunUniform,
            "orthogonal": Orthogonal, "identity": Identity}
# Keras 2 also exports each class under its snake-case name (tf.initializers.zeros is Zeros:
# the time-series tutorial writes `kernel_initializer=tf.initializers.zeros()`)
zeros, ones, constant = Zeros, Ones, Constant
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, glorot_uniform, glorot_normal = VarianceScaling, GlorotUniform, GlorotNormal
he_normal, he_uniform, lecun_normal = HeNormal, HeUniform, LecunNormal
lecun_uniform = LecunUniform
orthogonal, identity = Orthogonal, Identity
# Configs name the class as Keras does ("GlorotUniform"); the snake-case aliases still load.
_BY_CLASS_NAME = {cls.__name__: cls for cls in _BY_NAME.values()}
# Keras 2's short aliases, with its defaults: 'uniform' is RandomUniform(-0.05, 0.05),
# 'normal' RandomNormal(0.0, 0.05) (Embedding's default is 'uniform').
_ALIASES = {"uniform": RandomUniform, "normal": RandomNormal}


def get(identifier):
    """An Initializer from a name (snake case, a class name such as 'GlorotUniform', or
    Keras 2's 'uniform'/'normal'), an Initializer or its class, a `{class_name, config}`
    dict, a callable `(shape, dtype, key)`, or None (glorot_uniform, see below)."""
    if isinstance(identifier, type):  # a class, as Keras: made with its defaults
        return identifier()
    if identifier is None:
        # Keras 2's get(None) is None, which Layer.add_weight turns into glorot_uniform
        # for a float weight: Dense(bias_initializer=None) draws a glorot_uniform bias
        # (the imbalanced-data tutorial's make_model passes None when it has no bias)
        return GlorotUniform()
    if isinstance(identifier, Initializer) or callable(identifier):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _BY_CLASS_NAME.get(identifier) or \
            _ALIASES.get(identifier)
        if cls is not None:
            return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"Unknown initializer {identifier!r}; expected one of "
                     f"{sorted(_BY_NAME) + sorted(_ALIASES)}, a class name such as "
                     "'GlorotUniform', an Initializer or a callable")


def serialize(initializer):
    """`{"class_name": <Keras class name>, "config": {...}}` for a built-in initializer."""
    cls = _BY_CLASS_NAME.get(type(initializer).__name__)
    if cls is None or type(initializer) is not cls:
        raise ValueError(f"initializer {initializer!r} is not a built-in Initializer and "
                         "cannot be serialized; pass a built-in one (or its name)")
    return {"class_name": cls.__name__, "config": initializer.get_config()}


def deserialize(config):
    """The initializer of a `serialize` dict (class_name may also be a snake-case alias)."""
    name = config.get("class_name") if isinstance(config, dict) else None
    cls = _BY_CLASS_NAME.get(name) or _BY_NAME.get(name)
    if cls is None:
        raise ValueError(f"Unknown initializer in config: {config!r}; expected class_name "
                         f"one of {sorted(_BY_CLASS_NAME)}")
    return cls.from_config(config.get("config", {}))
