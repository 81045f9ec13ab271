"""ConcreteFunction: one traced signature of an xf.function, with its jaxpr and StableHLO."""

from __future__ import annotations

import functools
import inspect

import jax

from xlaflow._runtime_checks import Checked


class ConcreteFunction:
    """The program xf.function built for one argument signature.

    `.jaxpr` is the traced JAX program, `.as_text()` its StableHLO, `.variables` the
    Variables it reads as inputs; calling it runs the owning xf.function.
    """

    def __init__(self, function, entry, traced, given=((), {})):
        self._function = function
        self._entry = entry
        self._traced = traced
        self._given = given  # the (args, kwargs) it was asked for: specs, arrays, values

    @property
    def structured_input_signature(self):
        """TF's `(args, kwargs)` of this trace: a TensorSpec for each tensor argument."""
        from xlaflow.tensors import TensorSpec

        def spec(x):
            if isinstance(x, TensorSpec) or not hasattr(x, "shape") or not hasattr(x, "dtype"):
                return x
            return TensorSpec([d if isinstance(d, int) else None for d in x.shape], x.dtype)

        return jax.tree_util.tree_map(spec, self._given,
                                      is_leaf=lambda x: isinstance(x, TensorSpec))

    @property
    def structured_outputs(self):
        """TF's output structure of this trace: a TensorSpec for each output (None for a
        size a None in the input signature leaves open)."""
        from xlaflow.tensors import TensorSpec

        outputs = self._traced.out_info
        if self._entry.direct is None:  # a program that lifts Variables: (new values, out)
            outputs = outputs[1]
        if type(outputs) is Checked:  # the top-level checks' verdicts are not the user's
            outputs = outputs.out
        return jax.tree_util.tree_map(
            lambda s: TensorSpec([d if isinstance(d, int) else None for d in s.shape],
                                 s.dtype), outputs)

    def as_signature(self):
        """The xf.function to export for this trace (`saved_model.save(signatures=cf)`, as
        in TF): the owner if it has an input_signature, else one made from the specs."""
        if self._function._input_signature is not None:
            return self._function
        args, kwargs = self.structured_input_signature
        from xlaflow.tensors import TensorSpec
        if kwargs or not all(isinstance(a, TensorSpec) for a in args):
            raise TypeError(
                f"{self._function.__name__}: a signature to export takes tensors only, "
                "positionally; this concrete function was traced for "
                f"{self.structured_input_signature}")
        from xlaflow.function import Function
        return Function(self._function.python_function,
                        **{**self._function._options, "input_signature": list(args)})

    @property
    def jaxpr(self):
        """The closed jaxpr: inputs are (variable values, traced arguments)."""
        return self._traced.jaxpr

    @property
    def graph(self):
        """TF's tf.Graph of this trace, which xlaflow does not build: raises, naming
        `.jaxpr` and `.as_text()`, the forms this program has."""
        raise _NoGraphError(self._no_graph("graph"))

    def as_graph_def(self):
        """TF's GraphDef of this trace, which xlaflow does not build: raises, as `.graph`."""
        raise _NoGraphError(self._no_graph("as_graph_def()"))

    def _no_graph(self, what):
        return (f"{self._function.__name__}: ConcreteFunction.{what} is not provided: xlaflow "
                "traces to a JAX program, not a TF Graph. Use `.jaxpr` (the traced program; "
                "`.jaxpr.eqns` lists its operations) or `.as_text()` (its StableHLO; "
                "`.as_text('hlo')` for XLA's HLO)")

    @functools.cached_property
    def lowered(self):
        """The `jax.stages.Lowered` program."""
        return self._traced.lower()

    def as_text(self, dialect="stablehlo"):
        """The program as text: 'stablehlo' (default) or 'hlo'."""
        return self.lowered.as_text(dialect=dialect)

    def compile(self):
        """The XLA executable (`jax.stages.Compiled`), e.g. for `.cost_analysis()`."""
        symbolic = [a.shape for a in self.jaxpr.in_avals
                    if not all(isinstance(d, int) for d in a.shape)]
        if symbolic:
            raise ValueError(
                f"{self._function.__name__}: this concrete function has symbolic sizes "
                f"({', '.join(map(str, symbolic))}, from None in its TensorSpecs) and XLA "
                "compiles fixed sizes: get one with sized TensorSpecs or arrays, or export "
                "it with xf.saved_model.save")
        return self.lowered.compile()

    @property
    def variables(self):
        """The Variables this program reads or assigns (its lifted inputs), in input order.

        Variables that were only guessed reachable but never touched are pruned from the
        compiled computation (jax.jit drops unused inputs) and are not listed.
        """
        return tuple(self._entry.touched or ())

    @property
    def assigned_variables(self):
        """The Variables this program writes back after each call."""
        return tuple(self._entry.assigned or ())

    @property
    def python_function(self):
        return self._function.python_function

    def __call__(self, *args, **kwargs):
        self._check_call(args, kwargs)
        return self._function(*args, **kwargs)

    def _check_call(self, args, kwargs):
        """TF refuses a call that does not fit the concrete function's specs (rather than
        tracing another program): each argument, bound to its parameter as Python binds
        it, must fit its TensorSpec (shape and dtype) or equal the Python value traced."""
        spec_args, spec_kwargs = self.structured_input_signature
        try:
            signature = inspect.signature(self._function.python_function)
            traced = signature.bind_partial(*spec_args, **spec_kwargs).arguments
            given = signature.bind_partial(*args, **kwargs).arguments
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{self}: expected arguments {self.structured_input_signature}; "
                            f"received {len(args)} positional and keywords {sorted(kwargs)} "
                            f"({exc})") from None
        for name in dict.fromkeys([*traced, *given]):
            default = signature.parameters[name].default
            want, have = traced.get(name, default), given.get(name, default)
            if want is inspect.Parameter.empty or have is inspect.Parameter.empty:
                raise TypeError(f"{self}: argument {name!r} was traced as {want!r}; "
                                f"received {have!r}")
            self._check_argument(name, want, have)

    def _check_argument(self, name, want, have):
        from xlaflow.tensors import TensorSpec
        specs = jax.tree_util.tree_leaves(want, is_leaf=lambda x: isinstance(x, TensorSpec))
        values = jax.tree_util.tree_leaves(have)
        if len(specs) != len(values):
            raise TypeError(f"{self}: expected argument {name!r} structured as {want}; "
                            f"received {have!r}")
        for spec, value in zip(specs, values):
            if not isinstance(spec, TensorSpec):
                if not _same(spec, value):
                    raise TypeError(
                        f"{self}: argument {name!r} was traced with the Python value "
                        f"{spec!r}; received {value!r}. Python values are compiled into "
                        "the program: call the xf.function itself to trace another")
                continue
            shape = jax.numpy.shape(value)
            dtype = jax.dtypes.canonicalize_dtype(jax.numpy.result_type(value))
            if not spec.shape_compatible(shape) or \
                    dtype != jax.dtypes.canonicalize_dtype(spec.dtype):
                raise TypeError(
                    f"{self}: argument {name!r} expected {spec}; received shape "
                    f"{tuple(shape)} dtype {dtype.name}. A concrete function runs the "
                    "signature it was traced for; call the xf.function itself to trace "
                    "another")

    def __repr__(self):
        return (f"<ConcreteFunction {self._function.__name__} "
                f"variables={[v.name for v in self.variables]}>")


class _NoGraphError(NotImplementedError, AttributeError):
    """Raised for TF's graph views: a NotImplementedError that reads as a missing attribute
    to hasattr() and getattr(..., default), so duck-typing code finds no graph."""


def _same(traced, given):
    """Whether a Python argument equals the value the trace used (arrays by identity)."""
    if traced is given:
        return True
    try:
        return bool(traced == given) and type(traced) is type(given)
    except Exception:  # noqa: BLE001 (arrays and other values without a truth value)
        return False
