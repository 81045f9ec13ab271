"""The saved object's tree at load: Variables again, and its xf.functions callable again.

Built from signatures.json's `objects` section (written by function_export.py): a call
picks the saved trace its arguments fit (structure, tensor shapes and dtypes, Python
values by equality, as TF), runs its jax.export program on the Variables' current values
and returns the trace's own structure. Nothing is unpickled; no Python from the directory.
"""

from __future__ import annotations

import jax

from xlaflow.module import Module
from xlaflow.saving import structures
from xlaflow.variables import Variable


class RestoredObject(Module):
    """A saved object's child (a tf.Module, a layer): its Variables, children and restored
    functions as attributes; `variables`/`trainable_variables` as a tf.Module's."""

    def __init__(self, class_name):
        super().__init__(name=class_name)
        self._class_name = class_name

    def __repr__(self):
        return f"<RestoredObject of {self._class_name}>"

    def __call__(self, *args, **kwargs):
        method = self.__dict__.get("__call__")
        if method is None:
            raise TypeError(f"the restored {self._class_name} had no xf.function __call__ "
                            "when saved")
        return method(*args, **kwargs)


class ConcreteRestored:
    """One saved trace: its argument description, program and Variables."""

    def __init__(self, description, exported, variables, assigned, owner):
        self.inputs, self.outputs = description["inputs"], description["outputs"]
        self.from_signature = bool(description["signature"])
        self.exported, self.variables, self.assigned = exported, variables, assigned
        self.differentiable = bool(description["differentiable"])
        self._owner = owner
        call = exported.call
        if not self.differentiable:
            call = _refusing_gradient(call, owner)
        self._call = jax.jit(call)
        self._count = len(exported.out_avals) - len(assigned)
        taken = [i for spec in self.inputs.values() for i in structures.tensor_indices(spec)]
        given = structures.tensor_indices(self.outputs)
        if sorted(taken) != list(range(len(exported.in_avals) - len(variables))) or \
                sorted(given) != list(range(self._count)):
            raise IndexError(f"function {owner!r}: its description's tensors {sorted(taken)} "
                             f"-> {sorted(given)} do not fit its program's "
                             f"{len(exported.in_avals) - len(variables)} arguments and "
                             f"{self._count} results")

    def match(self, bound, convert):
        """The tensors of `bound` (parameter -> argument) in program order, or None.
        `convert`: Python numbers and lists may stand for the trace's tensors."""
        if set(bound) != set(self.inputs):
            return None
        found = {}
        for name, spec in self.inputs.items():
            if not structures.match(spec, bound[name], found, convert):
                return None
        return [found[i] for i in range(len(found))]

    def __call__(self, leaves):
        values = [v.value for v in self.variables]
        flat = self._call(values, leaves)
        outputs, new = list(flat[:self._count]), flat[self._count:]
        for variable, value in zip(self.assigned, new):
            variable.assign(value)
        return structures.decode(self.outputs, outputs)

    def text(self, name):
        arguments = ", ".join(f"{k}: {structures.describe(v)}" for k, v in self.inputs.items())
        return f"{name}({arguments})"


class RestoredFunction:
    """A saved xf.function: calls dispatch among its saved traces (TF's restored function)."""

    def __init__(self, name, parameters, defaults, concrete):
        self.__name__ = name
        self._parameters, self._defaults = list(parameters), defaults
        self.concrete_functions = concrete

    def __repr__(self):
        return f"<restored function {self.__name__} traces={len(self.concrete_functions)}>"

    def pretty_printed_concrete_signatures(self):
        return "\n".join(c.text(self.__name__) for c in self.concrete_functions)

    def __call__(self, *args, **kwargs):
        bound = self._bind(args, kwargs)
        # TF's order: every trace the arguments fit as given, then every trace they fit
        # once Python numbers and lists become tensors of the trace's dtype (a trace made
        # on tensors still serves f([1, 2]) as the original function does).
        for convert in (False, True):
            for concrete in self.concrete_functions:
                leaves = concrete.match(bound, convert)
                if leaves is not None:
                    return concrete(leaves)
        given = ", ".join(f"{k}={structures.describe_value(v)}" for k, v in bound.items())
        saved = self.pretty_printed_concrete_signatures() or \
            "(none: it was never traced before saving and has no input_signature)"
        raise ValueError(
            f"Could not find a matching concrete function to call {self.__name__!r}, loaded "
            f"from the SavedModel. Got: {self.__name__}({given}). Expected one of the "
            f"{len(self.concrete_functions)} saved signatures:\n{saved}\nA function restores "
            "only the traces it had when saved (or its input_signature's): call the original "
            "with these arguments before saving, or give it an input_signature")

    def _bind(self, args, kwargs):
        bound = structures.named_arguments(self._parameters, args, kwargs, self.__name__)
        for name, spec in self._defaults.items():
            if name not in bound:
                bound[name] = structures.decode(spec, [])
        return bound


def _refusing_gradient(call, owner):
    """`call`, whose gradient raises naming `owner`: its program was saved without one."""
    @jax.custom_vjp
    def run(values, leaves):
        return call(values, leaves)

    def forward(values, leaves):
        return call(values, leaves), None

    def backward(_, cotangents):
        raise ValueError(f"restored function {owner!r} has no gradient: jax.export could "
                         "not save its VJP (a program jax cannot differentiate, such as a "
                         "while_loop), so a GradientTape or jax.grad cannot differentiate "
                         "it; compute the gradient with the original code")

    run.defvjp(forward, backward)
    return run


def build(section, values, variable_specs, load_program):
    """(root attributes, root functions, {key: Variable}) from the `objects` section:
    `values` maps a key to its array, `load_program(file, platforms, what)` returns a jax.export
    Exported."""
    if section.get("version") != 1:
        raise ValueError(f"its objects section has version {section.get('version')!r}; this "
                         "xlaflow reads version 1: load it with a newer xlaflow")
    restored_variables = {v["key"]: Variable(values[v["key"]], trainable=v["trainable"],
                                             name=v["name"]) for v in variable_specs}
    variable = restored_variables.__getitem__

    functions = []
    for record in section["functions"]:
        concrete = []
        for c in record["concrete"]:
            exported = load_program(c["file"], c["platforms"], f"function {record['name']!r}")
            concrete.append(ConcreteRestored(c, exported, [variable(k) for k in c["variables"]],
                                             [variable(k) for k in c["assigned"]],
                                             record["name"]))
        functions.append(RestoredFunction(record["name"], record["parameters"],
                                          record["defaults"], concrete))
    nodes = section["nodes"]
    built = {}

    def node(index):
        if index in built:
            return built[index]
        spec = nodes[index]
        kind = spec["kind"]
        if kind == "variable":
            built[index] = variable(spec["variable"])
        elif kind == "function":
            built[index] = functions[spec["function"]]
        elif kind == "list":
            built[index] = items = []
            items.extend(node(i) for i in spec["items"])
        elif kind == "dict":
            built[index] = items = {}
            items.update(zip(spec["keys"], (node(i) for i in spec["items"])))
        elif kind == "object":
            built[index] = obj = RestoredObject(spec["class"])
            _fill(obj, spec, node, functions)
        else:
            raise ValueError(f"node {index} has an unknown kind {kind!r}")
        return built[index]

    root = nodes[section["root"]]
    if root["kind"] != "object":
        raise ValueError(f"its root node is a {root['kind']!r}, not an object")
    built[section["root"]] = None  # the root is the LoadedModel itself: never a child
    attributes = {name: node(i) for name, i in root["attributes"].items()}
    methods = {name: functions[i] for name, i in root["functions"].items()}
    return attributes, methods, restored_variables


def _fill(obj, spec, node, functions):
    own = set(obj.__dict__)  # Module's own state and properties stay as they are
    for name, index in spec["attributes"].items():
        if not hasattr(type(obj), name) and name not in own:
            obj.__dict__[name] = node(index)
    for name, index in spec["functions"].items():
        if name not in own:
            obj.__dict__[name] = functions[index]


def walk_variables(attributes):
    """Every restored Variable reachable from `attributes`, each once, in tf.Module's
    order (sorted attribute names, own values before children's)."""
    holder = Module()
    holder.__dict__.update({k: v for k, v in attributes.items()})
    return holder.variables

