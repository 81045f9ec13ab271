"""Eager xf.sparse ops run their device work as one compiled program per call. Op by op,
each slice, sort, gather and scatter of the entries was a program of its own, compiled again
for every new number of entries (a dataset's rows all differ): several per call. Each op's
result is checked against NumPy on the dense array too."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as tf
from tests.compile_log import compiled_programs

# a dense shape and an entry count (37) no other test uses: each op's program is new here
DENSE = np.zeros((7, 11), np.float32)
DENSE.flat[np.random.default_rng(5).choice(77, 37, replace=False)] = np.arange(1, 38)
OTHER = np.where(np.arange(77).reshape(7, 11) % 3 == 0, 2.0, 0.0).astype(np.float32)
ROW = np.arange(1, 12, dtype=np.float32)
# the dense operands as device arrays: converting a NumPy array compiles a program of its own
OTHER_ON_DEVICE, OTHER_T, ROW_ON_DEVICE = jnp.asarray(OTHER), jnp.asarray(OTHER.T), \
    jnp.asarray(ROW)


def _sparse(dense, reverse=False):
    where = np.argwhere(dense != 0)[::-1 if reverse else 1]
    return tf.SparseTensor(where, dense[tuple(where.T)], dense.shape)


OPS = {  # (op on the sparse operands, its NumPy result on the dense arrays)
    "to_dense": (lambda a, b: tf.sparse.to_dense(a, default_value=-1.0),
                 np.where(DENSE != 0, DENSE, -1.0)),
    "reorder": (lambda a, b: tf.sparse.reorder(a).indices, np.argwhere(DENSE != 0)),
    "transpose": (lambda a, b: tf.sparse.transpose(a).values, DENSE.T[DENSE.T != 0]),
    "concat": (lambda a, b: tf.sparse.concat(1, [a, b]).values,
               np.concatenate([DENSE, OTHER], 1)[np.concatenate([DENSE, OTHER], 1) != 0]),
    "reshape": (lambda a, b: tf.sparse.reshape(a, [11, 7]).indices,
                np.argwhere(DENSE.reshape(11, 7) != 0)),
    "expand_dims": (lambda a, b: tf.sparse.expand_dims(a, 1).indices,
                    np.argwhere(DENSE[:, None] != 0)),
    "add_dense": (lambda a, b: tf.sparse.add(a, OTHER_ON_DEVICE), DENSE + OTHER),
    "add_sparse": (lambda a, b: tf.sparse.add(a, b).values,
                   (DENSE + OTHER)[(DENSE != 0) | (OTHER != 0)]),
    "reduce_sum": (lambda a, b: tf.sparse.reduce_sum(a, 0), DENSE.sum(0)),
    "reduce_max": (lambda a, b: tf.sparse.reduce_max(a, 1), DENSE.max(1)),
    "sparse_dense_matmul": (lambda a, b: tf.sparse.sparse_dense_matmul(a, OTHER_T),
                            DENSE @ OTHER.T),
    "mul": (lambda a, b: (a * ROW_ON_DEVICE).values, (DENSE * ROW)[DENSE != 0]),
    "retain": (lambda a, b: tf.sparse.retain(a, np.asarray(a.values) > 20).values,
               DENSE[DENSE > 20]),
}


@pytest.mark.parametrize("name", OPS)
def test_an_eager_op_compiles_at_most_one_program_for_a_new_entry_count(name):
    op, want = OPS[name]
    # reorder's input has its entries in reverse order
    a, b = _sparse(DENSE, reverse=name == "reorder"), _sparse(OTHER)
    with compiled_programs() as compiled:
        got = np.asarray(op(a, b))
    np.testing.assert_array_equal(got, want)
    assert len(compiled) <= 1, f"{name} compiled {compiled}"
