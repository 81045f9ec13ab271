"""xlaflow: the TensorFlow 2 / Keras programming model, compiled by XLA through JAX.

This file is the whole public surface: re-exports only, no logic.
"""

from jax import Array as Tensor  # noqa: F401  (tensors are jax.Arrays; no wrapper class)
from jax.numpy import (  # TF and jnp agree on these names: the jnp functions themselves
    abs as abs,
    add as add,
    divide as divide,
    equal as equal,
    exp as exp,
    floor as floor,
    greater as greater,
    greater_equal as greater_equal,
    less as less,
    less_equal as less_equal,
    log as log,
    logical_and as logical_and,
    logical_not as logical_not,
    logical_or as logical_or,
    maximum as maximum,
    minimum as minimum,
    multiply as multiply,
    newaxis as newaxis,
    not_equal as not_equal,
    round as round,
    sign as sign,
    sin as sin,
    cos as cos,
    sqrt as sqrt,
    square as square,
    subtract as subtract,
    tanh as tanh,
    zeros_like as zeros_like,
    ones_like as ones_like,
)

from xlaflow.array_ops import (
    argsort as argsort,
    boolean_mask as boolean_mask,
    gather as gather,
    gather_nd as gather_nd,
    linspace as linspace,
    meshgrid as meshgrid,
    pad as pad,
    repeat as repeat,
    reverse as reverse,
    roll as roll,
    scatter_nd as scatter_nd,
    sequence_mask as sequence_mask,
    sort as sort,
    split as split,
    tensor_scatter_nd_add as tensor_scatter_nd_add,
    tensor_scatter_nd_max as tensor_scatter_nd_max,
    where as where,
    tensor_scatter_nd_min as tensor_scatter_nd_min,
    tensor_scatter_nd_sub as tensor_scatter_nd_sub,
    tensor_scatter_nd_update as tensor_scatter_nd_update,
    tile as tile,
    unstack as unstack,
)
from xlaflow.slice_ops import broadcast_to as broadcast_to
from xlaflow.slice_ops import slice as slice
from xlaflow.slice_ops import strided_slice as strided_slice
from xlaflow.sparse_tensor import SparseTensor as SparseTensor
from xlaflow.sparse_tensor import SparseTensorSpec as SparseTensorSpec
from xlaflow import autograph as autograph
from xlaflow.case_ops import case as case
from xlaflow.case_ops import switch_case as switch_case
from xlaflow.control_flow import cond as cond
from xlaflow.counting_ops import searchsorted as searchsorted
from xlaflow.counting_ops import unique as unique
from xlaflow.counting_ops import unique_with_counts as unique_with_counts
from xlaflow.control_flow import map_fn as map_fn
from xlaflow.control_flow import vectorized_map as vectorized_map
from xlaflow.control_flow import while_loop as while_loop
from xlaflow import config as config
from xlaflow import nest as nest
from xlaflow import nn as nn
from xlaflow.function import Function as Function
from xlaflow._retracing import RelaxedShapeWarning as RelaxedShapeWarning
from xlaflow._retracing import RetracingWarning as RetracingWarning
from xlaflow.function import function as function
from xlaflow.custom_gradients import custom_gradient as custom_gradient
from xlaflow.gradient_flow import UnconnectedGradients as UnconnectedGradients
from xlaflow.gradient_flow import stop_gradient as stop_gradient
from xlaflow.gradient_tape import GradientTape as GradientTape
# TF 2's tf.*_initializer names are Keras' initializer classes (same defaults and calls)
from xlaflow.initializers import (  # noqa: F401
    Constant as constant_initializer,
    Ones as ones_initializer,
    RandomNormal as random_normal_initializer,
    RandomUniform as random_uniform_initializer,
    Zeros as zeros_initializer,
)
from xlaflow.linalg import einsum as einsum
from xlaflow.linalg import eye as eye
from xlaflow.linalg import norm as norm
from xlaflow.linalg import tensordot as tensordot
from xlaflow.math import add_n as add_n
from xlaflow.math import (  # TF 2.12 has these at the top level too (not ceil, cumprod,
    acos as acos,  # floordiv, floormod: those are tf.math's only)
    acosh as acosh,
    asin as asin,
    asinh as asinh,
    atan as atan,
    atan2 as atan2,
    atanh as atanh,
    cosh as cosh,
    cumsum as cumsum,
    negative as negative,
    reduce_logsumexp as reduce_logsumexp,
    sinh as sinh,
    tan as tan,
    truediv as truediv,
)
from xlaflow.math_extra import complex as complex  # tf.complex (and tf.dtypes.complex)
from xlaflow.math import pow as pow  # TF's tf.pow, the main alias of tf.math.pow
from xlaflow.nn_ops import sigmoid as sigmoid
from xlaflow.module import Module as Module
from xlaflow.name_scopes import name_scope as name_scope
from xlaflow.py_function import numpy_function as numpy_function
from xlaflow.py_function import py_function as py_function
from xlaflow.recompute import recompute_grad as recompute_grad
from xlaflow.scan_ops import scan as scan
from xlaflow.tape import grad as grad
from xlaflow.tape import value_and_grad as value_and_grad
from xlaflow.ops import (
    argmax as argmax,
    argmin as argmin,
    cast as cast,
    clip_by_global_norm as clip_by_global_norm,
    clip_by_norm as clip_by_norm,
    clip_by_value as clip_by_value,
    concat as concat,
    expand_dims as expand_dims,
    fill as fill,
    identity as identity,
    matmul as matmul,
    one_hot as one_hot,
    ones as ones,
    print as print,
    range as range,
    rank as rank,
    reduce_all as reduce_all,
    reduce_any as reduce_any,
    reduce_max as reduce_max,
    reduce_mean as reduce_mean,
    reduce_min as reduce_min,
    reduce_prod as reduce_prod,
    reduce_sum as reduce_sum,
    reshape as reshape,
    shape as shape,
    size as size,
    squeeze as squeeze,
    stack as stack,
    transpose as transpose,
    zeros as zeros,
)
from xlaflow.ragged_tensor import RaggedTensor as RaggedTensor
from xlaflow.ragged_spec import RaggedTensorSpec as RaggedTensorSpec
from xlaflow.tensors import (
    TensorSpec as TensorSpec,
    as_dtype as as_dtype,
    bfloat16 as bfloat16,
    bool as bool,
    complex64 as complex64,
    complex128 as complex128,
    constant as constant,
    convert_to_tensor as convert_to_tensor,
    double as double,
    executing_eagerly as executing_eagerly,
    float16 as float16,
    float32 as float32,
    float64 as float64,
    half as half,
    int8 as int8,
    int16 as int16,
    int32 as int32,
    int64 as int64,
    is_tensor as is_tensor,
    string as string,
    uint8 as uint8,
    uint16 as uint16,
    uint32 as uint32,
    uint64 as uint64,
)
from xlaflow.variable_policies import VariableAggregation as VariableAggregation
from xlaflow.variable_policies import VariableSynchronization as VariableSynchronization
from xlaflow.tensor_array import TensorArray as TensorArray
from xlaflow.tensor_shape import TensorShape as TensorShape
from xlaflow.tensor_shape import ensure_shape as ensure_shape
from xlaflow.variables import Variable as Variable
from xlaflow.distribute.placement import device as device

__version__ = "0.1.0.dev0"

config._init_compilation_cache()


_LAZY = ("keras", "saved_model", "train", "distribute", "data", "random", "math", "image",
         "summary", "debugging", "errors", "io", "strings", "dtypes", "sparse", "signal",
         "audio", "experimental", "ragged", "profiler")
_DEBUGGING_ALIASES = ("Assert", "assert_equal", "assert_greater", "assert_less", "assert_rank")


def __getattr__(name):
    # xf.keras pulls in optax and the layer library, xf.saved_model and xf.train orbax:
    # loaded on first use, so that `import xlaflow` stays fast for code that only uses
    # xf.function and Variables.
    if name in _LAZY:
        import importlib
        return importlib.import_module(f"xlaflow.{name}")
    if name in _DEBUGGING_ALIASES:  # TF 2 keeps these few at the top level too
        import importlib
        return getattr(importlib.import_module("xlaflow.debugging"), name)
    if name in _NOT_PROVIDED:  # still an AttributeError: hasattr(xf, "strings") stays False
        raise AttributeError(f"module 'xlaflow' has no attribute {name!r}: tf.{name} is not "
                             f"provided; {_NOT_PROVIDED[name]}")
    raise AttributeError(f"module 'xlaflow' has no attribute {name!r}")


# TF modules a port may reach for, and what to write instead
_NOT_PROVIDED = {
    "lookup": "build the vocabulary as a Python dict and map tokens to ids in Python",
    "feature_column": "preprocess features in NumPy or xf.data and use keras layers",
    "estimator": "use a keras Model with compile/fit",
    "compat": "xlaflow follows TF 2 only; port tf.compat.v1 code to TF 2 style first",
}

# Last: the public ops record a node when given symbolic Keras tensors (_op_dispatch.py)
from xlaflow import _op_dispatch

_op_dispatch.expose(globals(), "")
