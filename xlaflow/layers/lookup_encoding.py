"""What Keras 2's lookup layers share (its index_lookup.py): the order in which adapt()
ranks a vocabulary, the tf-idf weights, and the one-hot/multi-hot/count/tf-idf encodings.

IntegerLookup encodes inside the program (jax.numpy); StringLookup and TextVectorization
encode on the host (NumPy): the same function serves both through its `xp` argument.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

ENCODED_MODES = ("one_hot", "multi_hot", "count", "tf_idf")


def rank_vocabulary(tokens, counts, limit=None):
    """`tokens` by count, the most frequent first, ties by the larger token (Keras 2 sorts
    with `np.lexsort((tokens, counts))[::-1]`, so its vocabularies are deterministic); at
    most `limit` of them (None: all)."""
    tokens, counts = np.asarray(tokens), np.asarray(counts)
    order = np.lexsort((tokens, counts))[::-1]
    return tokens[order if limit is None else order[:max(limit, 0)]]


def inverse_document_frequency(document_counts, num_documents):
    """Keras 2's idf weight of a token found in `document_counts` of `num_documents`
    documents: log(1 + num_documents / (1 + document_count))."""
    return np.log(1.0 + num_documents / (1.0 + np.asarray(document_counts, np.float64)))


def encode(ids, output_mode, depth, idf_weights=None, xp=jnp):
    """Looked-up `ids` as float32 vectors of length `depth` (Keras 2's
    encode_categorical_inputs): one_hot encodes each id (a last axis of size 1 is replaced),
    multi_hot/count/tf_idf the ids of the last axis together (a scalar is one sample).
    An id outside [0, depth) (a dropped mask token, a padding) counts nowhere."""
    if output_mode not in ENCODED_MODES:
        raise ValueError(f"output_mode must be one of {ENCODED_MODES}; received "
                         f"{output_mode!r}")
    x = xp.asarray(ids)
    if output_mode == "one_hot" and not (x.ndim and x.shape[-1] == 1):
        x = x[..., None]
    if x.ndim == 0:
        x = x.reshape(1)
    lead = x.shape[:-1]
    # invalid ids go to an extra column that is cut off: a scatter of counts, not a
    # (..., length, depth) one-hot array, which a long text and a large vocabulary make huge
    x = xp.where((x >= 0) & (x < depth), x, depth).reshape(-1, x.shape[-1])
    rows = xp.arange(x.shape[0])[:, None]
    if xp is np:
        counts = np.zeros((x.shape[0], depth + 1), np.float32)
        np.add.at(counts, (rows, x), 1.0)
    else:
        counts = jnp.zeros((x.shape[0], depth + 1), jnp.float32).at[rows, x].add(1.0)
    counts = counts[:, :depth].reshape(*lead, depth)
    if output_mode in ("one_hot", "multi_hot"):
        return xp.minimum(counts, 1.0)
    if output_mode == "tf_idf":
        return counts * xp.asarray(idf_weights, xp.float32)
    return counts
