"""xf.linalg against NumPy: TF's names, argument spellings and return orders."""

import numpy as np
import pytest

import xlaflow as xf

RNG = np.random.default_rng(11)
A = RNG.normal(size=(2, 4, 4)).astype(np.float32)
SPD = A @ np.swapaxes(A, -1, -2) + 4 * np.eye(4, dtype=np.float32)
B = RNG.normal(size=(2, 4, 3)).astype(np.float32)
V = RNG.normal(size=(2, 4)).astype(np.float32)


def test_matvec_transpose_and_eye():
    # atol: a sum of O(1) products that cancels to ~3e-3 is off by float32 rounding of its
    # terms (1.7e-7 on an H100), which is 5e-5 of the small result
    np.testing.assert_allclose(xf.linalg.matvec(A, V), np.einsum("bij,bj->bi", A, V),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(xf.linalg.matvec(A, V, transpose_a=True),
                               np.einsum("bji,bj->bi", A, V), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(xf.linalg.matrix_transpose(B), np.swapaxes(B, -1, -2))
    np.testing.assert_array_equal(xf.eye(2, 3, batch_shape=[4]),
                                  np.broadcast_to(np.eye(2, 3), (4, 2, 3)))
    np.testing.assert_allclose(xf.linalg.matmul(A, B, transpose_a=True),
                               np.swapaxes(A, -1, -2) @ B, rtol=1e-5, atol=1e-6)


def test_diagonals_trace_and_band_part():
    np.testing.assert_array_equal(xf.linalg.diag_part(A), np.diagonal(A, axis1=1, axis2=2))
    np.testing.assert_array_equal(xf.linalg.diag(V), np.stack([np.diag(v) for v in V]))
    np.testing.assert_allclose(xf.linalg.trace(A), np.trace(A, axis1=1, axis2=2), rtol=1e-6)
    m = np.arange(1, 17, dtype=np.float32).reshape(4, 4)
    np.testing.assert_array_equal(xf.linalg.band_part(m, 1, 0), np.tril(m) - np.tril(m, -2))
    np.testing.assert_array_equal(xf.linalg.band_part(m, -1, 0), np.tril(m))
    np.testing.assert_array_equal(xf.linalg.band_part(m, 0, -1), np.triu(m))
    with pytest.raises(NotImplementedError, match="k=1"):
        xf.linalg.diag(V, k=1)


def test_determinants_inverse_and_solves():
    np.testing.assert_allclose(xf.linalg.det(A), np.linalg.det(A), rtol=1e-4)
    sign, logabs = xf.linalg.slogdet(A)
    np.testing.assert_allclose(sign, np.linalg.slogdet(A)[0])
    np.testing.assert_allclose(logabs, np.linalg.slogdet(A)[1], rtol=1e-4)
    np.testing.assert_allclose(xf.linalg.logdet(SPD), np.linalg.slogdet(SPD)[1], rtol=1e-4)
    np.testing.assert_allclose(xf.linalg.inv(A), np.linalg.inv(A), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(xf.linalg.solve(A, B), np.linalg.solve(A, B), rtol=1e-3,
                               atol=1e-4)
    np.testing.assert_allclose(xf.linalg.solve(A, B, adjoint=True),
                               np.linalg.solve(np.swapaxes(A, -1, -2), B), rtol=1e-3,
                               atol=1e-4)
    chol = np.asarray(xf.linalg.cholesky(SPD))
    np.testing.assert_allclose(chol, np.linalg.cholesky(SPD), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(xf.linalg.triangular_solve(chol, B),
                               np.linalg.solve(np.tril(chol), B), rtol=1e-4, atol=1e-5)
    upper = np.swapaxes(chol, -1, -2)
    np.testing.assert_allclose(xf.linalg.triangular_solve(upper, B, lower=False),
                               np.linalg.solve(upper, B), rtol=1e-4, atol=1e-5)


def test_decompositions_in_tf_order():
    m = RNG.normal(size=(5, 3)).astype(np.float32)
    s, u, v = xf.linalg.svd(m)
    assert u.shape == (5, 3) and v.shape == (3, 3)
    np.testing.assert_allclose(s, np.linalg.svd(m, compute_uv=False), rtol=1e-5)
    np.testing.assert_allclose(u @ np.diag(s) @ np.asarray(v).T, m, atol=1e-5)
    np.testing.assert_allclose(xf.linalg.svd(m, compute_uv=False), s, rtol=1e-6)
    e, vecs = xf.linalg.eigh(SPD[0])
    np.testing.assert_allclose(e, np.linalg.eigvalsh(SPD[0]), rtol=1e-4)
    np.testing.assert_allclose(SPD[0] @ vecs, vecs * e, rtol=1e-3, atol=1e-3)
    q, r = xf.linalg.qr(m)
    assert q.shape == (5, 3) and r.shape == (3, 3)
    np.testing.assert_allclose(q @ r, m, atol=1e-5)
    assert xf.linalg.qr(m, full_matrices=True)[0].shape == (5, 5)


def test_norms_as_tf():
    np.testing.assert_allclose(xf.norm(A), np.sqrt((A ** 2).sum()), rtol=1e-6)
    np.testing.assert_allclose(xf.norm(A, keepdims=True), np.sqrt((A ** 2).sum()).reshape(
        1, 1, 1), rtol=1e-6)
    np.testing.assert_allclose(xf.norm(V, ord=1, axis=1), np.abs(V).sum(1), rtol=1e-6)
    np.testing.assert_allclose(xf.linalg.norm(V, ord=np.inf, axis=-1), np.abs(V).max(-1))
    np.testing.assert_allclose(xf.norm(A, ord="fro", axis=[-2, -1]),
                               np.linalg.norm(A, "fro", axis=(-2, -1)), rtol=1e-6)
    np.testing.assert_allclose(xf.norm(A, ord=2, axis=(1, 2)),
                               np.linalg.norm(A, 2, axis=(1, 2)), rtol=1e-5)
    with pytest.raises(ValueError, match="ord='fro'"):
        xf.norm(V, ord="fro")
    with pytest.raises(ValueError, match="a matrix norm's `ord`"):
        xf.norm(A, ord=3, axis=(1, 2))


def test_einsum_and_tensordot():
    np.testing.assert_allclose(xf.einsum("bij,bjk->bik", A, B), A @ B, rtol=1e-5)
    np.testing.assert_allclose(xf.linalg.einsum("bij->b", A), A.sum((1, 2)), rtol=1e-5)
    np.testing.assert_allclose(xf.tensordot(A[0], B[0], axes=1), A[0] @ B[0], rtol=1e-5)


def test_linalg_inside_a_compiled_function():
    @xf.function
    def f(a, v):
        return xf.linalg.matvec(xf.linalg.inv(a), v)

    np.testing.assert_allclose(f(SPD, V), np.linalg.solve(SPD, V[..., None])[..., 0],
                               rtol=1e-4, atol=1e-5)


def test_band_part_takes_tensor_counts_inside_function():
    # TF's num_lower/num_upper are int64 tensors; a traced count hit `if num_lower >= 0`
    a = np.arange(1.0, 17.0, dtype=np.float32).reshape(4, 4)
    i, j = np.indices((4, 4))
    band = xf.function(lambda x, lo, up: xf.linalg.band_part(x, lo, up))
    for lo, up in [(1, 0), (-1, 1), (0, -1), (2, 2)]:
        keep = ((lo < 0) | (i - j <= lo)) & ((up < 0) | (j - i <= up))
        np.testing.assert_array_equal(band(a, np.int32(lo), np.int32(up)),
                                      np.where(keep, a, 0))


def test_triangular_solve_broadcasts_batch_shapes():
    # TF: "The batch shapes for the inputs only need to broadcast"; lax wants them equal
    lower = np.tril(RNG.normal(size=(3, 3))).astype(np.float32) + 3 * np.eye(3, dtype=np.float32)
    rhs = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    x = xf.linalg.triangular_solve(lower, rhs)
    assert x.shape == (2, 3, 4)
    np.testing.assert_allclose(x, np.stack([np.linalg.solve(lower, r) for r in rhs]),
                               rtol=1e-4, atol=1e-5)
    x = xf.linalg.triangular_solve(np.stack([lower, lower.T.copy()]), rhs[0], lower=True)
    np.testing.assert_allclose(x[1], np.linalg.solve(np.tril(lower.T), rhs[0]), rtol=1e-4,
                               atol=1e-5)
