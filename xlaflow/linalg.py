"""xf.linalg (TF's tf.linalg): TF's names, argument spellings and return orders over
jax.numpy.linalg and lax.linalg, so ported code keeps working unchanged.

Return orders follow TF where they differ from NumPy's: `svd` returns (s, u, v) with
`tensor == u @ diag(s) @ adjoint(v)`, `slogdet` returns (sign, log|det|).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow import _op_dispatch
from xlaflow.ops import (
    _tensor,
    matmul,  # noqa: F401  (tf.linalg.matmul is tf.matmul)
)


def _adjoint(x):
    return jnp.conj(jnp.swapaxes(x, -1, -2))


def matrix_transpose(a, name=None, conjugate=False):
    """Swap the last two axes (conjugating too when `conjugate`)."""
    a = jnp.asarray(a)
    return _adjoint(a) if conjugate else jnp.swapaxes(a, -1, -2)


adjoint = _adjoint


def matvec(a, b, transpose_a=False, adjoint_a=False, a_is_sparse=False, b_is_sparse=False,
           name=None):
    """`a @ b` for a (batch of) matrix `a` and vector `b` (TF's matvec)."""
    a = jnp.asarray(a)
    if adjoint_a:
        a = _adjoint(a)
    elif transpose_a:
        a = jnp.swapaxes(a, -1, -2)
    return jnp.matmul(a, jnp.asarray(b)[..., None])[..., 0]


def eye(num_rows, num_columns=None, batch_shape=None, dtype="float32", name=None):
    """An identity matrix (or a batch of them), as TF's eye."""
    out = jnp.eye(num_rows, num_columns, dtype=jnp.dtype(dtype))
    if batch_shape is not None:
        out = jnp.broadcast_to(out, (*tuple(batch_shape), *out.shape))
    return out


def diag(diagonal, name=None, k=0, **kwargs):
    """Square matrices with `diagonal` (last axis) on their main diagonal."""
    if k != 0 or kwargs:
        raise NotImplementedError(
            f"xf.linalg.diag: only the main diagonal (k=0, no num_rows/num_cols/padding) is "
            f"implemented, received k={k!r}, {sorted(kwargs)}; build others with "
            "jnp.diag or jnp.eye(n, k=...) * values")
    diagonal = jnp.asarray(diagonal)
    return diagonal[..., None] * jnp.eye(diagonal.shape[-1], dtype=diagonal.dtype)


def diag_part(input, name=None, k=0, **kwargs):
    """The main diagonal over the last two axes."""
    if k != 0 or kwargs:
        raise NotImplementedError(
            f"xf.linalg.diag_part: only the main diagonal (k=0) is implemented, received "
            f"k={k!r}, {sorted(kwargs)}; use jnp.diagonal(x, offset=k, axis1=-2, axis2=-1)")
    return jnp.diagonal(jnp.asarray(input), axis1=-2, axis2=-1)


def trace(x, name=None):
    """The sum of the main diagonal over the last two axes."""
    return jnp.trace(jnp.asarray(x), axis1=-2, axis2=-1)


def band_part(input, num_lower, num_upper, name=None):
    """Zero everything outside a band: `num_lower` subdiagonals and `num_upper`
    superdiagonals kept (a negative count keeps that whole triangle), as TF."""
    input = jnp.asarray(input)
    rows, cols = input.shape[-2:]
    i = jnp.arange(rows)[:, None]
    j = jnp.arange(cols)[None, :]
    # the counts may be tensors (traced inside xf.function), so the "negative keeps the
    # whole triangle" rule is a mask term, not a Python `if`
    keep = (((num_lower < 0) | ((i - j) <= num_lower))
            & ((num_upper < 0) | ((j - i) <= num_upper)))
    return jnp.where(keep, input, jnp.zeros((), input.dtype))


def det(input, name=None):
    return jnp.linalg.det(jnp.asarray(input))


def slogdet(input, name=None):
    """(sign, log of |determinant|), as TF."""
    sign, logabs = jnp.linalg.slogdet(jnp.asarray(input))
    return sign, logabs


def logdet(matrix, name=None):
    """log(det(matrix)) of Hermitian positive-definite matrices, through Cholesky."""
    chol = jnp.linalg.cholesky(jnp.asarray(matrix))
    return 2.0 * jnp.sum(jnp.log(jnp.real(jnp.diagonal(chol, axis1=-2, axis2=-1))), axis=-1)


def inv(input, adjoint=False, name=None):
    out = jnp.linalg.inv(jnp.asarray(input))
    return _adjoint(out) if adjoint else out


def cholesky(input, name=None):
    """The lower-triangular Cholesky factor."""
    return jnp.linalg.cholesky(jnp.asarray(input))


def solve(matrix, rhs, adjoint=False, name=None):
    """X with `matrix @ X == rhs` (`adjoint(matrix) @ X == rhs` when `adjoint`)."""
    matrix = jnp.asarray(matrix)
    return jnp.linalg.solve(_adjoint(matrix) if adjoint else matrix, jnp.asarray(rhs))


def triangular_solve(matrix, rhs, lower=True, adjoint=False, name=None):
    """X with `matrix @ X == rhs` for a triangular `matrix` (only its `lower` or upper
    triangle is read)."""
    matrix, rhs = jnp.asarray(matrix), jnp.asarray(rhs)
    # TF broadcasts the batch axes; lax wants them equal
    batch = jnp.broadcast_shapes(matrix.shape[:-2], rhs.shape[:-2])
    matrix = jnp.broadcast_to(matrix, (*batch, *matrix.shape[-2:]))
    rhs = jnp.broadcast_to(rhs, (*batch, *rhs.shape[-2:]))
    return jax.lax.linalg.triangular_solve(matrix, rhs, left_side=True, lower=lower,
                                           transpose_a=adjoint, conjugate_a=adjoint)


def svd(tensor, full_matrices=False, compute_uv=True, name=None):
    """TF's order: (s, u, v) with `tensor == u @ diag(s) @ adjoint(v)`; only s when not
    `compute_uv`."""
    tensor = jnp.asarray(tensor)
    if not compute_uv:
        return jnp.linalg.svd(tensor, compute_uv=False)
    u, s, vh = jnp.linalg.svd(tensor, full_matrices=full_matrices)
    return s, u, _adjoint(vh)


def eigh(tensor, name=None):
    """(eigenvalues ascending, eigenvectors as columns) of Hermitian matrices."""
    e, v = jnp.linalg.eigh(jnp.asarray(tensor))
    return e, v


def eigvalsh(tensor, name=None):
    return jnp.linalg.eigvalsh(jnp.asarray(tensor))


def qr(input, full_matrices=False, name=None):
    """(q, r) with `input == q @ r` (reduced unless `full_matrices`)."""
    q, r = jnp.linalg.qr(jnp.asarray(input), mode="complete" if full_matrices else "reduced")
    return q, r


def norm(tensor, ord="euclidean", axis=None, keepdims=None, name=None):
    """TF's norm: over all entries when `axis` is None (the 2-norm of them, whatever the
    array's rank, for 'euclidean'), a vector norm over one axis, a matrix norm over a pair
    ('fro'/'euclidean', 1, 2, inf)."""
    tensor = jnp.asarray(tensor)
    keepdims = bool(keepdims)
    pair = isinstance(axis, (tuple, list)) and len(axis) == 2
    if isinstance(axis, (tuple, list)) and not pair:
        raise ValueError(f"norm: `axis` must be None, an int or a pair of ints, received "
                         f"axis={axis!r}")
    if not pair:
        if ord == "euclidean":
            ord = 2
        if isinstance(ord, str) or not (ord > 0):  # 'fro' is a matrix norm, as in TF
            raise ValueError(f"norm: `ord` must be 'euclidean', a positive number or inf "
                             f"for a vector norm (axis None or an int), received "
                             f"ord={ord!r} with axis={axis!r}")
        flat = axis is None
        x = tensor.reshape(-1) if flat else tensor
        out = jnp.linalg.vector_norm(x, ord=ord, axis=None if flat else axis,
                                     keepdims=keepdims and not flat)
        return out.reshape((1,) * tensor.ndim) if flat and keepdims else out
    if ord not in ("euclidean", "fro", 1, 2, jnp.inf):
        raise ValueError(f"norm: a matrix norm's `ord` must be 'fro', 'euclidean', 1, 2 or "
                         f"inf, received ord={ord!r}")
    return jnp.linalg.norm(tensor, ord="fro" if ord == "euclidean" else ord,
                           axis=tuple(axis), keepdims=keepdims)


def einsum(equation, *inputs, name=None, **kwargs):
    """Einstein summation (TF and NumPy share the equation syntax)."""
    return jnp.einsum(equation, *(_tensor(x) for x in inputs), **kwargs)


def tensordot(a, b, axes, name=None):
    return jnp.tensordot(_tensor(a), _tensor(b), axes)

# Last, once every function exists: the public ones accept symbolic Keras tensors
_op_dispatch.expose(globals(), "linalg")
