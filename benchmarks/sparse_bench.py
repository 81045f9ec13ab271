"""xf.sparse against the hand-written JAX, in the same process: sparse @ dense (TF's
sparse_dense_matmul) and a sparse row sum, each under xf.function next to the same math
written with `.at[].add` under jax.jit, and jax.experimental.sparse's BCOO matmul."""

from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import sparse as jsparse

import xlaflow as xf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interleaved import report

ROWS, COLS, NNZ, RHS = 2048, 2048, 20000, 64


def main():
    rng = np.random.default_rng(0)
    flat = rng.choice(ROWS * COLS, NNZ, replace=False)
    indices = np.stack([flat // COLS, flat % COLS], axis=1).astype(np.int32)
    values = rng.normal(size=NNZ).astype(np.float32)
    dense = jnp.asarray(rng.normal(size=(COLS, RHS)).astype(np.float32))
    sp = xf.SparseTensor(indices, values, [ROWS, COLS])
    indices, values = jnp.asarray(indices), jnp.asarray(values)  # on the device, as sp's

    @jax.jit
    def hand_matmul(idx, vals, b):
        return jnp.zeros((ROWS, RHS), b.dtype).at[idx[:, 0]].add(vals[:, None] * b[idx[:, 1]])

    bcoo = jsparse.BCOO((values, indices), shape=(ROWS, COLS))
    want = np.asarray(hand_matmul(indices, values, dense))
    got = np.asarray(xf.function(xf.sparse.sparse_dense_matmul)(sp, dense))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    matmul = xf.function(xf.sparse.sparse_dense_matmul)
    report(f"sparse_dense_matmul [{ROWS}x{COLS}, nnz {NNZ}] @ [{COLS}x{RHS}]", {
        "hand-written .at[].add (jax.jit)": (hand_matmul, (indices, values, dense)),
        "xf.sparse in xf.function": (matmul, (sp, dense)),
        "BCOO @ dense (jax.jit)": (jax.jit(lambda m, b: m @ b), (bcoo, dense)),
    })

    @jax.jit
    def hand_rows(idx, vals):
        return jnp.zeros(ROWS, vals.dtype).at[idx[:, 0]].add(vals)

    np.testing.assert_allclose(xf.sparse.reduce_sum(sp, axis=1), hand_rows(indices, values),
                               rtol=1e-4, atol=1e-4)
    report("reduce_sum(axis=1)", {
        "hand-written .at[].add (jax.jit)": (hand_rows, (indices, values)),
        "xf.sparse.reduce_sum in xf.function": (
            xf.function(lambda s: xf.sparse.reduce_sum(s, axis=1)), (sp,)),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
